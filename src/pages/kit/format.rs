//! Choosing the form of an answer: `?format=` wins, then `Accept`, then text.

use http::HeaderMap;
use http::header::ACCEPT;

/// The three forms every page answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Html,
    Json,
    Text,
}

impl Format {
    pub(crate) const NAMES: &'static [&'static str] = &["html", "json", "text"];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "html" => Some(Self::Html),
            "json" => Some(Self::Json),
            "text" => Some(Self::Text),
            _ => None,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Json => "application/json",
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    /// The form `Accept` asks for. Each media range keeps its quality; the
    /// best of HTML and JSON wins, and text is the answer to `*/*`, to
    /// `text/plain` and to no header at all, so that curl and httpie print a
    /// readable table.
    pub(crate) fn from_accept(headers: &HeaderMap) -> Self {
        let mut best = (Self::Text, 0.0_f32);
        for value in headers.get_all(ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            for range in value.split(',') {
                let mut parts = range.split(';');
                let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let quality = parts
                    .filter_map(|param| param.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                let format = match media.as_str() {
                    "text/html" | "application/xhtml+xml" => Self::Html,
                    "application/json" => Self::Json,
                    _ => continue,
                };
                if quality > best.1 {
                    best = (format, quality);
                }
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(value: &'static str) -> Format {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(value));
        Format::from_accept(&headers)
    }

    #[test]
    fn browsers_get_html_tools_get_json_and_the_rest_text() {
        assert_eq!(
            accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Format::Html
        );
        assert_eq!(accept("application/json, */*;q=0.5"), Format::Json);
        assert_eq!(accept("*/*"), Format::Text);
        assert_eq!(accept("text/plain"), Format::Text);
        assert_eq!(accept("text/html;q=0.2, application/json"), Format::Json);
        assert_eq!(accept("application/json;q=0"), Format::Text);
        assert_eq!(Format::from_accept(&HeaderMap::new()), Format::Text);
    }
}
