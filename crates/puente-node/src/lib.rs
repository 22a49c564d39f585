//! The Puente node: a gRPC server over mutual TLS that knows which country and role is
//! calling, and a client that dials peers the same way.
//!
//! Identity comes only from the verified certificate chain: the TLS layer
//! ([`puente_pki::tls`]) verifies a caller against the CA of the country it claims, and
//! the [`gate`] admits it to a service by role (`Exchange`: peer nodes; `Local`: own
//! operators; `Audit`: own auditors).
//!
//! # Layout
//! - [`config`]: `puente.toml`, validated before binding, with every problem's key path.
//! - [`server`]: [`Node`] / [`run`]: TLS accept loop, services, health, reflection, drain.
//! - [`gate`]: the role gate interceptor (and per-peer rate limit) and [`gate::caller`].
//! - [`limits`]: message sizes, deadlines of outgoing calls, per-peer token buckets.
//! - [`services`]: `Exchange`, `Local`, `Audit` handlers.
//! - [`agreements`]: loading, verifying and reloading signed agreements.
//! - [`policy`]: applying agreements to every `Exchange` call; quotas.
//! - [`store`]: the sled store and quota counters.
//! - [`auditing`]: audit entries for every exchange, receipts both ways.
//! - [`identity`]: answering identity queries and passport-copy requests.
//! - [`forward`]: an operator's query or fetch, forwarded to a peer.
//! - [`convert`]: between the contract's messages and the records' model.
//! - [`refs`]: references handed out with matches.
//! - [`metrics`]: Prometheus metrics, the request layer (spans, latency), the scrape listener.
//! - [`witness`]: cosigning peers' checkpoints and having ours cosigned.
//! - [`lifecycle`]: reloading certificate, CRLs and trust bundle; expiry warnings.
//! - [`crl`]: how current this country's and the peers' CRLs are.
//! - [`peers`]: pooled channels to peers and reachability probes.
//! - [`client`]: mTLS channels to a node (from `puente-client`, shared with the CLI) and
//!   the `Exchange` client.
//! - [`refusals`]: recent refusals, beside their log lines.
//! - [`error`]: [`ConfigError`], [`NodeError`].

#![forbid(unsafe_code)]

pub mod agreements;
pub mod alerts;
pub mod auditing;
pub mod client;
pub mod config;
pub mod convert;
pub mod crl;
pub mod error;
pub mod forward;
pub mod gate;
pub mod identity;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod peers;
pub mod policy;
pub mod quota;
pub mod refs;
pub mod refusals;
pub mod server;
pub mod services;
pub mod stats;
pub mod store;
pub mod witness;

pub use config::{LoadedNode, NodeConfig};
pub use error::{ConfigError, NodeError};
pub use server::{run, Node};
