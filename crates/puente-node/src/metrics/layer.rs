//! The request layer: every gRPC call runs inside a `grpc` span (service, method, peer
//! address, and the verified caller once the gate has read it) and its latency lands in
//! [`Metrics`]. Service and method names are looked up in the contract's own descriptor,
//! so a path a client makes up becomes `other`, never a label of its choosing.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prost::Message;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};
use tracing::Instrument;

use super::Metrics;

/// Services served besides the contract's, with their methods.
const INFRASTRUCTURE: [(&str, &[&str]); 3] = [
    ("grpc.health.v1.Health", &["Check", "Watch"]),
    (
        "grpc.reflection.v1.ServerReflection",
        &["ServerReflectionInfo"],
    ),
    (
        "grpc.reflection.v1alpha.ServerReflection",
        &["ServerReflectionInfo"],
    ),
];

static KNOWN: LazyLock<BTreeMap<String, Vec<String>>> = LazyLock::new(|| {
    let mut known = BTreeMap::new();
    if let Ok(set) = prost_types::FileDescriptorSet::decode(puente_proto::FILE_DESCRIPTOR_SET) {
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for svc in file.service {
                let name = format!("{package}.{}", svc.name.unwrap_or_default());
                let methods = svc.method.into_iter().filter_map(|m| m.name).collect();
                known.insert(name, methods);
            }
        }
    }
    for (svc, methods) in INFRASTRUCTURE {
        known.insert(
            svc.to_string(),
            methods.iter().map(|m| m.to_string()).collect(),
        );
    }
    known
});

/// The (service, method) of a gRPC path, from the closed list the node serves; `other`
/// for anything else.
pub fn grpc_names(path: &str) -> (&'static str, &'static str) {
    let known: &'static BTreeMap<String, Vec<String>> = &KNOWN;
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (Some(svc), Some(method)) = (parts.next(), parts.next()) else {
        return ("other", "other");
    };
    match known.get_key_value(svc) {
        Some((name, methods)) => match methods.iter().find(|m| m.as_str() == method) {
            Some(m) => (name.as_str(), m.as_str()),
            None => (name.as_str(), "other"),
        },
        None => ("other", "other"),
    }
}

/// Wraps the node's gRPC routes with spans and latency metrics.
#[derive(Clone, Debug)]
pub struct RequestLayer {
    metrics: Arc<Metrics>,
}

impl RequestLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`RequestLayer`] makes.
#[derive(Clone, Debug)]
pub struct RequestService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, R> Service<http::Request<B>> for RequestService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = grpc_names(request.uri().path());
        let peer = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|i| i.get_ref().remote_addr());
        let span = tracing::info_span!(
            "grpc",
            service,
            method,
            peer =
                tracing::field::display(peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
            caller = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let started = Instant::now();
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = self.metrics.clone();
        Box::pin(
            async move {
                let mut result = future.await;
                let took = started.elapsed();
                metrics.observe_latency(service, method, took);
                if let Ok(response) = &mut result {
                    crate::limits::contract_status(response.headers_mut());
                    // Errors answered as trailers-only carry their status in the headers.
                    let status = response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map(|c| super::code_name(tonic::Code::from_i32(c)))
                        .unwrap_or("OK");
                    tracing::Span::current().record("status", status);
                }
                tracing::debug!(elapsed_ms = took.as_secs_f64() * 1e3, "call answered");
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::grpc_names;

    #[test]
    fn only_served_names_become_labels() {
        assert_eq!(
            grpc_names("/puente.v1.Exchange/QueryIdentity"),
            ("puente.v1.Exchange", "QueryIdentity")
        );
        assert_eq!(
            grpc_names("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(
            grpc_names("/puente.v1.Exchange/P1234567"),
            ("puente.v1.Exchange", "other")
        );
        assert_eq!(grpc_names("/MOHAMMAD/HOSSAIN"), ("other", "other"));
        assert_eq!(grpc_names("/"), ("other", "other"));
    }
}
