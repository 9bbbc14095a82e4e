//! The query string of a debug page, validated parameter by parameter so
//! that a bad value is answered with a 400 that names it.

use std::ops::RangeInclusive;
use std::time::Duration;

use super::error::PageError;
use crate::model::heap::Grouping;
use crate::model::heap::table::TableSpec;
use crate::model::symbols::Frameworks;

/// The largest `limit=` accepted; more rows than this is no longer a table
/// anyone reads.
pub(crate) const MAX_LIMIT: u64 = 10_000;
/// Rows a heap table shows unless `limit=` says otherwise.
pub(crate) const DEFAULT_HEAP_LIMIT: u64 = 100;
/// The longest `filter=` accepted.
pub(crate) const MAX_FILTER_LEN: usize = 200;
/// The longest `route=` accepted: past any route name memscope keeps.
pub(crate) const MAX_ROUTE_LEN: usize = 1024;
/// The `group=` values of the heap tables.
pub(crate) const HEAP_GROUPS: &[&str] = &["site", "function", "crate", "stack", "route", "size"];
/// The longest `seconds=` of a CPU capture, and the length of one asked
/// without it.
pub(crate) const MAX_CPU_SECONDS: u64 = 60;
pub(crate) const DEFAULT_CPU_SECONDS: u64 = 10;

/// A page's query parameters, checked against the names the page accepts.
#[derive(Debug)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `raw` and rejects parameters the page does not know, since a
    /// misspelt `filtr=` silently ignored would show the wrong table.
    /// `format` is accepted everywhere.
    pub(crate) fn parse(raw: Option<&str>, accepted: &[&str]) -> Result<Self, PageError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        for (name, _) in &pairs {
            if name != "format" && !accepted.contains(&name.as_str()) {
                let known = if accepted.is_empty() {
                    "only `format`".to_owned()
                } else {
                    format!("`format`, `{}`", accepted.join("`, `"))
                };
                return Err(PageError::bad_request(format!(
                    "unknown query parameter `{name}`: this page accepts {known}"
                )));
            }
        }
        Ok(Self { pairs })
    }

    /// The last value given for `name`, if any.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A value from a fixed list.
    pub(crate) fn choice<'a>(
        &self,
        name: &str,
        allowed: &[&'a str],
    ) -> Result<Option<&'a str>, PageError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        allowed
            .iter()
            .find(|candidate| **candidate == value)
            .map(|candidate| Some(*candidate))
            .ok_or_else(|| {
                PageError::bad_request(format!(
                    "invalid value `{value}` for `{name}`: expected one of {}",
                    allowed.join(", ")
                ))
            })
    }

    /// A whole number within `range`.
    pub(crate) fn number(
        &self,
        name: &str,
        range: RangeInclusive<u64>,
    ) -> Result<Option<u64>, PageError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.parse::<u64>() {
            Ok(number) if range.contains(&number) => Ok(Some(number)),
            _ => Err(PageError::bad_request(format!(
                "invalid value `{value}` for `{name}`: expected a whole number from {} to {}",
                range.start(),
                range.end()
            ))),
        }
    }

    /// A span of time: whole seconds (`600`), or a number with `s`, `m` or
    /// `h` (`90s`, `10m`, `1h`); from 1 s to `max`.
    pub(crate) fn duration(
        &self,
        name: &str,
        max: Duration,
    ) -> Result<Option<Duration>, PageError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let (number, unit) = match value.char_indices().last() {
            Some((at, 's')) => (&value[..at], 1),
            Some((at, 'm')) => (&value[..at], 60),
            Some((at, 'h')) => (&value[..at], 3600),
            _ => (value, 1),
        };
        let seconds = (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
            .then(|| number.parse::<u64>().ok())
            .flatten()
            .and_then(|number| number.checked_mul(unit));
        match seconds {
            Some(seconds) if (1..=max.as_secs()).contains(&seconds) => {
                Ok(Some(Duration::from_secs(seconds)))
            }
            _ => Err(PageError::bad_request(format!(
                "invalid value `{value}` for `{name}`: expected seconds (600) or a number with s, m or h (90s, 10m, 1h), from 1 s to {} s",
                max.as_secs()
            ))),
        }
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, PageError> {
        Ok(self
            .choice(name, &["true", "false"])?
            .map(|value| value == "true"))
    }

    /// Free text, such as a filter; empty counts as absent.
    pub(crate) fn text(&self, name: &str, max_len: usize) -> Result<Option<String>, PageError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(value) if value.len() > max_len => Err(PageError::bad_request(format!(
                "invalid value for `{name}`: at most {max_len} bytes"
            ))),
            Some(value) => Ok(Some(value.to_owned())),
        }
    }
}

