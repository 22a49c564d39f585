//! The officer's view: the manifests held, and one trip with, for each passenger, the
//! records of the own holdings that may be them, by document (number and issuing state)
//! and by name (the same matcher as a name search, with date of birth and sex).

use puente_manifest::Passenger;
use puente_pki::PeerIdentity;
use puente_proto::v1 as pb;
use puente_records::matcher::NameQuery;
use puente_records::model::{DocumentType, PartialDate, Sex};
use puente_records::RecordStore;
use tonic::Status;
use tracing::info;

use super::internal;
use crate::state::NodeState;

/// Most manifests one list returns.
pub const MAX_LIST: usize = 1000;
/// Most name candidates shown per passenger.
const MAX_NAME_CANDIDATES: usize = 3;

fn date(d: &PartialDate) -> pb::PartialDate {
    pb::PartialDate {
        year: d.year.max(0) as u32,
        month: d.month.map(u32::from).unwrap_or(0),
        day: d.day.map(u32::from).unwrap_or(0),
    }
}

fn sex(s: Sex) -> pb::Sex {
    match s {
        Sex::M => pb::Sex::Male,
        Sex::F => pb::Sex::Female,
        Sex::X => pb::Sex::X,
    }
}

fn document_type(t: DocumentType) -> pb::DocumentType {
    match t {
        DocumentType::Passport => pb::DocumentType::Passport,
        DocumentType::IdentityCard => pb::DocumentType::IdentityCard,
        DocumentType::TravelDocument => pb::DocumentType::TravelDocument,
        DocumentType::Other => pb::DocumentType::Other,
    }
}

/// What the own records know of one passenger: by document first, then by name.
pub(crate) fn known(
    records: &RecordStore,
    p: &Passenger,
    threshold: f64,
) -> Result<Vec<pb::KnownRecord>, puente_records::RecordsError> {
    let mut out: Vec<pb::KnownRecord> = Vec::new();
    if let Some(d) = &p.document {
        for s in records.by_document(&d.issuing_state, &d.number)? {
            out.push(pb::KnownRecord {
                record_id: s.record.record_id,
                matched_by: "document".into(),
                score: 1.0,
            });
        }
    }
    let q = NameQuery {
        given_names: p.given_names.clone(),
        surnames: p.surnames.clone(),
        full_name: None,
        date_of_birth: p.date_of_birth,
        nationality: Some(p.nationality.clone()),
        sex: Some(p.sex),
    };
    let by_name = match puente_records::matcher::search(records, &q, threshold, MAX_NAME_CANDIDATES)
    {
        // A passenger listed by initials only: no name to search by.
        Err(puente_records::RecordsError::BadQuery(m))
            if m.contains(puente_records::matcher::ONLY_INITIALS) =>
        {
            Vec::new()
        }
        other => other?,
    };
    for m in by_name {
        if !out.iter().any(|k| k.record_id == m.stored.record.record_id) {
            out.push(pb::KnownRecord {
                record_id: m.stored.record.record_id,
                matched_by: "name".into(),
                score: m.score,
            });
        }
    }
    Ok(out)
}

pub(crate) fn passenger(p: &Passenger, known: Vec<pb::KnownRecord>) -> pb::ManifestPassenger {
    let d = p.document.as_ref();
    pb::ManifestPassenger {
        given_names: p.given_names.clone(),
        surnames: p.surnames.clone(),
        date_of_birth: Some(date(&p.date_of_birth)),
        sex: sex(p.sex) as i32,
        nationality: p.nationality.clone(),
        document_type: d
            .map(|d| document_type(d.document_type))
            .unwrap_or(pb::DocumentType::Unspecified) as i32,
        document_number: d.map(|d| d.number.clone()).unwrap_or_default(),
        issuing_state: d.map(|d| d.issuing_state.clone()).unwrap_or_default(),
        document_expiry: d.and_then(|d| d.expiry.as_ref()).map(date),
        known,
    }
}

impl NodeState {
    /// `Manifest.ListManifests` (operators).
    pub async fn list_manifests(
        &self,
        caller: &PeerIdentity,
        req: pb::ListManifestsRequest,
    ) -> Result<pb::ListManifestsResponse, Status> {
        self.require_operator(caller)?;
        self.erase_expired_manifests().await?;
        let max = match req.max_results {
            0 => 50,
            n => (n as usize).min(MAX_LIST),
        };
        let carrier = match req.carrier.as_str() {
            "" => None,
            name => {
                puente_pki::identity::validate_name(name)
                    .map_err(|e| Status::invalid_argument(format!("carrier: {e}")))?;
                Some(format!("urn:puente:{}:carrier:{name}", self.country()))
            }
        };
        let manifests = self.manifests.clone();
        let found = tokio::task::spawn_blocking(move || manifests.newest(max, carrier.as_deref()))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        info!(operator = %caller.name, results = found.len(), "manifests listed");
        Ok(pb::ListManifestsResponse {
            manifests: found.iter().map(|m| self.summary(m)).collect(),
        })
    }

    /// `Manifest.GetManifest` (operators): the trip and what the own records know.
    pub async fn get_manifest(
        &self,
        caller: &PeerIdentity,
        req: pb::GetManifestRequest,
    ) -> Result<pb::GetManifestResponse, Status> {
        self.require_operator(caller)?;
        let id = req.manifest_id;
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Status::invalid_argument(
                "manifest_id: as ListManifests gives it (letters, digits, -)",
            ));
        }
        self.erase_expired_manifests().await?;
        let manifests = self.manifests.clone();
        let records = self.records.clone();
        let threshold = self.node.config.records.match_threshold;
        let i = id.clone();
        let found = tokio::task::spawn_blocking(move || {
            let Some(m) = manifests.get(&i)? else {
                return Ok(None);
            };
            let _view = records.view();
            let mut passengers = Vec::with_capacity(m.manifest.passengers.len());
            for p in &m.manifest.passengers {
                let k = known(&records, p, threshold).map_err(|e| e.to_string())?;
                passengers.push(passenger(p, k));
            }
            Ok::<_, String>(Some((m, passengers)))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let Some((m, passengers)) = found else {
            return Err(Status::not_found(format!(
                "manifest {id} is not held (never received, or erased after its retention)"
            )));
        };
        let known = passengers.iter().filter(|p| !p.known.is_empty()).count();
        info!(operator = %caller.name, manifest = %id, passengers = passengers.len(), known,
            "manifest read");
        Ok(pb::GetManifestResponse {
            summary: Some(self.summary(&m)),
            passengers,
        })
    }
}
