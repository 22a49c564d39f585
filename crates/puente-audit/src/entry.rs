//! Audit entries and their deterministic, versioned encoding, and the Merkle leaf each
//! one is. Entries hold digests and keyed hashes, never raw personal data.
//!
//! A version 2 entry starts with the digests of the request and the response, and its
//! leaf is the hash of a short commitment: those two digests and the digest of the rest
//! of the entry. So the counterpart of an exchange, given the three digests in its
//! receipt, recomputes the leaf itself and sees that the entry is about *its* request and
//! *the answer it got*, without seeing the rest (the decision, the rule, the keyed hashes
//! of the terms). Version 1 entries (written before) are their own leaf data.

use ring::digest;

use crate::error::AuditError;
use crate::merkle::{self, Hash};

/// Encoding version of [`Entry::encode`].
pub const VERSION: u8 = 2;
const MAGIC_V1: &[u8; 4] = b"PAE\x01";
const MAGIC: &[u8; 4] = b"PAE\x02";
/// Where the body (everything after the two digests) starts in a version 2 encoding.
const BODY: usize = 4 + 32 + 32;

/// One exchange, on one side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log (set when appended).
    pub index: u64,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// `puente.v1.Direction` number (1 incoming, 2 outgoing).
    pub direction: i32,
    /// The other country.
    pub peer_country: String,
    /// Who acted: the peer node's identity (incoming) or this country's operator (outgoing).
    pub actor: String,
    /// `puente.v1.Service` number.
    pub service: i32,
    /// `puente.v1.Purpose` number.
    pub purpose: i32,
    /// The asker's case reference.
    pub case_reference: String,
    /// The agreement that applied, if any.
    pub agreement_id: String,
    /// `puente.v1.Decision` number (allowed, refused, withheld).
    pub decision: i32,
    /// The rule that decided (e.g. `agreement.purpose_not_granted`, `protection.protected_against`).
    pub rule: String,
    /// The reason as given (policy text, never personal data).
    pub reason: String,
    /// `puente.v1.DisclosableField` numbers disclosed.
    pub disclosed_fields: Vec<i32>,
    /// SHA-256 of the request as received or sent.
    pub request_sha256: [u8; 32],
    /// SHA-256 of the response (receipt cleared), or of the document bytes.
    pub response_sha256: [u8; 32],
    /// Keyed hashes (HMAC-SHA256, audit key) of the query terms, labelled.
    pub query_term_hashes: Vec<(String, [u8; 32])>,
    /// The counterpart's receipt (prost-encoded `puente.v1.Receipt`), on outgoing entries.
    pub counterpart_receipt: Option<Vec<u8>>,
}

/// Writes `s` with its length in two bytes. Text past 65,535 bytes is cut at the last
/// character boundary before it (no field comes near: reasons are cut at 300
/// characters, names and references are checked far below), so an entry always decodes.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AuditError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| AuditError::Decode(format!("truncated at byte {}", self.at)))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, AuditError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, AuditError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, AuditError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, AuditError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn i32(&mut self) -> Result<i32, AuditError> {
        Ok(self.u32()? as i32)
    }
    fn hash(&mut self) -> Result<[u8; 32], AuditError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
}

/// The leaf data of a version 2 entry: its magic, the request and response digests and
/// the SHA-256 of its body.
pub fn commitment(request_sha256: &Hash, response_sha256: &Hash, body_sha256: &Hash) -> Hash {
    let mut data = [0u8; 4 + 32 * 3];
    data[..4].copy_from_slice(MAGIC);
    data[4..36].copy_from_slice(request_sha256);
    data[36..68].copy_from_slice(response_sha256);
    data[68..].copy_from_slice(body_sha256);
    merkle::leaf_hash(&data)
}

