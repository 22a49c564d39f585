//! Fixtures for the unit tests of the responder and the asker: countries set up in a
//! temp dir as `puente init` lays them out (a CA, a node certificate, signing and data
//! keys, a trust file, agreements signed by both parties), and each node's
//! [`NodeState`] built over its own sled store, without a listener or a TLS connection.
//! Callers are given as [`PeerIdentity`] values, as the gate would have read them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use puente_pki::ca::{self, IssueOptions};
use puente_pki::trust::{PeerEntry, TrustBundle};
use puente_pki::{files, CountryCa, CountryCode, PeerIdentity, Role, SigningKey};
use puente_policy::Agreement;
use puente_proto::v1 as pb;
use puente_records::model::{DocumentType, PartialDate, Sex, TravelDocument};
use puente_records::PersonRecord;
use time::OffsetDateTime;

use crate::state::NodeState;
use crate::{Node, NodeConfig};

/// One country's directory.
pub struct Country {
    /// Its code.
    pub code: CountryCode,
    dir: PathBuf,
    signing: SigningKey,
    ca_pem: String,
}

/// Sets up `code` under `base`, its peers listed at `127.0.0.1:1` (never dialled).
pub fn country(base: &Path, code: &str) -> Country {
    let now = OffsetDateTime::now_utc();
    let dir = base.join(code);
    let pki = dir.join("pki");
    let country = CountryCode::parse(code).unwrap();
    let ca = CountryCa::init(&pki, country, now).unwrap();
    let mut opts = IssueOptions::valid_for_days(now, ca::LEAF_VALIDITY_DAYS);
    opts.hosts = vec!["127.0.0.1".into()];
    let name = format!("{}-1", code.to_ascii_lowercase());
    let node = ca.issue(Role::Node, &name, &opts).unwrap();
    puente_records::DataKey::generate(&pki.join("data.key")).unwrap();
    files::create_private_dir(&dir.join("data")).unwrap();
    files::create_dir(&dir.join("agreements")).unwrap();
    TrustBundle::create_empty(&dir.join("trust.toml")).unwrap();
    let config = format!(
        "[node]\ncountry = \"{code}\"\nname = \"{name}\"\nlisten = \"127.0.0.1:1\"\ndata_dir = \"data\"\n\
         [tls]\nca = \"pki/{ca_cert}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n\
         [signing]\nkey = \"pki/{signing}\"\n[trust]\nfile = \"trust.toml\"\n\
         [records]\ndata_key = \"pki/data.key\"\n[server]\nmin_free_mb = 0\n[metrics]\nenabled = false\n",
        ca_cert = ca::CA_CERT,
        cert = node.cert_path.display(),
        key = node.key_path.display(),
        signing = ca::SIGNING_KEY,
    );
    std::fs::write(dir.join("puente.toml"), config).unwrap();
    Country {
        code: country,
        signing: SigningKey::load(&pki.join(ca::SIGNING_KEY)).unwrap(),
        ca_pem: ca.cert_pem().to_string(),
        dir,
    }
}

impl Country {
    /// Adds `other`'s public bundle to this country's trust file.
    pub fn trust(&self, other: &Country) {
        let entry = PeerEntry {
            country: other.code.to_string(),
            address: "127.0.0.1:1".into(),
            signing_key: other.signing.verifying_key().to_note_key(),
            ca_certificate: other.ca_pem.clone(),
            crl: None,
        };
        let peer = entry.validate(Path::new("test bundle")).unwrap();
        TrustBundle::add(&self.dir.join("trust.toml"), &peer).unwrap();
    }

    /// This country's node as a caller of another node.
    pub fn node(&self) -> PeerIdentity {
        PeerIdentity {
            country: self.code,
            role: Role::Node,
            name: format!("{}-1", self.code.as_str().to_ascii_lowercase()),
        }
    }

