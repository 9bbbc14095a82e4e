//! Who may read the debug pages. Secure by default: loopback peers only,
//! until the user chooses otherwise.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::request::Parts;
use http::{StatusCode, header};

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
    LoopbackOnly,
    BearerToken(Arc<str>),
    Predicate(Arc<Predicate>),
    AllowAll,
}

impl AccessPolicy {
    /// The default: only peers on 127.0.0.0/8 or `::1`. A request whose
    /// peer is unknown is refused.
    pub fn loopback_only() -> Self {
        Self {
            rule: Rule::LoopbackOnly,
        }
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
            Rule::LoopbackOnly => match peer_addr(parts) {
                Some(addr) if addr.ip().is_loopback() => Ok(()),
                Some(addr) => Err(forbidden(&format!(
                    "{prefix} is served only to loopback peers by default, and this request came from {}.",
                    addr.ip()
                ))),
                None => Err(forbidden(&format!(
                    "{prefix} is served only to loopback peers by default, and this request's peer address is unknown. \
                     With axum, serve the app with `into_make_service_with_connect_info::<SocketAddr>()`; \
                     with hyper, insert `memscope::PeerAddr(remote_addr)` into each request's extensions."
                ))),
            },
            Rule::BearerToken(token) => {
                let presented = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.strip_prefix("Bearer "));
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

/// Compares without stopping at the first difference, so the time taken
/// does not tell an attacker how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::loopback_only()
    }
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.rule {
            Rule::LoopbackOnly => "LoopbackOnly",
            Rule::BearerToken(_) => "BearerToken(..)",
            Rule::Predicate(_) => "Predicate(..)",
            Rule::AllowAll => "AllowAll",
        };
        f.debug_tuple("AccessPolicy")
            .field(&format_args!("{name}"))
            .finish()
    }
}
