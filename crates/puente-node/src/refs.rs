//! References handed out with matches: opaque tokens, bound to the country that received
//! them, to the agreement and to the mode (full or hit/no-hit) they were issued under,
//! valid for a limited time. `GetDocument` accepts a reference only from the country it
//! was issued to, before it expires, under the same agreement, and only if it was issued
//! with a full answer; any other case looks exactly like an unknown reference.
//!
//! A reference is sealed, not stored: the record id, agreement and expiry are encrypted
//! and authenticated (ChaCha20-Poly1305, a sub-key of the node's data key) with the
//! receiving country as associated data. Nothing is written per match, nothing
//! accumulates, and a reference still opens after a restart until it expires; a peer
//! learns nothing from it (not even whether two references name the same person).

use std::sync::Arc;

use base64::Engine;
use puente_records::DataKey;
use time::OffsetDateTime;

use crate::store::StoreError;

/// What a reference stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Internal id of the record.
    pub record: u64,
    /// The country it was issued to.
    pub country: String,
    /// The agreement under which it was issued.
    pub agreement: String,
    /// Issued with a full answer (a hit/no-hit answer's reference fetches nothing).
    pub full: bool,
    /// Unix time after which it is void.
    pub expires: i64,
}

/// Longest reference this node issues (agreement ids are at most 64 characters).
pub const MAX_REFERENCE_LEN: usize = 200;
const PREFIX: &str = "ref-";
const DOMAIN: &[u8] = b"puente-reference/v2\0";

/// Issues and opens references.
#[derive(Clone, Debug)]
pub struct RefStore {
    key: Arc<DataKey>,
}

fn aad(country: &str) -> Vec<u8> {
    let mut a = DOMAIN.to_vec();
    a.extend_from_slice(country.as_bytes());
    a
}

impl RefStore {
    /// References sealed with `key`.
    pub fn new(key: Arc<DataKey>) -> Self {
        Self { key }
    }

    /// Issues a reference.
    pub fn issue(&self, r: &Reference) -> Result<String, StoreError> {
        let mut plain = Vec::with_capacity(17 + r.agreement.len());
        plain.extend_from_slice(&r.record.to_be_bytes());
        plain.extend_from_slice(&r.expires.to_be_bytes());
        plain.push(u8::from(r.full));
        plain.extend_from_slice(r.agreement.as_bytes());
        let sealed = self
            .key
            .seal_reference(&aad(&r.country), &plain)
            .map_err(|e| StoreError::Io {
                what: "sealing a reference",
                source: sled::Error::Unsupported(e.to_string()),
            })?;
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// Resolves `token` for `country` at `now`; `None` when unknown, foreign, altered or
    /// expired.
    pub fn resolve(
        &self,
        token: &str,
        country: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Reference>, StoreError> {
        if token.len() > MAX_REFERENCE_LEN {
            return Ok(None);
        }
        let Some(body) = token.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let Ok(sealed) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body) else {
            return Ok(None);
        };
        let Ok(plain) = self.key.open_reference(&aad(country), &sealed) else {
            return Ok(None);
        };
        if plain.len() < 17 {
            return Ok(None);
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&plain[..8]);
        let record = u64::from_be_bytes(b);
        b.copy_from_slice(&plain[8..16]);
        let expires = i64::from_be_bytes(b);
        let full = match plain[16] {
            0 => false,
            1 => true,
            _ => return Ok(None),
        };
        let Ok(agreement) = String::from_utf8(plain[17..].to_vec()) else {
            return Ok(None);
        };
        if now.unix_timestamp() >= expires {
            return Ok(None);
        }
        Ok(Some(Reference {
            record,
            country: country.to_string(),
            agreement,
            full,
            expires,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> RefStore {
        RefStore::new(Arc::new(DataKey::from_secret(&[7u8; 32]).unwrap()))
    }

    #[test]
    fn a_reference_opens_only_for_its_country_until_it_expires() {
        let refs = store();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let r = Reference {
            record: 42,
            country: "MEX".into(),
            agreement: "GTM-MEX-2026-01".into(),
            full: true,
            expires: now.unix_timestamp() + 600,
        };
        let token = refs.issue(&r).unwrap();
        assert!(token.len() <= MAX_REFERENCE_LEN, "{}", token.len());
        // The longest agreement id (64 characters) still fits: 150 characters, more than
        // the 128 the contract once said.
        let longest = refs
            .issue(&Reference {
                agreement: "A".repeat(64),
                record: u64::MAX,
                ..r.clone()
            })
            .unwrap();
        assert!(longest.len() <= MAX_REFERENCE_LEN, "{}", longest.len());
        assert_eq!(refs.resolve(&token, "MEX", now).unwrap(), Some(r.clone()));
        // Another country, after expiry, altered, another node's key, garbage: all unknown.
        assert_eq!(refs.resolve(&token, "SLV", now).unwrap(), None);
        let later = now + time::Duration::seconds(600);
        assert_eq!(refs.resolve(&token, "MEX", later).unwrap(), None);
        let mut altered = token.clone().into_bytes();
        let i = altered.len() - 5;
        altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(refs.resolve(&altered, "MEX", now).unwrap(), None);
        let other = RefStore::new(Arc::new(DataKey::from_secret(&[8u8; 32]).unwrap()));
        assert_eq!(other.resolve(&token, "MEX", now).unwrap(), None);
        for junk in ["", "ref-", "ref-!!!", "xyz", &"ref-A".repeat(100)] {
            assert_eq!(refs.resolve(junk, "MEX", now).unwrap(), None, "{junk}");
        }
        let hit = Reference {
            full: false,
            ..r.clone()
        };
        let hit_token = refs.issue(&hit).unwrap();
        assert_eq!(refs.resolve(&hit_token, "MEX", now).unwrap(), Some(hit));
        // Two references to the same record do not look alike.
        assert_ne!(refs.issue(&r).unwrap(), token);
    }
}
