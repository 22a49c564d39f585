//! `puente.v1.Manifest`: carriers' manifests in, the officer's view out. The gate admits
//! this country's carriers and operators (`role.manifest_requires_own_carrier`); reading
//! is for operators (`NodeState::require_operator`). The work is in
//! [`crate::manifests`].

use std::sync::Arc;

use puente_proto::v1 as pb;
use puente_proto::v1::manifest_server::Manifest;
use tonic::{Request, Response, Status};

use super::NodeState;
use crate::gate::caller;

/// The `Manifest` service.
#[derive(Clone, Debug)]
pub struct ManifestService {
    state: Arc<NodeState>,
}

impl ManifestService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Manifest for ManifestService {
    async fn submit(
        &self,
        request: Request<pb::SubmitManifestRequest>,
    ) -> Result<Response<pb::SubmitManifestResponse>, Status> {
        let who = caller(&request)?.clone();
        let r = self
            .state
            .submit_manifest(&who, request.into_inner())
            .await?;
        Ok(Response::new(r))
    }

    async fn list_manifests(
        &self,
        request: Request<pb::ListManifestsRequest>,
    ) -> Result<Response<pb::ListManifestsResponse>, Status> {
        let who = caller(&request)?.clone();
        let r = self
            .state
            .list_manifests(&who, request.into_inner())
            .await?;
        Ok(Response::new(r))
    }

    async fn get_manifest(
        &self,
        request: Request<pb::GetManifestRequest>,
    ) -> Result<Response<pb::GetManifestResponse>, Status> {
        let who = caller(&request)?.clone();
        let r = self.state.get_manifest(&who, request.into_inner()).await?;
        Ok(Response::new(r))
    }

    async fn check_with_peer(
        &self,
        request: Request<pb::CheckWithPeerRequest>,
    ) -> Result<Response<pb::CheckWithPeerResponse>, Status> {
        let who = caller(&request)?.clone();
        self.state.require_operator(&who)?;
        let r = self
            .state
            .forward_manifest_check(&who, request.get_ref())
            .await?;
        Ok(Response::new(r))
    }
}