impl Query {
    /// `filter=`, lowercased: the heap tables and flamegraphs match it on
    /// every frame's function and file, case-insensitively.
    pub(crate) fn filter(&self) -> Result<Option<String>, PageError> {
        Ok(self
            .text("filter", MAX_FILTER_LEN)?
            .map(|filter| filter.to_lowercase()))
    }

    /// `frames=`: `app` (the default) folds the frameworks' runs of frames
    /// in a flamegraph into one frame each, `all` draws every frame. The
    /// frameworks to fold, or `None` for all frames.
    pub(crate) fn folding<'a>(
        &self,
        frameworks: &'a Frameworks,
    ) -> Result<Option<&'a Frameworks>, PageError> {
        Ok(match self.choice("frames", &["app", "all"])? {
            Some("all") => None,
            _ => Some(frameworks),
        })
    }
}

/// A whole-number id from a path, such as a request's: `what` names it in
/// the 400.
pub(crate) fn parse_id(raw: &str, what: &str) -> Result<u64, PageError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PageError::bad_request(format!(
            "malformed {what} id `{raw}`: a {what} id is a whole number"
        )));
    }
    raw.parse()
        .map_err(|_| PageError::bad_request(format!("malformed {what} id `{raw}`: too large")))
}

/// Reads `group`, `filter`, `route` and `limit`, as the heap tables take
/// them.
pub(crate) fn heap_table_spec(query: &Query) -> Result<TableSpec, PageError> {
    let group = query.choice("group", HEAP_GROUPS)?.unwrap_or("site");
    let filter = query.filter()?;
    let route = query.text("route", MAX_ROUTE_LEN)?;
    let grouping = Grouping::from_name(group);
    if grouping.is_none() && (filter.is_some() || route.is_some()) {
        return Err(PageError::bad_request(
            "`filter` and `route` select stacks, and `group=size` has none: \
             use group=site, function, crate, stack or route with them",
        ));
    }
    Ok(TableSpec {
        grouping,
        filter,
        route,
        limit: query
            .number("limit", 1..=MAX_LIMIT)?
            .unwrap_or(DEFAULT_HEAP_LIMIT) as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_parameter_and_what_it_accepts() {
        let query = Query::parse(Some("limit=abc&group=nope"), &["limit", "group"]).unwrap();
        let limit = query.number("limit", 1..=100).unwrap_err();
        assert!(limit.message().contains("`limit`"), "{}", limit.message());
        assert!(limit.message().contains("1 to 100"));
        let group = query.choice("group", &["site", "size"]).unwrap_err();
        assert!(
            group.message().contains("site, size"),
            "{}",
            group.message()
        );
        let unknown = Query::parse(Some("limt=3"), &["limit"]).unwrap_err();
        assert!(unknown.message().contains("`limt`"));
    }

    #[test]
    fn reads_spans_of_time() {
        let max = Duration::from_secs(7200);
        let span = |value: &str| {
            Query::parse(Some(&format!("since={value}")), &["since"])
                .unwrap()
                .duration("since", max)
        };
        assert_eq!(span("600").unwrap(), Some(Duration::from_secs(600)));
        assert_eq!(span("90s").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(span("10m").unwrap(), Some(Duration::from_secs(600)));
        assert_eq!(span("2h").unwrap(), Some(Duration::from_secs(7200)));
        for bad in [
            "",
            "m",
            "0",
            "3h",
            "-5m",
            "1.5m",
            "10min",
            "99999999999999999999h",
        ] {
            let error = span(bad).unwrap_err();
            assert_eq!(error.status(), 400, "{bad}");
            assert!(error.message().contains("`since`"), "{}", error.message());
        }
    }

    #[test]
    fn decodes_and_keeps_the_last_value() {
        let query = Query::parse(
            Some("filter=a%20b&filter=c+d&limit=7"),
            &["filter", "limit"],
        )
        .unwrap();
        assert_eq!(query.get("filter"), Some("c d"));
        assert_eq!(query.number("limit", 1..=10).unwrap(), Some(7));
        assert_eq!(query.number("limit", 8..=10).unwrap_err().status(), 400);
    }
}
