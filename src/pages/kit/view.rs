//! Display helpers the templates call as `crate::pages::kit::view::size(x)`. askama
//! passes arguments by reference, hence the `&` parameters.

use crate::units::{grouped, grouped_signed, human_bytes, human_bytes_f64, human_bytes_signed};

pub(crate) fn size(bytes: &u64) -> String {
    human_bytes(*bytes)
}

/// An estimate with its half-width (three standard errors): `1.20 MiB ± 0.30`.
pub(crate) fn size_with_error(bytes: &u64, error: &f64) -> String {
    crate::units::human_bytes_with_error(*bytes as f64, *error)
}

pub(crate) fn size_or_unknown(bytes: &Option<u64>) -> String {
    bytes.map_or("unknown".to_owned(), human_bytes)
}

pub(crate) fn size_delta(bytes: &i64) -> String {
    human_bytes_signed(*bytes)
}

pub(crate) fn count(number: &u64) -> String {
    grouped(*number)
}

pub(crate) fn count_delta(number: &i64) -> String {
    grouped_signed(*number)
}

/// `0.123` → `12.3 %`.
pub(crate) fn percent(share: &f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// Bytes per request, signed; `-` where there were no requests.
pub(crate) fn per_request(value: &Option<f64>) -> String {
    match *value {
        None => "-".to_owned(),
        Some(value) if value < 0.0 => format!("-{}", human_bytes_f64(-value)),
        Some(value) => format!("+{}", human_bytes_f64(value)),
    }
}

/// A signed estimate with its half-width (`+2.00 KiB ± 0.12`); empty where
/// there is none.
pub(crate) fn signed_with_error_or_empty(estimate: Option<(f64, f64)>) -> String {
    estimate.map_or_else(String::new, |(value, error)| {
        crate::units::human_bytes_signed_with_error(value, error)
    })
}

/// The text of an optional query value, empty where there is none: what a
/// form's input shows.
pub(crate) fn or_empty(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// A response status; `-` where the app gave none (the request failed or
/// is still running).
pub(crate) fn status_text(status: &Option<u16>) -> String {
    status.map_or("-".to_owned(), |status| status.to_string())
}

/// `1234` µs → `1.234 ms`.
pub(crate) fn micros(us: &u64) -> String {
    if *us >= 1_000 {
        format!("{:.3} ms", *us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}