/// The three digests a receipt shows of a version 2 entry (request, response, body);
/// `None` for an older entry.
pub fn digests(bytes: &[u8]) -> Option<(Hash, Hash, Hash)> {
    if bytes.len() < BODY || &bytes[..4] != MAGIC {
        return None;
    }
    let mut req = [0u8; 32];
    let mut resp = [0u8; 32];
    req.copy_from_slice(&bytes[4..36]);
    resp.copy_from_slice(&bytes[36..68]);
    let mut body = [0u8; 32];
    body.copy_from_slice(digest::digest(&digest::SHA256, &bytes[BODY..]).as_ref());
    Some((req, resp, body))
}

/// The RFC 6962 leaf hash of an encoded entry (of any version).
pub fn leaf_of(bytes: &[u8]) -> Hash {
    match digests(bytes) {
        Some((req, resp, body)) => commitment(&req, &resp, &body),
        None => merkle::leaf_hash(bytes),
    }
}

impl Entry {
    /// The deterministic encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.request_sha256);
        out.extend_from_slice(&self.response_sha256);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        for n in [self.direction, self.service, self.purpose, self.decision] {
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        for s in [
            &self.peer_country,
            &self.actor,
            &self.case_reference,
            &self.agreement_id,
            &self.rule,
            &self.reason,
        ] {
            put_str(&mut out, s);
        }
        out.push(u8::try_from(self.disclosed_fields.len()).unwrap_or(u8::MAX));
        for f in self.disclosed_fields.iter().take(255) {
            out.extend_from_slice(&(*f as u32).to_be_bytes());
        }
        out.push(u8::try_from(self.query_term_hashes.len()).unwrap_or(u8::MAX));
        for (label, h) in self.query_term_hashes.iter().take(255) {
            put_str(&mut out, label);
            out.extend_from_slice(h);
        }
        match &self.counterpart_receipt {
            None => out.push(0),
            Some(r) => {
                out.push(1);
                out.extend_from_slice(&(r.len() as u32).to_be_bytes());
                out.extend_from_slice(r);
            }
        }
        out
    }

    /// Decodes an encoding, strictly (no trailing bytes, known version).
    pub fn decode(bytes: &[u8]) -> Result<Self, AuditError> {
        EntryRef::parse(bytes).map(|r| r.to_entry())
    }
}

/// An entry read in place: the same strict decoding as [`Entry::decode`], with the text
/// fields, the terms and the receipt borrowed from the encoding instead of copied (a
/// node's start reads a day of entries to recount its quotas: a million at a million
/// entries a day, where a dozen allocations an entry were most of the cost).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// Position in the log.
    pub index: u64,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// `puente.v1.Direction` number.
    pub direction: i32,
    /// The other country.
    pub peer_country: &'a str,
    /// Who acted.
    pub actor: &'a str,
    /// `puente.v1.Service` number.
    pub service: i32,
    /// `puente.v1.Purpose` number.
    pub purpose: i32,
    /// The asker's case reference.
    pub case_reference: &'a str,
    /// The agreement that applied, if any.
    pub agreement_id: &'a str,
    /// `puente.v1.Decision` number.
    pub decision: i32,
    /// The rule that decided.
    pub rule: &'a str,
    /// The reason as given.
    pub reason: &'a str,
    /// SHA-256 of the request.
    pub request_sha256: [u8; 32],
    /// SHA-256 of the response.
    pub response_sha256: [u8; 32],
    /// The counterpart's receipt, on outgoing entries.
    pub counterpart_receipt: Option<&'a [u8]>,
    /// The disclosed fields' numbers, 4 bytes each (checked).
    disclosed: &'a [u8],
    /// The labelled term hashes as encoded (checked), and how many.
    terms: &'a [u8],
    term_count: u8,
}

impl<'a> Reader<'a> {
    fn str(&mut self) -> Result<&'a str, AuditError> {
        let n = usize::from(self.u16()?);
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| AuditError::Decode("a text field is not UTF-8".into()))
    }
}

