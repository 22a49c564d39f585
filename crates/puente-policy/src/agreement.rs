//! The agreement document: TOML in a versioned format, its validation, its signatures and
//! its plain-words rendering.
//!
//! The signed bytes are the exact text of the document above the signature marker line
//! (with a domain prefix): what the parties read is what they signed, and any changed
//! byte, comments included, voids every signature. `puente agreement sign` appends a
//! `[[signature]]` table below the marker; the whole file stays valid TOML.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use puente_pki::{CountryCode, SigningKey, VerifyingKey};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::error::AgreementError;
use crate::vocab::{self, Field, Mode, Purpose, Service, Term};

/// Format tag every agreement starts with.
pub const FORMAT: &str = "puente-agreement/1";
/// The line separating the signed text from the signatures.
pub const SIGNATURE_MARKER: &str =
    "# ---- signatures: the parties signed the exact text above this line; do not edit it ----";
const DOMAIN: &[u8] = b"puente-agreement-signature/v1\n";
/// Most matches an agreement may allow per query.
pub const MAX_MATCHES_LIMIT: u32 = 100;
/// The largest `max_batch` a grant may set for `manifest_check` (a wide-body flight).
pub const MAX_BATCH_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyFile {
    format: String,
    id: String,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    parties: Vec<String>,
    valid_from: String,
    valid_until: String,
    #[serde(default, rename = "grant")]
    grants: Vec<GrantFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignaturesFile {
    #[serde(default, rename = "signature")]
    signatures: Vec<SignatureFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    provider: String,
    receiver: String,
    services: Vec<String>,
    purposes: Vec<String>,
    #[serde(default)]
    fields: Vec<String>,
    legal_basis: String,
    #[serde(default)]
    modes: BTreeMap<String, String>,
    #[serde(default)]
    queries_per_day: Option<u32>,
    #[serde(default)]
    copies_per_day: Option<u32>,
    retention_days: u32,
    #[serde(default)]
    max_matches: Option<u32>,
    #[serde(default)]
    small_cell_threshold: Option<u32>,
    #[serde(default)]
    secondary_suppression: Option<bool>,
    #[serde(default)]
    travellers_per_day: Option<u32>,
    #[serde(default)]
    max_batch: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    country: String,
    key: String,
    signed_at: String,
    value: String,
}

/// What one country may obtain from the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The country that answers.
    pub provider: CountryCode,
    /// The country that asks.
    pub receiver: CountryCode,
    /// Services the receiver may call.
    pub services: BTreeSet<Service>,
    /// Purposes it may invoke.
    pub purposes: BTreeSet<Purpose>,
    /// Fields that may be disclosed to it.
    pub fields: BTreeSet<Field>,
    /// Mode per service (absent: full).
    pub modes: BTreeMap<Service, Mode>,
    /// The legal basis, as the parties wrote it.
    pub legal_basis: String,
    /// Identity queries per UTC day (0 when the service is not granted).
    pub queries_per_day: u32,
    /// Passport copies per UTC day (0 when the service is not granted).
    pub copies_per_day: u32,
    /// Days the receiver may keep what it gets.
    pub retention_days: u32,
    /// Most matches returned per query.
    pub max_matches: u32,
    /// Counts below this are suppressed (flow counts).
    pub small_cell_threshold: u32,
    /// Whether complementary cells are suppressed too.
    pub secondary_suppression: bool,
    /// Travellers checked per UTC day by `manifest_check` (one quota unit each; 0 when
    /// the service is not granted).
    pub travellers_per_day: u32,
    /// Most travellers in one `manifest_check` batch (0 when not granted).
    pub max_batch: u32,
}

impl Grant {
    /// The mode of `service` under this grant.
    pub fn mode(&self, service: Service) -> Mode {
        self.modes.get(&service).copied().unwrap_or(Mode::Full)
    }
}

/// A party's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The signing party.
    pub country: CountryCode,
    /// Name of the key used.
    pub key: String,
    /// When it was signed (as written).
    pub signed_at: String,
    /// Ed25519 signature.
    pub value: Vec<u8>,
}

