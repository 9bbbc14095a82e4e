//! Who may read the debug pages. Secure by default: loopback peers only,
//! until the user chooses otherwise.
//!
//! Two checks guard against a browser being used against its own machine,
//! whatever the policy lets in:
//! - under the loopback policy, a request must name a loopback host (or one
//!   the user allowed) in `Host`: a page on another site that resolves its
//!   own name to 127.0.0.1 (DNS rebinding) sends its own name;
//! - a request that changes state (a POST) must come from the pages
//!   themselves, or from no browser at all: a browser says where a request
//!   comes from in `Sec-Fetch-Site` and `Origin`, curl and httpie send
//!   neither.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, StatusCode, header};

use super::error::PageError;

/// The peer address of a request, for servers that do not use axum's
/// `ConnectInfo`. A plain hyper server inserts it into each request's
/// extensions so that the default loopback policy can see who is asking:
///
/// ```rust
/// # fn example(mut request: http::Request<()>, remote: std::net::SocketAddr) {
/// request.extensions_mut().insert(memscope::PeerAddr(remote));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The peer address of a request, from [`PeerAddr`] or, with the `axum`
/// feature, from axum's `ConnectInfo<SocketAddr>`.
pub fn peer_addr(parts: &Parts) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = parts.extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    None
}

type Predicate = dyn Fn(&Parts) -> bool + Send + Sync;

/// Who may reach the debug pages. The app's own routes are never affected.
#[derive(Clone)]
pub struct AccessPolicy {
    rule: Rule,
}

#[derive(Clone)]
enum Rule {
    LoopbackOnly { allowed_hosts: Arc<[String]> },
    BearerToken(Arc<str>),
    Predicate(Arc<Predicate>),
    AllowAll,
}

impl AccessPolicy {
    /// The default: only peers on 127.0.0.0/8 or `::1` (an IPv4 peer of a
    /// dual-stack listener, `::ffff:127.0.0.1`, included), and only requests
    /// that name a loopback host (`localhost`, `127.0.0.1`, `[::1]`) in
    /// `Host`, or one allowed with [`AccessPolicy::allow_host`]. A request
    /// whose peer is unknown is refused.
    pub fn loopback_only() -> Self {
        Self {
            rule: Rule::LoopbackOnly {
                allowed_hosts: Arc::from([]),
            },
        }
    }

    /// Under [`AccessPolicy::loopback_only`], lets requests that name
    /// `host` (without a port: `my-box.internal`) in `Host` in too, for a
    /// loopback peer reached by another name, such as an SSH tunnel's. No
    /// effect on the other policies.
    #[must_use]
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        if let Rule::LoopbackOnly { allowed_hosts } = &mut self.rule {
            let mut hosts = allowed_hosts.to_vec();
            hosts.push(host.into().to_ascii_lowercase());
            *allowed_hosts = hosts.into();
        }
        self
    }

    /// Requests carrying `Authorization: Bearer <token>`, from anywhere.
    pub fn bearer_token(token: impl Into<String>) -> Self {
        Self {
            rule: Rule::BearerToken(token.into().into()),
        }
    }

    /// Requests for which `allow` returns `true`. It sees the request head,
    /// extensions included; [`peer_addr`] reads the peer from it.
    pub fn predicate(allow: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        Self {
            rule: Rule::Predicate(Arc::new(allow)),
        }
    }

    /// Every request. Only for servers that are not reachable from outside,
    /// or that sit behind their own authentication.
    pub fn allow_all() -> Self {
        Self {
            rule: Rule::AllowAll,
        }
    }

    /// Decides on one request, with an answer that says how to get in.
    pub(crate) fn check(&self, parts: &Parts, prefix: &str) -> Result<(), PageError> {
        match &self.rule {
            Rule::AllowAll => Ok(()),
            Rule::LoopbackOnly { allowed_hosts } => {
                match peer_addr(parts) {
                    Some(addr) if is_loopback(addr.ip()) => {}
                    Some(addr) => {
                        return Err(forbidden(&format!(
                            "{prefix} is served only to loopback peers by default, and this request came from {}.",
                            addr.ip()
                        )));
                    }
                    None => {
                        return Err(forbidden(&format!(
                            "{prefix} is served only to loopback peers by default, and this request's peer address is unknown. \
                             With axum, serve the app with `into_make_service_with_connect_info::<SocketAddr>()`; \
                             with hyper, insert `memscope::PeerAddr(remote_addr)` into each request's extensions."
                        )));
                    }
                }
                match requested_host(parts) {
                    Some(host) if !is_loopback_host(&host, allowed_hosts) => {
                        Err(forbidden(&format!(
                            "{prefix} is served only to requests for a loopback host by default, and this request asked for `{host}` \
                         (a page of another site can reach this server under its own name). \
                         Use http://127.0.0.1 or http://localhost, or allow the name with \
                         `AccessPolicy::loopback_only().allow_host(\"{host}\")`."
                        )))
                    }
                    _ => Ok(()),
                }
            }
            Rule::BearerToken(token) => {
                let presented = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(bearer_credentials);
                match presented {
                    Some(presented) if constant_time_eq(presented.as_bytes(), token.as_bytes()) => {
                        Ok(())
                    }
                    _ => Err(PageError::new(
                        StatusCode::UNAUTHORIZED,
                        format!("{prefix} needs the header `Authorization: Bearer <token>` with the token this server was configured with."),
                    )
                    .with_header(header::WWW_AUTHENTICATE, "Bearer")),
                }
            }
            Rule::Predicate(allow) => {
                if allow(parts) {
                    Ok(())
                } else {
                    Err(PageError::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "{prefix}: this request was refused by the access policy this server was configured with."
                        ),
                    ))
                }
            }
        }
    }
}

