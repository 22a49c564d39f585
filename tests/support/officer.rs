//! What an officer does through the own node's `Local` service, for the tests: ask a
//! peer by document or by name, and fetch a passport copy by reference.

use puente_proto::v1 as pb;
use puente_proto::v1::local_client::LocalClient;

use crate::Federation;

/// A request context with `purpose` and case reference `CASE-7`.
pub fn ctx(purpose: pb::Purpose) -> Option<pb::RequestContext> {
    Some(pb::RequestContext {
        purpose: purpose as i32,
        case_reference: "CASE-7".into(),
        operator_id: "ignored".into(),
        request_id: String::new(),
        ..Default::default()
    })
}

/// Terms of a query by passport `number` issued by `issuer`.
pub fn doc(number: &str, issuer: &str) -> pb::IdentityQuery {
    pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
            document_number: number.into(),
            issuing_state: issuer.into(),
            document_type: pb::DocumentType::Passport as i32,
        })),
    }
}

/// Terms of a query by name and (partial: 0 = unknown) date of birth.
pub fn name(given: &str, surnames: &str, y: u32, m: u32, d: u32) -> pb::IdentityQuery {
    pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Name(pb::NameTerms {
            given_names: given.into(),
            surnames: surnames.into(),
            date_of_birth: Some(pb::PartialDate {
                year: y,
                month: m,
                day: d,
            }),
            nationality: String::new(),
            sex: None,
        })),
    }
}

/// `from`'s officer asks `to` (purpose identification), through `from`'s node.
pub async fn ask(
    fed: &Federation,
    from: &str,
    to: &str,
    query: pb::IdentityQuery,
) -> Result<pb::QueryResponse, tonic::Status> {
    Officer::new(fed, from, to).ask(query).await
}

/// An officer of one country asking one peer over a single connection to the own node,
/// for tests that ask hundreds of times ([`ask`] connects anew each time).
pub struct Officer {
    client: LocalClient<tonic::transport::Channel>,
    to: String,
}

impl Officer {
    /// `from`'s officer, asking `to`.
    pub fn new(fed: &Federation, from: &str, to: &str) -> Self {
        let officer = fed.country(from).identity("operator-officer");
        Self {
            client: LocalClient::new(fed.channel(from, &officer)),
            to: to.into(),
        }
    }

    /// Asks the peer `query` (purpose identification, case `CASE-7`).
    pub async fn ask(&self, query: pb::IdentityQuery) -> Result<pb::QueryResponse, tonic::Status> {
        self.client
            .clone()
            .query(pb::QueryRequest {
                peer_country: self.to.clone(),
                context: ctx(pb::Purpose::Identification),
                query: Some(query),
                max_matches: 0,
            })
            .await
            .map(|r| r.into_inner())
    }
}

/// `from`'s officer fetches the passport copy behind `reference` from `to`.
pub async fn fetch(
    fed: &Federation,
    from: &str,
    to: &str,
    reference: &str,
) -> Result<(pb::DocumentHeader, Vec<u8>), tonic::Status> {
    use pb::fetch_document_response::Part;
    let officer = fed.country(from).identity("operator-officer");
    let mut stream = LocalClient::new(fed.channel(from, &officer))
        .fetch_document(pb::FetchDocumentRequest {
            peer_country: to.into(),
            context: ctx(pb::Purpose::Identification),
            reference: reference.into(),
        })
        .await?
        .into_inner();
    let (mut header, mut bytes) = (None, Vec::new());
    while let Some(m) = stream.message().await? {
        match m.part {
            Some(Part::Header(h)) => header = Some(h),
            Some(Part::Chunk(c)) => bytes.extend(c),
            _ => {}
        }
    }
    let header = header.ok_or_else(|| tonic::Status::data_loss("no document header"))?;
    Ok((header, bytes))
}