/// A parsed, validated agreement (not necessarily signed: see [`Agreement::verify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// Its id, e.g. `MEX-GTM-2026-01`.
    pub id: String,
    /// Raised by each amendment (1 when the text does not say): for each id a node
    /// enforces the highest version that verifies and has started (see [`current_versions`]).
    pub version: u32,
    /// An optional title.
    pub title: Option<String>,
    /// The two parties.
    pub parties: [CountryCode; 2],
    /// First instant it applies.
    pub valid_from: OffsetDateTime,
    /// First instant it no longer applies (the day after `valid_until` as written).
    pub valid_until: OffsetDateTime,
    /// One grant per direction at most.
    pub grants: Vec<Grant>,
    /// Signatures found below the marker.
    pub signatures: Vec<Signature>,
    body: String,
}

impl Agreement {
    /// Parses and validates a document; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, AgreementError> {
        let invalid = |problems: Vec<String>| AgreementError::Invalid {
            origin: origin.to_string(),
            problems,
        };
        // The signed text and the signatures are parsed apart, so nothing written below
        // the marker can add to what the parties agreed.
        let (body, tail) = match text.find(SIGNATURE_MARKER) {
            Some(at) => (&text[..at], &text[at + SIGNATURE_MARKER.len()..]),
            None => (text, ""),
        };
        let file: BodyFile = toml::from_str(body).map_err(|e| invalid(vec![e.to_string()]))?;
        let sigs: SignaturesFile = toml::from_str(tail).map_err(|e| {
            invalid(vec![format!(
                "below the signature marker (only [[signature]] tables may appear there): {e}"
            )])
        })?;
        let mut p = Vec::new();
        if file.format != FORMAT {
            p.push(format!("format: {:?} is not {FORMAT:?}", file.format));
        }
        if !valid_id(&file.id) {
            p.push(format!(
                "id: {:?} must be 3-64 characters A-Z, 0-9, '-', '_' or '.'",
                file.id
            ));
        }
        let version = match file.version {
            None => 1,
            Some(v) if (1..=i64::from(u32::MAX)).contains(&v) => v as u32,
            Some(v) => {
                p.push(format!("version: {v} is not a whole number from 1 up"));
                1
            }
        };
        let mut parties = Vec::new();
        for (i, c) in file.parties.iter().enumerate() {
            match CountryCode::parse(c) {
                Ok(c) => parties.push(c),
                Err(e) => p.push(format!("parties[{i}]: {e}")),
            }
        }
        if file.parties.len() != 2 {
            p.push(format!(
                "parties: a bilateral agreement has exactly 2 parties, found {}",
                file.parties.len()
            ));
        } else if parties.len() == 2 && parties[0] == parties[1] {
            p.push(format!("parties: both parties are {}", parties[0]));
        }
        let valid_from = parse_start(&file.valid_from)
            .map_err(|e| p.push(format!("valid_from: {e}")))
            .ok();
        let valid_until = parse_end(&file.valid_until)
            .map_err(|e| p.push(format!("valid_until: {e}")))
            .ok();
        if let (Some(f), Some(u)) = (valid_from, valid_until) {
            if u <= f {
                p.push("valid_until: ends before valid_from".into());
            }
        }
        let mut grants: Vec<Grant> = Vec::new();
        for (i, g) in file.grants.iter().enumerate() {
            if let Some(grant) = parse_grant(g, &format!("grant[{i}]"), &parties, &mut p) {
                if grants
                    .iter()
                    .any(|o| o.provider == grant.provider && o.receiver == grant.receiver)
                {
                    p.push(format!(
                        "grant[{i}]: a second grant from {} to {}; write one grant per direction",
                        grant.provider, grant.receiver
                    ));
                }
                grants.push(grant);
            }
        }
        if file.grants.is_empty() {
            p.push("grant: an agreement must grant something in at least one direction".into());
        }
        let mut signatures = Vec::new();
        for (i, s) in sigs.signatures.iter().enumerate() {
            let country = CountryCode::parse(&s.country)
                .map_err(|e| p.push(format!("signature[{i}].country: {e}")))
                .ok();
            let value = B64
                .decode(s.value.trim())
                .map_err(|e| p.push(format!("signature[{i}].value: not base64: {e}")))
                .ok();
            if let (Some(country), Some(value)) = (country, value) {
                signatures.push(Signature {
                    country,
                    key: s.key.clone(),
                    signed_at: s.signed_at.clone(),
                    value,
                });
            }
        }
        match (p.is_empty(), valid_from, valid_until) {
            (true, Some(valid_from), Some(valid_until)) if parties.len() == 2 => Ok(Self {
                id: file.id,
                version,
                title: file.title,
                parties: [parties[0], parties[1]],
                valid_from,
                valid_until,
                grants,
                signatures,
                body: body.to_string(),
            }),
            _ => Err(invalid(p)),
        }
    }

    /// The exact bytes the parties sign.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = DOMAIN.to_vec();
        out.extend_from_slice(self.body.as_bytes());
        out
    }

    /// Whether `country` is a party.
    pub fn is_party(&self, country: CountryCode) -> bool {
        self.parties.contains(&country)
    }

    /// The grant from `provider` to `receiver`, if any.
    pub fn grant(&self, provider: CountryCode, receiver: CountryCode) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|g| g.provider == provider && g.receiver == receiver)
    }

    /// Checks that both parties signed with their keys. `key_of` gives a party's current
    /// key (own key from the config, peers' from the trust bundle).
    pub fn verify(
        &self,
        key_of: impl Fn(CountryCode) -> Option<VerifyingKey>,
    ) -> Result<(), AgreementError> {
        let id = self.id.clone();
        for (i, s) in self.signatures.iter().enumerate() {
            if !self.is_party(s.country) {
                return Err(AgreementError::StraySignature {
                    id,
                    reason: format!("{} signed but is not a party", s.country),
                });
            }
            if self.signatures[..i].iter().any(|o| o.country == s.country) {
                return Err(AgreementError::StraySignature {
                    id,
                    reason: format!("{} signed twice", s.country),
                });
            }
        }
        let message = self.signed_bytes();
        for party in self.parties {
            let sig = self
                .signatures
                .iter()
                .find(|s| s.country == party)
                .ok_or_else(|| AgreementError::MissingSignature {
                    id: id.clone(),
                    country: party.to_string(),
                })?;
            let key = key_of(party).ok_or_else(|| AgreementError::UnknownParty {
                id: id.clone(),
                country: party.to_string(),
            })?;
            if key.name() != sig.key {
                return Err(AgreementError::WrongKey {
                    id: id.clone(),
                    country: party.to_string(),
                    key: sig.key.clone(),
                    expected: key.name().to_string(),
                });
            }
            if !key.verify(&message, &sig.value) {
                return Err(AgreementError::BadSignature {
                    id: id.clone(),
                    country: party.to_string(),
                    key: sig.key.clone(),
                });
            }
        }
        Ok(())
    }

    /// Adds (or replaces) `country`'s signature made with `key`.
    pub fn sign(
        &mut self,
        country: CountryCode,
        key: &SigningKey,
        now: OffsetDateTime,
    ) -> Result<(), AgreementError> {
        if !self.is_party(country) {
            return Err(AgreementError::NotAParty {
                id: self.id.clone(),
                country: country.to_string(),
                parties: format!("{}, {}", self.parties[0], self.parties[1]),
            });
        }
        if !self.body.ends_with('\n') {
            if !self.signatures.is_empty() {
                return Err(AgreementError::StraySignature {
                    id: self.id.clone(),
                    reason: "the signed text does not end with a newline".into(),
                });
            }
            self.body.push('\n');
        }
        let value = key.sign(&self.signed_bytes()).to_vec();
        self.signatures.retain(|s| s.country != country);
        self.signatures.push(Signature {
            country,
            key: key.name().to_string(),
            signed_at: now.format(&Rfc3339).unwrap_or_default(),
            value,
        });
        Ok(())
    }

    /// The document text: the signed body, the marker, the signatures.
    pub fn to_text(&self) -> String {
        let mut out = self.body.clone();
        if self.signatures.is_empty() {
            return out;
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(SIGNATURE_MARKER);
        out.push('\n');
        for s in &self.signatures {
            let _ = write!(
                out,
                "\n[[signature]]\ncountry = \"{}\"\nkey = \"{}\"\nsigned_at = \"{}\"\nvalue = \"{}\"\n",
                s.country,
                s.key,
                s.signed_at,
                B64.encode(&s.value)
            );
        }
        out
    }

    /// The agreement in plain words.
    pub fn describe(&self) -> String {
        let [a, b] = self.parties;
        let mut out = format!(
            "Agreement {} version {} between {a} ({}) and {b} ({}), in force from {} to {} (UTC).\n",
            self.id,
            self.version,
            a.name(),
            b.name(),
            self.valid_from.date(),
            (self.valid_until - Duration::days(1)).date()
        );
        if let Some(t) = &self.title {
            let _ = writeln!(out, "  {t}");
        }
        for (provider, receiver) in [(a, b), (b, a)] {
            match self.grant(provider, receiver) {
                None => {
                    let _ = writeln!(out, "- {receiver} may ask {provider} for nothing.");
                }
                Some(g) => out.push_str(&describe_grant(g, self.valid_until)),
            }
        }
        if self.signatures.is_empty() {
            out.push_str("Not signed yet.\n");
        }
        for s in &self.signatures {
            let _ = writeln!(
                out,
                "Signed by {} with key {} at {}.",
                s.country, s.key, s.signed_at
            );
        }
        out
    }
}

