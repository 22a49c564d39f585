//! The Puente node: a gRPC server over mutual TLS that knows which country and role is
//! calling, and a client that dials peers the same way.
//!
//! Identity comes only from the verified certificate chain: the TLS layer
//! ([`puente_pki::tls`]) verifies a caller against the CA of the country it claims, and
//! the [`gate`] admits it to a service by role (`Exchange`: peer nodes; `Local`: own
//! operators; `Audit`: own auditors; `Manifest`: own carriers and operators).
//!
//! # Layout
//! The rooms of one exchange (see `docs/architecture.md` for one query drawn through them):
//! - [`services`]: thin gRPC adapters for `Exchange`, `Local`, `Audit`.
//! - [`answer`]: the responder: authorize (agreements, quota), match, protect, disclose,
//!   and the audited-exchange guard every answer passes.
//! - [`ask`]: the asker: the one peer-call helper (timeout, receipt check, outgoing entry),
//!   an operator's query or fetch forwarded to a peer.
//! - [`sync`]: statistics, alerts and witnessing, both sides.
//! - [`records`]: the own records changed while serving (`ImportRecords`,
//!   `DeleteRecords`, `SearchRecords`) and the watched inbox.
//! - [`manifests`]: carriers' manifests (`Manifest.Submit`, the officer's view,
//!   retention erasure, expected-arrival cells).
//! - [`state`]: [`state::NodeState`], the shared state and clock, behind methods.
//! - [`outcome`]: what an exchange did, as its audit entry says it.
//! - [`error`]: [`ExchangeError`] (one refusal, one `From` into `Status`), [`ConfigError`],
//!   [`NodeError`].
//!
//! Around them:
//! - [`config`]: `puente.toml`, validated before binding, with every problem's key path.
//! - [`server`]: [`Node`] / [`run`]: TLS accept loop, services, health, reflection, drain.
//! - [`gate`]: the role gate interceptor (and per-peer rate limit) and [`gate::caller`].
//! - [`limits`]: message sizes, deadlines of outgoing calls, per-peer token buckets.
//! - [`agreements`]: loading, verifying and reloading signed agreements.
//! - [`store`]: the sled store and quota counters.
//! - [`backup`]: snapshots of a running node, the archive format, restore.
//! - [`convert`]: between the contract's messages and the records' model.
//! - [`refs`]: references handed out with matches.
//! - [`metrics`]: Prometheus metrics, the request layer (spans, latency), the scrape listener.
//! - [`lifecycle`]: reloading certificate, CRLs and trust bundle; expiry warnings.
//! - [`crl`]: how current this country's and the peers' CRLs are.
//! - [`peers`]: pooled channels to peers and reachability probes.
//! - [`client`]: mTLS channels to a node (from `puente-client`, shared with the CLI) and
//!   the `Exchange` client.
//! - [`refusals`]: recent refusals, beside their log lines.

#![forbid(unsafe_code)]

pub mod agreements;
pub mod answer;
pub mod ask;
pub mod backup;
pub mod client;
pub mod config;
pub mod convert;
pub mod crl;
pub mod error;
pub mod gate;
pub mod lifecycle;
pub mod limits;
pub mod manifests;
pub mod metrics;
pub mod outcome;
pub mod peers;
pub mod quota;
pub mod records;
pub mod refs;
pub mod refusals;
pub mod server;
pub mod services;
pub mod state;
pub mod store;
pub mod sync;
#[cfg(test)]
mod testing;

pub use config::{LoadedNode, NodeConfig};
pub use error::{BackupError, ConfigError, ExchangeError, NodeError};
pub use server::{run, Node};
pub use sync::stats;

/// Where callers outside the crate found the receipt of a refusal before the node was
/// split into rooms.
pub mod auditing {
    pub use crate::error::{receipt_of, RECEIPT_METADATA};
    pub use crate::outcome::sha256;
}