    /// One of this country's operators.
    pub fn operator(&self) -> PeerIdentity {
        PeerIdentity {
            country: self.code,
            role: Role::Operator,
            name: "officer".into(),
        }
    }

    /// The node's state over its store, as `Node` builds it (no listener).
    pub fn state(&self) -> Arc<NodeState> {
        let loaded = NodeConfig::load(&self.dir.join("puente.toml")).unwrap();
        Node::new(loaded).unwrap().state()
    }
}

/// Has `a` and `b` sign an agreement with `grants` (TOML `[[grant]]` blocks) and puts it
/// in both agreement directories.
pub fn agree(a: &Country, b: &Country, id: &str, grants: &str) {
    let text = format!(
        "format = \"puente-agreement/1\"\nid = \"{id}\"\nparties = [\"{}\", \"{}\"]\nvalid_from = \"2020-01-01\"\nvalid_until = \"2099-12-31\"\n{grants}",
        a.code, b.code
    );
    let mut agreement = Agreement::parse(&text, "test").unwrap();
    let now = OffsetDateTime::now_utc();
    agreement.sign(a.code, &a.signing, now).unwrap();
    agreement.sign(b.code, &b.signing, now).unwrap();
    for c in [a, b] {
        std::fs::write(
            c.dir.join("agreements").join(format!("{id}.toml")),
            agreement.to_text(),
        )
        .unwrap();
    }
}

/// A `[[grant]]` of identity queries (`queries_per_day` a day) and passport copies from
/// `provider` to `receiver`.
pub fn identity_grant(provider: &str, receiver: &str, queries_per_day: u32) -> String {
    let extra = format!("queries_per_day = {queries_per_day}\ncopies_per_day = 10");
    format!(
        "\n[[grant]]\nprovider = \"{provider}\"\nreceiver = \"{receiver}\"\nservices = [\"identity_query\", \"passport_copy\"]\npurposes = [\"identification\"]\nfields = [\"given_names\", \"surnames\", \"nationality\", \"document_number\", \"issuing_state\"]\nlegal_basis = \"test basis\"\nretention_days = 30\n{extra}\n"
    )
}

/// A person holding a passport `number` issued by BGD, protected against `against`.
pub fn person(record_id: &str, number: &str, against: &[&str]) -> PersonRecord {
    PersonRecord {
        record_id: record_id.into(),
        given_names: "RAHIM".into(),
        surnames: "UDDIN".into(),
        date_of_birth: PartialDate {
            year: 1990,
            month: Some(3),
            day: Some(14),
        },
        sex: Sex::M,
        nationality: "BGD".into(),
        document: Some(TravelDocument {
            document_type: DocumentType::Passport,
            number: number.into(),
            issuing_state: "BGD".into(),
            expiry: None,
            mrz: None,
        }),
        protection_status: if against.is_empty() { "" } else { "refugee" }.into(),
        protected_against: against.iter().map(|c| c.to_string()).collect(),
        vulnerabilities: Vec::new(),
        encounters: Vec::new(),
        passport_copy: None,
    }
}

/// An identity query for passport `number` issued by BGD, for identification.
pub fn passport_query(number: &str) -> pb::QueryIdentityRequest {
    pb::QueryIdentityRequest {
        context: Some(pb::RequestContext {
            purpose: pb::Purpose::Identification as i32,
            case_reference: "CASE-1".into(),
            ..Default::default()
        }),
        query: Some(pb::IdentityQuery {
            terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                document_number: number.into(),
                issuing_state: "BGD".into(),
                document_type: pb::DocumentType::Passport as i32,
            })),
        }),
        max_matches: 0,
    }
}

/// The audit entries of `state`, oldest first.
pub fn entries(state: &NodeState) -> Vec<puente_audit::Entry> {
    let trees = state.audit().trees();
    let size = trees.size().unwrap();
    (0..size)
        .map(|i| puente_audit::Entry::decode(&trees.entry_bytes(i).unwrap().unwrap()).unwrap())
        .collect()
}
