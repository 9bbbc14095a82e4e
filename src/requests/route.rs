//! The route a request is filed under: axum's matched route when there is
//! one, else its path with identifiers collapsed, so that `/users/17` and
//! `/users/42` add up in one row.

/// The name a request's route is filed under, borrowed where it needs no
/// work: axum's matched route, else the path with identifiers collapsed.
pub(crate) fn route_name<B>(request: &http::Request<B>) -> std::borrow::Cow<'_, str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return matched.as_str().into();
    }
    collapse_identifiers(request.uri().path())
}

/// `/users/42/files/9f86d081884c7d65` → `/users/{n}/files/{hex}`, borrowed
/// when there is nothing to collapse.
pub(crate) fn collapse_identifiers(path: &str) -> std::borrow::Cow<'_, str> {
    let collapsed = |segment: &str| -> Option<&'static str> {
        match segment {
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Some("{n}"),
            s if is_uuid(s) => Some("{uuid}"),
            s if s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) => Some("{hex}"),
            _ => None,
        }
    };
    if path.split('/').all(|segment| collapsed(segment).is_none()) {
        return path.into();
    }
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| collapsed(segment).unwrap_or(segment))
        .collect();
    segments.join("/").into()
}

fn is_uuid(segment: &str) -> bool {
    let groups: Vec<&str> = segment.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
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
        assert!(matches!(
            collapse_identifiers("/plain/path"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
