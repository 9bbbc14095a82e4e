//! The route a request is filed under: axum's matched route when there is
//! one, else its path with identifiers collapsed, so that `/users/17` and
//! `/users/42` add up in one row.

/// Routes kept apart at most; later ones are added up in one row, so that
/// an app whose paths never repeat cannot grow the table without bound.
pub(crate) const MAX_ROUTES: usize = 1_000;
/// The row the routes past [`MAX_ROUTES`] share.
pub(crate) const OTHER_ROUTES: &str = "(other routes)";

/// The longest route name kept, in bytes; a longer path is cut here (at a
/// character boundary) and marked, so that paths that differ past it share
/// a row.
pub(crate) const MAX_ROUTE_NAME_BYTES: usize = 256;
/// What marks a cut name.
const CUT_MARK: &str = "…";

/// What a request's route is known by.
pub(crate) enum RouteName<'a> {
    /// axum's matched route: the same allocation for every request the
    /// route serves, which the threads' route caches use (`route_cache.rs`).
    #[cfg(feature = "axum")]
    Matched(&'a axum::extract::MatchedPath),
    /// The path with identifiers collapsed, borrowed where it needs no work.
    Path(std::borrow::Cow<'a, str>),
}

/// The name a request's route is filed under: axum's matched route, else
/// the path with identifiers collapsed.
pub(crate) fn route_name<B>(request: &http::Request<B>) -> RouteName<'_> {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return RouteName::Matched(matched);
    }
    RouteName::Path(bounded(collapse_identifiers(request.uri().path())))
}

/// `name`, cut to [`MAX_ROUTE_NAME_BYTES`] if it is longer.
fn bounded(name: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    if name.len() <= MAX_ROUTE_NAME_BYTES {
        return name;
    }
    let mut cut = MAX_ROUTE_NAME_BYTES - CUT_MARK.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{CUT_MARK}", &name[..cut]).into()
}

/// `/users/42/files/9f86d081884c7d65` → `/users/{n}/files/{hex}`, borrowed
/// when there is nothing to collapse. Runs on every request whose route
/// axum has not named, so the common case (nothing to collapse) reads the
/// path once and allocates nothing.
pub(crate) fn collapse_identifiers(path: &str) -> std::borrow::Cow<'_, str> {
    // Split as bytes: `str::split` searches for the separator with a
    // general pattern searcher, several times the cost of this loop.
    let nothing_to_collapse = path
        .as_bytes()
        .split(|byte| *byte == b'/')
        .all(|segment| placeholder(segment).is_none());
    if nothing_to_collapse {
        return path.into();
    }
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| placeholder(segment.as_bytes()).unwrap_or(segment))
        .collect();
    segments.join("/").into()
}

/// What a path segment that identifies something is shown as, if it is one.
fn placeholder(bytes: &[u8]) -> Option<&'static str> {
    if bytes.is_empty() {
        None
    } else if bytes.iter().all(u8::is_ascii_digit) {
        Some("{n}")
    } else if is_uuid(bytes) {
        Some("{uuid}")
    } else if bytes.len() >= 16 && bytes.iter().all(u8::is_ascii_hexdigit) {
        Some("{hex}")
    } else {
        None
    }
}

/// `8-4-4-4-12` hex digits separated by hyphens.
fn is_uuid(bytes: &[u8]) -> bool {
    const HYPHENS: [usize; 4] = [8, 13, 18, 23];
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| {
            if HYPHENS.contains(&index) {
                *byte == b'-'
            } else {
                byte.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_numbers_hashes_and_uuids() {
        assert_eq!(collapse_identifiers("/"), "/");
        assert_eq!(collapse_identifiers("/users/42"), "/users/{n}");
        assert_eq!(
            collapse_identifiers("/blobs/9f86d081884c7d659a2feaa0c55ad015/raw"),
            "/blobs/{hex}/raw"
        );
        assert_eq!(
            collapse_identifiers("/orders/123e4567-e89b-12d3-a456-426614174000"),
            "/orders/{uuid}"
        );
        assert_eq!(collapse_identifiers("/v2/cafe/feed"), "/v2/cafe/feed");
        // Almost a uuid: a hyphen out of place, a group one digit short.
        assert_eq!(
            collapse_identifiers("/o/123e4567e-89b-12d3-a456-426614174000"),
            "/o/123e4567e-89b-12d3-a456-426614174000"
        );
        assert_eq!(
            collapse_identifiers("/o/123e4567-e89b-12d3-a456-42661417400"),
            "/o/123e4567-e89b-12d3-a456-42661417400"
        );
        assert!(matches!(
            collapse_identifiers("/plain/path"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let long = format!("/{}", "é".repeat(400));
        let cut = bounded(long.as_str().into());
        assert!(cut.len() <= MAX_ROUTE_NAME_BYTES, "{}", cut.len());
        assert!(cut.ends_with(CUT_MARK));
        assert!(long.starts_with(cut.trim_end_matches(CUT_MARK)));
        assert!(matches!(
            bounded("/short".into()),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
