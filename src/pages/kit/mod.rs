//! What every page shares, in one place: the kit a page is made with.
//!
//! - a page's request and answer (`request`), the mount it serves from
//!   (`mount`), who may see it (`access`), its query (`query`), its form
//!   (`format`) and its errors (`error`);
//! - one way to declare a page (`page`: the [`Page`] trait and
//!   [`html_form!`]) and to answer with it (`respond`), in the common
//!   layout with the links to every page (`links`);
//! - the views and words two pages share: aligned text tables (`text`),
//!   the memory chart (`chart`), template helpers (`view`), heap rows and
//!   notes (`heap_view`), the heap table (`heap_table`), the RSS in parts
//!   (`rss_breakdown`), growth suspects (`suspects`), the verdict's
//!   sentences (`verdict`), heap profiling's state (`profiling`) and a CPU
//!   capture's summary (`capture_summary`).
//!
//! The kit imports no page; every page imports the kit.

mod access;
pub(crate) mod capture_summary;
pub(crate) mod chart;
mod error;
mod format;
pub(crate) mod heap_table;
pub(crate) mod heap_view;
mod links;
mod mount;
mod page;
pub(crate) mod profiling;
mod query;
mod request;
mod respond;
pub(crate) mod rss_breakdown;
pub(crate) mod suspects;
pub(crate) mod text;
pub(crate) mod verdict;
pub(crate) mod view;

pub(crate) use access::check_same_origin;
pub use access::{AccessPolicy, PeerAddr, peer_addr};
pub(crate) use error::{PageError, retry_after_seconds};
pub(crate) use format::Format;
pub(crate) use links::page_links;
pub(crate) use mount::Mount;
pub(crate) use page::{HtmlForm, Layout, Page, html_form};
pub(crate) use query::{
    DEFAULT_CPU_SECONDS, HEAP_GROUPS, MAX_CPU_SECONDS, MAX_FILTER_LEN, MAX_LIMIT, Query,
    heap_table_spec, parse_id,
};
pub(crate) use request::{Answer, PageFuture, PageRequest, Pending};
pub(crate) use respond::{download, respond, respond_error, see_other, svg};
