//! The gRPC services a node serves. Each handler receives requests that already passed
//! the service's [`crate::gate::Gate`]; methods that later issues implement answer
//! `UNIMPLEMENTED` through the generated default stubs.

pub mod audit;
pub mod exchange;
pub mod local;

use std::sync::Arc;

use crate::config::LoadedNode;
use crate::peers::PeerPool;
use crate::refusals::RefusalLog;

/// What every service shares.
#[derive(Debug)]
pub struct NodeState {
    /// The loaded configuration.
    pub node: LoadedNode,
    /// Links to peers.
    pub peers: PeerPool,
    /// Recent refusals.
    pub refusals: Arc<RefusalLog>,
}

pub(crate) fn timestamp(t: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }
}
