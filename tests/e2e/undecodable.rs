//! Requests whose bytes are not the method's message, sent by a client that speaks gRPC but
//! not our contract (as any independent client may): a bad wire type, a string field
//! that is not UTF-8, a message cut short, no message at all. Each is INVALID_ARGUMENT naming the message
//! and field that did not decode (tonic alone says INTERNAL, as if the node had failed),
//! spends no quota, writes no audit entry and changes nothing; the node keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use prost::bytes::{Buf, BufMut};
use prost::Message;
use puente_e2e::Federation;
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Sends and receives message bodies as raw bytes, whatever the method.
#[derive(Clone, Copy, Debug, Default)]
struct Raw;

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

async fn unary(ch: &Channel, path: &'static str, body: &[u8]) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(
        tonic::Request::new(body.to_vec()),
        PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .map(tonic::Response::into_inner)
}

/// Bodies that are not a valid encoding of a message whose field 1 is a string and
/// field 2 a message, with what tonic's decoder says of each.
const MALFORMED: [(&str, &[u8], &str); 3] = [
    (
        "a bad wire type",
        b"\xff\xff\xff\xff\x0f",
        "invalid wire type",
    ),
    ("field 1 not UTF-8", b"\x0a\x02\xc3\x28", ""),
    ("cut short", b"\x0a\x10abc", "buffer underflow"),
];

fn invalid(r: Result<Vec<u8>, Status>, what: &str, says: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.code(), Code::InvalidArgument, "{what}: {}", e.message());
    assert!(
        e.message().starts_with("failed to decode Protobuf message") && e.message().contains(says),
        "{what}: {}",
        e.message()
    );
}

#[tokio::test]
async fn undecodable_requests_are_invalid_argument_and_change_nothing() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    puente_e2e::agree_queries(&fed, 1);
    let mex = fed.start("MEX").await;
    let log_size = || mex.state.audit().trees().size().unwrap();
    let before = log_size();

    // A peer's node, to Exchange.
    let peer = fed.channel("MEX", &fed.country("GTM").identity("node-gtm-1"));
    for (what, body, says) in MALFORMED {
        let says = if says.is_empty() {
            "QueryIdentityRequest.context"
        } else {
            says
        };
        invalid(
            unary(&peer, "/puente.v1.Exchange/QueryIdentity", body).await,
            what,
            says,
        );
    }
    // The own operator, to Local; the auditor, to Audit.
    let officer = fed.channel("MEX", &fed.country("MEX").identity("operator-officer"));
    let auditor = fed.channel("MEX", &fed.country("MEX").identity("auditor-auditor"));
    for (what, body, says) in MALFORMED {
        let field = if says.is_empty() {
            "QueryRequest.peer_country: invalid string value"
        } else {
            says
        };
        invalid(
            unary(&officer, "/puente.v1.Local/Query", body).await,
            what,
            field,
        );
        invalid(
            unary(&auditor, "/puente.v1.Audit/ListEntries", body).await,
            what,
            if says.is_empty() {
                "ListEntriesRequest"
            } else {
                says
            },
        );
    }

    // A unary call whose client sends no message at all.
    let mut grpc = tonic::client::Grpc::new(officer.clone());
    grpc.ready().await.unwrap();
    let e = grpc
        .client_streaming(
            tonic::Request::new(tokio_stream::iter(Vec::<Vec<u8>>::new())),
            PathAndQuery::from_static("/puente.v1.Local/ListPeers"),
            Raw,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert!(
        e.message().starts_with("Missing request message"),
        "{}",
        e.message()
    );

    // A records import whose second message does not decode: refused, nothing imported.
    let header = pb::ImportRecordsRequest {
        part: Some(pb::import_records_request::Part::Header(
            pb::ImportRecordsHeader {
                file_name: "x.csv".into(),
                format: pb::RecordsFormat::Csv as i32,
            },
        )),
    }
    .encode_to_vec();
    let mut grpc = tonic::client::Grpc::new(officer.clone());
    grpc.ready().await.unwrap();
    let e = grpc
        .client_streaming(
            tonic::Request::new(tokio_stream::iter(vec![header, b"\x12\x10cut".to_vec()])),
            PathAndQuery::from_static("/puente.v1.Local/ImportRecords"),
            Raw,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    assert!(
        e.message().contains("ImportRecordsRequest"),
        "{}",
        e.message()
    );
    assert_eq!(mex.state.records().len(), 0);

    // Nothing was recorded or counted: the one query the day's quota allows is answered,
    // on the same connection, and only then is the quota spent.
    assert_eq!(
        log_size(),
        before,
        "no audit entry for bytes that never decoded"
    );
    let mut exchange = ExchangeClient::new(peer);
    let ok = exchange
        .query_identity(puente_e2e::document_query("C-1", "X1234567"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.outcome, pb::MatchOutcome::NoMatch as i32);
    assert_eq!(log_size(), before + 1);
    let e = exchange
        .query_identity(puente_e2e::document_query("C-2", "X1234567"))
        .await
        .unwrap_err();
    assert!(
        e.message().starts_with("agreement.quota_exceeded"),
        "{}",
        e.message()
    );
    mex.stop().await;
}