fn describe_grant(g: &Grant, until: OffsetDateTime) -> String {
    let services: Vec<String> = g
        .services
        .iter()
        .map(|s| match g.mode(*s) {
            Mode::HitNoHit => format!("{} (hit/no-hit only)", vocab::service_words(*s)),
            _ => vocab::service_words(*s).to_string(),
        })
        .collect();
    let mut out = format!(
        "- {} may ask {} for {}, purposes {}",
        g.receiver,
        g.provider,
        join_words(&services),
        join_words(
            &g.purposes
                .iter()
                .map(|p| vocab::words(*p))
                .collect::<Vec<_>>()
        )
    );
    if g.services.contains(&Service::IdentityQuery) {
        let _ = write!(
            out,
            ", fields {}",
            join_words(
                &g.fields
                    .iter()
                    .map(|f| vocab::words(*f))
                    .collect::<Vec<_>>()
            )
        );
    }
    let _ = write!(out, ", until {}.", (until - Duration::days(1)).date());
    let mut limits = Vec::new();
    if g.services.contains(&Service::IdentityQuery) {
        limits.push(format!(
            "{} identity queries a day, at most {} matches each",
            g.queries_per_day, g.max_matches
        ));
    }
    if g.services.contains(&Service::PassportCopy) {
        limits.push(format!("{} passport copies a day", g.copies_per_day));
    }
    if g.services.contains(&Service::ManifestCheck) {
        limits.push(format!(
            "{} travellers checked a day, at most {} in one batch, hit/no-hit only",
            g.travellers_per_day, g.max_batch
        ));
    }
    if g.services.contains(&Service::FlowCounts) {
        limits.push(format!(
            "counts below {} suppressed{}",
            g.small_cell_threshold,
            if g.secondary_suppression {
                " with secondary suppression"
            } else {
                ""
            }
        ));
    }
    limits.push(format!(
        "{} keeps what it receives at most {} days",
        g.receiver, g.retention_days
    ));
    let _ = write!(
        out,
        "\n  Limits: {}.\n  Legal basis: {}\n",
        limits.join("; "),
        g.legal_basis.trim()
    );
    out
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => "nothing".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

mod parse;
mod template;
mod versions;
use parse::*;
pub use template::draft;
pub use versions::current_versions;
