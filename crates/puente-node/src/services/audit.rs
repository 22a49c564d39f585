//! `puente.v1.Audit`: read-only, this country's auditor certificates only. The methods are
//! implemented by the audit-log issue; until then they answer `UNIMPLEMENTED`.

use std::sync::Arc;

use puente_proto::v1::audit_server::Audit;

use super::NodeState;

/// The `Audit` service.
#[derive(Clone, Debug)]
pub struct AuditService {
    #[allow(dead_code)]
    state: Arc<NodeState>,
}

impl AuditService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Audit for AuditService {}