impl<'a> EntryRef<'a> {
    /// Reads an encoding, strictly (no trailing bytes, known version).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, AuditError> {
        let mut r = Reader { b: bytes, at: 0 };
        let v2 = match r.take(4)? {
            m if m == MAGIC => true,
            m if m == MAGIC_V1 => false,
            _ => {
                return Err(AuditError::Decode(
                    "not a version 1 or 2 audit entry".into(),
                ))
            }
        };
        let (mut request_sha256, mut response_sha256) = ([0u8; 32], [0u8; 32]);
        if v2 {
            request_sha256 = r.hash()?;
            response_sha256 = r.hash()?;
        }
        let index = r.u64()?;
        let time_ms = r.u64()? as i64;
        let direction = r.i32()?;
        let service = r.i32()?;
        let purpose = r.i32()?;
        let decision = r.i32()?;
        let peer_country = r.str()?;
        let actor = r.str()?;
        let case_reference = r.str()?;
        let agreement_id = r.str()?;
        let rule = r.str()?;
        let reason = r.str()?;
        let fields = usize::from(r.u8()?);
        let disclosed = r.take(fields * 4)?;
        if !v2 {
            request_sha256 = r.hash()?;
            response_sha256 = r.hash()?;
        }
        let term_count = r.u8()?;
        let terms_at = r.at;
        for _ in 0..term_count {
            r.str()?;
            r.hash()?;
        }
        let terms = &bytes[terms_at..r.at];
        let counterpart_receipt = match r.u8()? {
            0 => None,
            1 => {
                let n = r.u32()? as usize;
                Some(r.take(n)?)
            }
            other => return Err(AuditError::Decode(format!("receipt flag {other}"))),
        };
        if r.at != bytes.len() {
            return Err(AuditError::Decode(format!(
                "{} trailing bytes",
                bytes.len() - r.at
            )));
        }
        Ok(Self {
            index,
            time_ms,
            direction,
            peer_country,
            actor,
            service,
            purpose,
            case_reference,
            agreement_id,
            decision,
            rule,
            reason,
            request_sha256,
            response_sha256,
            counterpart_receipt,
            disclosed,
            terms,
            term_count,
        })
    }

    /// `puente.v1.DisclosableField` numbers disclosed.
    pub fn disclosed_fields(&self) -> impl Iterator<Item = i32> + 'a {
        self.disclosed
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i32)
    }

    /// The keyed hashes of the query terms, labelled.
    pub fn query_term_hashes(&self) -> impl Iterator<Item = (&'a str, [u8; 32])> + 'a {
        // Checked by `parse`: every read succeeds.
        let mut r = Reader {
            b: self.terms,
            at: 0,
        };
        (0..self.term_count).map_while(move |_| Some((r.str().ok()?, r.hash().ok()?)))
    }

    /// The entry, owned.
    pub fn to_entry(&self) -> Entry {
        Entry {
            index: self.index,
            time_ms: self.time_ms,
            direction: self.direction,
            peer_country: self.peer_country.to_owned(),
            actor: self.actor.to_owned(),
            service: self.service,
            purpose: self.purpose,
            case_reference: self.case_reference.to_owned(),
            agreement_id: self.agreement_id.to_owned(),
            decision: self.decision,
            rule: self.rule.to_owned(),
            reason: self.reason.to_owned(),
            disclosed_fields: self.disclosed_fields().collect(),
            request_sha256: self.request_sha256,
            response_sha256: self.response_sha256,
            query_term_hashes: self
                .query_term_hashes()
                .map(|(l, h)| (l.to_owned(), h))
                .collect(),
            counterpart_receipt: self.counterpart_receipt.map(<[u8]>::to_vec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let e = Entry {
            index: 7,
            time_ms: 1_700_000_000_123,
            direction: 1,
            peer_country: "GTM".into(),
            actor: "urn:puente:GTM:node:gtm-1".into(),
            service: 1,
            purpose: 2,
            case_reference: "EXP-1".into(),
            agreement_id: "MEX-GTM-1".into(),
            decision: 1,
            rule: "agreement.granted".into(),
            reason: String::new(),
            disclosed_fields: vec![1, 2, 3],
            request_sha256: [1; 32],
            response_sha256: [2; 32],
            query_term_hashes: vec![("document".into(), [3; 32])],
            counterpart_receipt: Some(vec![9, 9, 9]),
        };
        let b = e.encode();
        assert_eq!(Entry::decode(&b).unwrap(), e);
        assert_eq!(e.encode(), b, "deterministic");
        let mut longer = b.clone();
        longer.push(0);
        assert!(Entry::decode(&longer).is_err());
        assert!(Entry::decode(&b[..b.len() - 1]).is_err());
        // The leaf commits to the request and response digests, and to the rest.
        let (req, resp, body) = digests(&b).unwrap();
        assert_eq!((req, resp), ([1; 32], [2; 32]));
        assert_eq!(leaf_of(&b), commitment(&req, &resp, &body));
        let mut other = e.clone();
        other.rule = "agreement.other".into();
        assert_ne!(leaf_of(&other.encode()), leaf_of(&b));
    }

    #[test]
    fn read_in_place_is_as_strict_as_decoding() {
        let e = Entry {
            index: 9,
            peer_country: "HND".into(),
            agreement_id: "MEX-HND-1".into(),
            disclosed_fields: vec![4, 5],
            query_term_hashes: vec![("document".into(), [3; 32]), ("names".into(), [4; 32])],
            counterpart_receipt: Some(vec![1, 2]),
            ..Entry::default()
        };
        let b = e.encode();
        let r = EntryRef::parse(&b).unwrap();
        assert_eq!(r.to_entry(), e);
        assert_eq!(
            r.query_term_hashes().collect::<Vec<_>>(),
            vec![("document", [3; 32]), ("names", [4; 32])]
        );
        assert_eq!(r.disclosed_fields().collect::<Vec<_>>(), vec![4, 5]);
        for n in 0..b.len() {
            assert!(EntryRef::parse(&b[..n]).is_err(), "cut at {n}");
        }
        // A term's label that is not UTF-8 is refused when the entry is read, not
        // skipped when its terms are listed.
        let at = b.windows(5).position(|w| w == b"names").unwrap();
        let mut bad = b.clone();
        bad[at] = 0xff;
        assert!(EntryRef::parse(&bad).is_err());
        assert!(Entry::decode(&bad).is_err());
    }

    #[test]
    fn text_past_the_length_limit_is_cut_on_a_character_and_still_decodes() {
        // 'é' is two bytes: 32,768 of them end one byte past the limit of 65,535.
        let e = Entry {
            reason: "é".repeat(32_768),
            ..Entry::default()
        };
        let d = Entry::decode(&e.encode()).expect("an over-long text still decodes");
        assert_eq!(d.reason, "é".repeat(32_767));
        let short = Entry {
            reason: "ok é".into(),
            ..Entry::default()
        };
        assert_eq!(Entry::decode(&short.encode()).unwrap(), short);
    }

    #[test]
    fn version_1_entries_still_decode_and_are_their_own_leaf_data() {
        let e = Entry {
            index: 3,
            request_sha256: [4; 32],
            response_sha256: [5; 32],
            rule: "agreement.granted".into(),
            ..Entry::default()
        };
        // The version 1 layout: digests after the disclosed fields.
        let mut v1 = MAGIC_V1.to_vec();
        v1.extend_from_slice(&3u64.to_be_bytes());
        v1.extend_from_slice(&0u64.to_be_bytes());
        v1.extend_from_slice(&[0; 16]);
        for s in ["", "", "", "", "agreement.granted", ""] {
            put_str(&mut v1, s);
        }
        v1.push(0);
        v1.extend_from_slice(&[4; 32]);
        v1.extend_from_slice(&[5; 32]);
        v1.extend_from_slice(&[0, 0]);
        assert_eq!(Entry::decode(&v1).unwrap(), e);
        assert_eq!(digests(&v1), None);
        assert_eq!(leaf_of(&v1), merkle::leaf_hash(&v1));
    }
}
