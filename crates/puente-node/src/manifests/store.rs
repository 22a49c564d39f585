//! Where manifests rest: one sled tree of sealed manifests (ChaCha20-Poly1305 with the
//! node data key, the manifest's id as associated data, as records are sealed) and one
//! of erasure times (`erase_after` big-endian ++ id, no personal data), written together
//! in one transaction so a manifest is stored whole with its erasure time or not at all.

use std::sync::Arc;

use puente_manifest::Manifest;
use puente_records::DataKey;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

const SEALED: &str = "manifests";
const EXPIRY: &str = "manifest_expiry";

/// A manifest as kept: who sent it, when, until when, and the manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredManifest {
    /// The node's id (time-ordered: `received_ms` then random).
    pub id: String,
    /// The submitter's certificate URN.
    pub submitted_by: String,
    /// When it was received (Unix milliseconds).
    pub received_ms: i64,
    /// When it is erased (Unix milliseconds).
    pub erase_after_ms: i64,
    /// Where the trip enters this country.
    pub entry_point: String,
    /// The manifest.
    pub manifest: Manifest,
}

/// The manifests store.
#[derive(Clone)]
pub struct ManifestStore {
    sealed: sled::Tree,
    expiry: sled::Tree,
    key: Arc<DataKey>,
}

impl std::fmt::Debug for ManifestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManifestStore(..)")
    }
}

fn aad(id: &str) -> Vec<u8> {
    format!("puente manifest {id}").into_bytes()
}

fn expiry_key(erase_after_ms: i64, id: &str) -> Vec<u8> {
    let mut k = erase_after_ms.max(0).to_be_bytes().to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

impl ManifestStore {
    /// Opens the trees in `db`.
    pub fn open(db: &sled::Db, key: Arc<DataKey>) -> Result<Self, String> {
        Ok(Self {
            sealed: db.open_tree(SEALED).map_err(|e| e.to_string())?,
            expiry: db.open_tree(EXPIRY).map_err(|e| e.to_string())?,
            key,
        })
    }

    /// A fresh, time-ordered id.
    pub fn new_id(received_ms: i64) -> Result<String, String> {
        let mut r = [0u8; 6];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut r)
            .map_err(|_| "the system random generator failed".to_string())?;
        Ok(format!("m{:013}-{}", received_ms.max(0), hex::encode(r)))
    }

    /// Stores `m` sealed, with its erasure time, in one transaction.
    pub fn insert(&self, m: &StoredManifest) -> Result<(), String> {
        let json = serde_json::to_vec(m).map_err(|e| e.to_string())?;
        let sealed = self
            .key
            .seal(&aad(&m.id), &json)
            .map_err(|e| e.to_string())?;
        let ek = expiry_key(m.erase_after_ms, &m.id);
        (&self.sealed, &self.expiry)
            .transaction(|(s, x)| {
                s.insert(m.id.as_bytes(), sealed.as_slice())?;
                x.insert(ek.as_slice(), m.id.as_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e: TransactionError<()>| format!("{e:?}"))?;
        self.sealed.flush().map_err(|e| e.to_string())?;
        Ok(())
    }

    /// One manifest, opened.
    pub fn get(&self, id: &str) -> Result<Option<StoredManifest>, String> {
        let Some(v) = self.sealed.get(id.as_bytes()).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let plain = self.key.open(&aad(id), &v).map_err(|e| {
            format!("manifest {id}: the sealed value does not open ({e}); altered, moved or sealed with another key")
        })?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| format!("manifest {id}: {e}"))
    }

    /// The newest `max` manifests (submitted by `carrier`'s URN when given).
    pub fn newest(
        &self,
        max: usize,
        submitted_by: Option<&str>,
    ) -> Result<Vec<StoredManifest>, String> {
        let mut out = Vec::new();
        for kv in self.sealed.iter().rev() {
            let (k, _) = kv.map_err(|e| e.to_string())?;
            let id = String::from_utf8_lossy(&k).to_string();
            if let Some(m) = self.get(&id)? {
                if submitted_by.is_none_or(|c| m.submitted_by == c) {
                    out.push(m);
                    if out.len() >= max {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every manifest, oldest first (the statistics read them).
    pub fn all(&self) -> Result<Vec<StoredManifest>, String> {
        let mut out = Vec::new();
        for kv in self.sealed.iter() {
            let (k, _) = kv.map_err(|e| e.to_string())?;
            if let Some(m) = self.get(&String::from_utf8_lossy(&k))? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Ids and erasure times of manifests due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> Result<Vec<(String, i64)>, String> {
        let mut out = Vec::new();
        for kv in self.expiry.iter() {
            let (k, v) = kv.map_err(|e| e.to_string())?;
            let Some(t) = k.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                continue;
            };
            let t = i64::from_be_bytes(t);
            if t > now_ms {
                break;
            }
            out.push((String::from_utf8_lossy(&v).to_string(), t));
        }
        Ok(out)
    }

    /// Erases one manifest and its erasure time, in one transaction.
    pub fn erase(&self, id: &str, erase_after_ms: i64) -> Result<bool, String> {
        let ek = expiry_key(erase_after_ms, id);
        let existed = (&self.sealed, &self.expiry)
            .transaction(|(s, x)| {
                let old = s.remove(id.as_bytes())?;
                x.remove(ek.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(old.is_some())
            })
            .map_err(|e: TransactionError<()>| format!("{e:?}"))?;
        self.sealed.flush().map_err(|e| e.to_string())?;
        Ok(existed)
    }

    /// Manifests held.
    pub fn len(&self) -> usize {
        self.sealed.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty()
    }
}
