//! `puente.v1.Exchange`: node to node. Only node certificates of peer countries get here.
//! The methods are implemented by the issues that bring agreements, records, statistics,
//! audit and alerts; until then they answer `UNIMPLEMENTED`.

use std::sync::Arc;

use puente_proto::v1::exchange_server::Exchange;

use super::NodeState;

/// The `Exchange` service.
#[derive(Clone, Debug)]
pub struct ExchangeService {
    #[allow(dead_code)]
    state: Arc<NodeState>,
}

impl ExchangeService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Exchange for ExchangeService {}