/// Refuses a request that changes state when a browser says it comes from
/// another site: `Sec-Fetch-Site` other than `same-origin` or `none`, or
/// an `Origin` that is not the host the request was sent to. Requests
/// without either (curl, httpie, scripts) pass.
pub(crate) fn check_same_origin(parts: &Parts) -> Result<(), PageError> {
    let header_text = |name: HeaderName| {
        parts
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap_or("(not text)").trim().to_owned())
    };
    let cross_site = || {
        PageError::new(
            StatusCode::FORBIDDEN,
            "this request changes memscope's state and comes from another site: \
             its buttons work from memscope's own pages, and curl or httpie work from anywhere the access policy allows.",
        )
    };
    if let Some(site) = header_text(HeaderName::from_static("sec-fetch-site"))
        && !matches!(site.to_ascii_lowercase().as_str(), "same-origin" | "none")
    {
        return Err(cross_site());
    }
    if let Some(origin) = header_text(header::ORIGIN) {
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        // Behind a proxy, the host the browser asked for is the forwarded one.
        let forwarded = header_text(HeaderName::from_static("x-forwarded-host"));
        let same = origin_host.is_some_and(|from| {
            requested_authority(parts)
                .into_iter()
                .chain(forwarded)
                .any(|to| from.eq_ignore_ascii_case(&to))
        });
        if !same {
            return Err(cross_site());
        }
    }
    Ok(())
}

/// `host:port` the request was sent to: `Host`, or the URI's authority
/// (HTTP/2).
fn requested_authority(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|authority| authority.to_string()))
}

/// The host the request was sent to, without its port, lower case.
fn requested_host(parts: &Parts) -> Option<String> {
    let authority = requested_authority(parts)?;
    let host = match authority.strip_prefix('[') {
        // `[::1]:8080`
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(host, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    host
                } else {
                    authority.as_str()
                }
            }),
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `localhost`, a name under `.localhost`, a loopback address, or a name
/// the user allowed.
fn is_loopback_host(host: &str, allowed: &[String]) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(is_loopback)
        || allowed.iter().any(|allowed| allowed == host)
}

/// The credentials of `Bearer <token>`, the scheme in any case (RFC 7235).
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(char::is_whitespace)?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

fn forbidden(reason: &str) -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{reason} To let others in, choose a policy: \
             `DebugLayer::new().access(AccessPolicy::bearer_token(\"...\"))`, \
             `AccessPolicy::predicate(|parts| ...)`, or `AccessPolicy::allow_all()`."
        ),
    )
}

/// Compares in a time that depends only on the length of `secret`, not on
/// what was presented: neither how much of a guess was right nor its length
/// shows in the time taken.
fn constant_time_eq(presented: &[u8], secret: &[u8]) -> bool {
    let mut difference = presented.len() ^ secret.len();
    for (index, byte) in secret.iter().enumerate() {
        let guess = presented.get(index).copied().unwrap_or(!byte);
        difference |= usize::from(guess ^ byte);
    }
    difference == 0
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::loopback_only()
    }
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.rule {
            Rule::LoopbackOnly { .. } => "LoopbackOnly",
            Rule::BearerToken(_) => "BearerToken(..)",
            Rule::Predicate(_) => "Predicate(..)",
            Rule::AllowAll => "AllowAll",
        };
        f.debug_tuple("AccessPolicy")
            .field(&format_args!("{name}"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::post("/_debug/profiling");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn tokens_compare_whole_whatever_their_length() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3cretX", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(!constant_time_eq(b"S3cret", b"s3cret"));
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        assert_eq!(bearer_credentials("Bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("bearer  abc "), Some("abc"));
        assert_eq!(bearer_credentials("BEARER abc"), Some("abc"));
        assert_eq!(bearer_credentials("Basic abc"), None);
        assert_eq!(bearer_credentials("Bearer"), None);
    }

    #[test]
    fn loopback_peers_and_hosts() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
        let host = |authority: &str| requested_host(&parts(&[("host", authority)])).unwrap();
        assert_eq!(host("127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(host("[::1]:3000"), "::1");
        assert_eq!(host("LocalHost"), "localhost");
        assert_eq!(host("attacker.example:80"), "attacker.example");
        for loopback in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "app.localhost",
        ] {
            assert!(is_loopback_host(loopback, &[]), "{loopback}");
        }
        assert!(!is_loopback_host("attacker.example", &[]));
        assert!(is_loopback_host(
            "box.internal",
            &["box.internal".to_owned()]
        ));
    }

    #[test]
    fn state_changes_come_from_the_pages_or_no_browser() {
        assert!(check_same_origin(&parts(&[])).is_ok(), "curl");
        assert!(
            check_same_origin(&parts(&[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000"),
                ("sec-fetch-site", "same-origin"),
            ]))
            .is_ok(),
            "the pages' own button"
        );
        assert!(check_same_origin(&parts(&[("sec-fetch-site", "none")])).is_ok());
        for headers in [
            &[
                ("host", "127.0.0.1:3000"),
                ("origin", "http://evil.example"),
            ][..],
            &[("host", "127.0.0.1:3000"), ("origin", "null")][..],
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")][..],
        ] {
            assert_eq!(
                check_same_origin(&parts(headers)).unwrap_err().status(),
                StatusCode::FORBIDDEN,
                "{headers:?}"
            );
        }
    }
}
