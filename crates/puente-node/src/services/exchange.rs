//! `puente.v1.Exchange`: node to node. Only node certificates of peer countries get here
//! (the gate); each handler hands the verified caller and the request to the room that
//! owns the answer ([`crate::answer`] for identity queries and passport copies,
//! [`crate::sync`] for statistics, alerts and witnessing), where the agreements are
//! evaluated before any data is touched and the audited-exchange guard records the
//! answer or the refusal.

use std::sync::Arc;

use puente_proto::v1 as pb;
use puente_proto::v1::exchange_server::Exchange;
use puente_proto::v1::{
    get_document_response, DocumentTrailer, GetDocumentRequest, GetDocumentResponse,
    PublishAlertRequest, PublishAlertResponse, PullStatisticsRequest, PullStatisticsResponse,
    QueryIdentityRequest, QueryIdentityResponse, WitnessCheckpointRequest,
    WitnessCheckpointResponse,
};
use tonic::{Request, Response, Status};

use super::NodeState;
use crate::gate::caller;

/// The `Exchange` service.
#[derive(Clone, Debug)]
pub struct ExchangeService {
    state: Arc<NodeState>,
}

impl ExchangeService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

/// Largest chunk of a streamed document.
pub const CHUNK: usize = 64 * 1024;

/// The stream type of `GetDocument`.
pub type DocumentStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<GetDocumentResponse, Status>> + Send + 'static>,
>;

#[tonic::async_trait]
impl Exchange for ExchangeService {
    async fn query_identity(
        &self,
        request: Request<QueryIdentityRequest>,
    ) -> Result<Response<QueryIdentityResponse>, Status> {
        let who = caller(&request)?.clone();
        let answer = self.state.answer_query(&who, request.get_ref()).await?;
        Ok(Response::new(answer))
    }

    async fn check_manifest(
        &self,
        request: Request<pb::CheckManifestRequest>,
    ) -> Result<Response<pb::CheckManifestResponse>, Status> {
        let who = caller(&request)?.clone();
        let answer = self
            .state
            .answer_manifest_check(&who, request.get_ref())
            .await?;
        Ok(Response::new(answer))
    }

    async fn get_document(
        &self,
        request: Request<GetDocumentRequest>,
    ) -> Result<Response<DocumentStream>, Status> {
        let who = caller(&request)?.clone();
        let (header, bytes, receipt) = self.state.document(&who, request.get_ref()).await?;
        let mut parts = Vec::with_capacity(bytes.len() / CHUNK + 3);
        parts.push(Ok(GetDocumentResponse {
            part: Some(get_document_response::Part::Header(header)),
        }));
        for chunk in bytes.chunks(CHUNK) {
            parts.push(Ok(GetDocumentResponse {
                part: Some(get_document_response::Part::Chunk(chunk.to_vec())),
            }));
        }
        parts.push(Ok(GetDocumentResponse {
            part: Some(get_document_response::Part::Trailer(DocumentTrailer {
                receipt: Some(receipt),
            })),
        }));
        Ok(Response::new(Box::pin(tokio_stream::iter(parts))))
    }

    async fn pull_statistics(
        &self,
        request: Request<PullStatisticsRequest>,
    ) -> Result<Response<PullStatisticsResponse>, Status> {
        let who = caller(&request)?.clone();
        Ok(Response::new(
            self.state.pull_statistics(&who, request.get_ref()).await?,
        ))
    }

    async fn publish_alert(
        &self,
        request: Request<PublishAlertRequest>,
    ) -> Result<Response<PublishAlertResponse>, Status> {
        let who = caller(&request)?.clone();
        Ok(Response::new(
            self.state.receive_alert(&who, request.get_ref()).await?,
        ))
    }

    async fn witness_checkpoint(
        &self,
        request: Request<WitnessCheckpointRequest>,
    ) -> Result<Response<WitnessCheckpointResponse>, Status> {
        let who = caller(&request)?.clone();
        Ok(Response::new(
            self.state.witness(&who, request.get_ref()).await?,
        ))
    }
}
