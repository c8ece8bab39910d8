//! A tower `Layer` that shows every request in `inflight()` and times it for
//! `inflight_stats()` (cargo feature `tower`), for axum, tonic and any other
//! tower-based server.
//!
//! Labels never carry a raw path, which may hold ids or secrets
//! (`/items/user-42-reset-token-abcdef`). By default a request is labelled with:
//! 1. axum's matched route, `PUT /items/{id}` (feature `axum`; the layer must run
//!    after routing, which `Router::layer` and `Router::route_layer` both do);
//! 2. otherwise the method and the path with every segment that holds a digit or is
//!    longer than `MAX_KEPT_SEGMENT` bytes replaced by `{}`: `PUT /items/{}`.
//!
//! `InFlightLayer::with_label` replaces that rule with the host's own. A request is
//! tracked until its response head is ready; a streaming body is not followed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::inflight::tracker::RequestTracker;

/// Path segments longer than this are replaced in the fallback label.
const MAX_KEPT_SEGMENT: usize = 24;

type LabelFn = dyn Fn(&Parts) -> String + Send + Sync;

/// Tracks every request through the services it wraps. See the module docs for
/// how requests are labelled.
#[derive(Clone)]
pub struct InFlightLayer {
    label: Arc<LabelFn>,
}

impl Default for InFlightLayer {
    fn default() -> InFlightLayer {
        InFlightLayer::new()
    }
}

impl std::fmt::Debug for InFlightLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlightLayer").finish_non_exhaustive()
    }
}

impl InFlightLayer {
    /// Labels requests with the matched route, or the method and a sanitized path.
    pub fn new() -> InFlightLayer {
        InFlightLayer::with_label(default_label)
    }

    /// Labels requests with `label` (e.g. `|parts| parts.method.to_string()`). Keep
    /// labels few and free of secrets: they are shown to operators and keyed on by
    /// `inflight_stats()`.
    pub fn with_label<F>(label: F) -> InFlightLayer
    where
        F: Fn(&Parts) -> String + Send + Sync + 'static,
    {
        InFlightLayer {
            label: Arc::new(label),
        }
    }
}

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlightService<S>;

    fn layer(&self, inner: S) -> InFlightService<S> {
        InFlightService {
            inner,
            label: self.label.clone(),
        }
    }
}

/// The service `InFlightLayer` produces.
#[derive(Clone)]
pub struct InFlightService<S> {
    inner: S,
    label: Arc<LabelFn>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for InFlightService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlightService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for InFlightService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let tracker = RequestTracker::start((self.label)(&parts));
        Tracked {
            inner: self.inner.call(Request::from_parts(parts, body)),
            _tracker: tracker,
        }
    }
}

pin_project_lite::pin_project! {
    /// A response future that keeps its request in `inflight()` until it is ready.
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        _tracker: RequestTracker,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// The matched route when axum has one, else the method and a sanitized path.
fn default_label(parts: &Parts) -> String {
    #[cfg(feature = "axum")]
    if let Some(route) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return format!("{} {}", parts.method, route.as_str());
    }
    format!("{} {}", parts.method, sanitized_path(parts.uri.path()))
}

/// `path` with the segments that may be ids or secrets replaced by `{}`.
fn sanitized_path(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| {
            let suspicious = segment.len() > MAX_KEPT_SEGMENT
                || segment.bytes().any(|b| b.is_ascii_digit() || b == b'%');
            if suspicious {
                "{}"
            } else {
                segment
            }
        })
        .collect();
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_leave_the_fallback_label() {
        assert_eq!(
            sanitized_path("/items/user-42-reset-token-abcdef"),
            "/items/{}"
        );
        assert_eq!(sanitized_path("/items/7/tags"), "/items/{}/tags");
        assert_eq!(
            sanitized_path("/a/averyveryverylongsegmentwithoutdigits"),
            "/a/{}"
        );
        assert_eq!(sanitized_path("/health"), "/health");
        assert_eq!(sanitized_path("/"), "/");
    }
}
