//! References handed out with matches: opaque random tokens, bound to the country that
//! received them and to the agreement, valid for a limited time. `GetDocument` accepts a
//! reference only from the country it was issued to, before it expires; any other case
//! looks exactly like an unknown reference.

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::StoreError;

/// What a reference stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// Internal id of the record.
    pub record: u64,
    /// The country it was issued to.
    pub country: String,
    /// The agreement under which it was issued.
    pub agreement: String,
    /// Unix time after which it is void.
    pub expires: i64,
}

/// The references tree.
#[derive(Clone, Debug)]
pub struct RefStore {
    tree: sled::Tree,
    rng: SystemRandom,
}

impl RefStore {
    /// Opens the tree in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            tree: db
                .open_tree("references")
                .map_err(|source| StoreError::Io {
                    what: "opening references",
                    source,
                })?,
            rng: SystemRandom::new(),
        })
    }

    /// Issues a reference.
    pub fn issue(&self, r: &Reference) -> Result<String, StoreError> {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).map_err(|_| StoreError::Io {
            what: "random reference",
            source: sled::Error::Unsupported("no randomness".into()),
        })?;
        let token = format!("ref-{}", hex::encode(bytes));
        let value = serde_json::to_vec(r).map_err(|e| StoreError::Io {
            what: "encoding a reference",
            source: sled::Error::Unsupported(e.to_string()),
        })?;
        self.tree
            .insert(token.as_bytes(), value)
            .map_err(|source| StoreError::Io {
                what: "storing a reference",
                source,
            })?;
        Ok(token)
    }

    /// Resolves `token` for `country` at `now`; `None` when unknown, foreign or expired.
    pub fn resolve(
        &self,
        token: &str,
        country: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Reference>, StoreError> {
        if token.len() > 64 {
            return Ok(None);
        }
        let Some(v) = self
            .tree
            .get(token.as_bytes())
            .map_err(|source| StoreError::Io {
                what: "reading a reference",
                source,
            })?
        else {
            return Ok(None);
        };
        let Ok(r) = serde_json::from_slice::<Reference>(&v) else {
            return Ok(None);
        };
        if r.country != country {
            return Ok(None);
        }
        if now.unix_timestamp() >= r.expires {
            let _ = self.tree.remove(token.as_bytes());
            return Ok(None);
        }
        Ok(Some(r))
    }

    /// Removes expired references.
    pub fn purge(&self, now: OffsetDateTime) -> usize {
        let mut n = 0;
        for (k, v) in self.tree.iter().flatten() {
            if serde_json::from_slice::<Reference>(&v)
                .map(|r| now.unix_timestamp() >= r.expires)
                .unwrap_or(true)
            {
                let _ = self.tree.remove(k);
                n += 1;
            }
        }
        n
    }
}
