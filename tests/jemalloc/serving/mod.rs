//! Serving: the layer around an app (axum, hyper, tower-http), requests
//! measured and recorded, who may see the pages, the forms they answer in,
//! and bad or hostile input.

mod access;
mod admin_listener;
mod bad_input;
mod concurrency;
mod formats;
mod hostile_queries;
mod layer;
mod layer_per_connection;
mod leak_check;
mod remote_peer;
mod requests;
mod tower_http;
mod unmatched_paths;
