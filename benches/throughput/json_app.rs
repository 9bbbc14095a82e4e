//! An app that does the work of a typical JSON endpoint, beside the
//! hello-world app: a small query parsed, a catalogue of products searched
//! and sorted, and about 2 KB of JSON built and written. Where a
//! hello-world request costs a few microseconds, this one costs tens, as a
//! real endpoint's would before it waits on a database: the share of it
//! that memscope takes is what a service would see.

use std::sync::LazyLock;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use serde::{Deserialize, Serialize};

/// The request every load run and in-process batch sends.
pub const PATH: &str = "/items?category=7&min_price=2500&limit=12";

/// Products in the catalogue the endpoint searches.
const PRODUCTS: u32 = 24_000;
const CATEGORIES: u32 = 16;

struct Product {
    id: u32,
    category: u32,
    price_cents: u32,
    name: String,
    tags: Vec<&'static str>,
}

/// Built once, before the first request (see `app`).
static CATALOGUE: LazyLock<Vec<Product>> = LazyLock::new(|| {
    const TAGS: [&str; 6] = ["new", "sale", "eco", "bundle", "refurbished", "limited"];
    (0..PRODUCTS)
        .map(|id| {
            // A cheap, fixed scramble: the same catalogue every run.
            let mixed = id.wrapping_mul(2_654_435_761);
            Product {
                id,
                category: mixed % CATEGORIES,
                price_cents: 100 + (mixed >> 8) % 10_000,
                name: format!("Product {id:05} of the spring range"),
                tags: (0..(mixed >> 20) % 3)
                    .map(|tag| TAGS[((mixed >> (4 * tag)) % 6) as usize])
                    .collect(),
            }
        })
        .collect()
});

#[derive(Deserialize)]
struct ItemsQuery {
    category: u32,
    min_price: u32,
    limit: usize,
}

#[derive(Serialize)]
struct ItemsPage {
    category: u32,
    matched: usize,
    items: Vec<Item>,
}

#[derive(Serialize)]
struct Item {
    id: u32,
    name: String,
    price: String,
    tags: Vec<&'static str>,
    summary: String,
}

async fn items(Query(query): Query<ItemsQuery>) -> Json<ItemsPage> {
    let mut matches: Vec<&Product> = CATALOGUE
        .iter()
        .filter(|product| product.category == query.category)
        .filter(|product| product.price_cents >= query.min_price)
        .collect();
    matches.sort_by(|a, b| {
        b.price_cents
            .cmp(&a.price_cents)
            .then_with(|| a.name.cmp(&b.name))
    });
    let items = matches
        .iter()
        .take(query.limit)
        .map(|product| Item {
            id: product.id,
            name: product.name.clone(),
            price: format!(
                "{}.{:02}",
                product.price_cents / 100,
                product.price_cents % 100
            ),
            tags: product.tags.clone(),
            summary: format!(
                "{} in category {}, {} tag(s), ranked among {} matches",
                product.name,
                product.category,
                product.tags.len(),
                matches.len()
            ),
        })
        .collect();
    Json(ItemsPage {
        category: query.category,
        matched: matches.len(),
        items,
    })
}

/// The JSON app, its catalogue built.
pub fn app() -> Router {
    LazyLock::force(&CATALOGUE);
    Router::new().route("/items", get(items))
}
