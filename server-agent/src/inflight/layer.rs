//! A tower `Layer` that shows every request in `inflight()` (cargo feature `tower`),
//! for axum, tonic and any other tower-based server.
//!
//! Each request gets a `RequestTracker` labelled `METHOD /path` (the query string is
//! left out: it may carry secrets) for as long as its response future runs, that is
//! until the response head is ready; a streaming body is not followed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::inflight::tracker::RequestTracker;

/// Tracks every request through the services it wraps.
#[derive(Debug, Clone, Copy, Default)]
pub struct InFlightLayer;

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlightService<S>;

    fn layer(&self, inner: S) -> InFlightService<S> {
        InFlightService { inner }
    }
}

/// The service `InFlightLayer` produces.
#[derive(Debug, Clone)]
pub struct InFlightService<S> {
    inner: S,
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
        let tracker =
            RequestTracker::start(format!("{} {}", request.method(), request.uri().path()));
        Tracked {
            inner: self.inner.call(request),
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
