//! Alerts in the node's sled database: those issued here (with each peer's delivery),
//! those received (keyed by issuing country and id), and drafts from detection.

use prost::Message;
use puente_proto::v1 as pb;

use crate::alert::canonical;

/// Errors of the alert store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("alert store: {0}")]
    Sled(#[from] sled::Error),
    /// Stored bytes do not decode.
    #[error("alert store is corrupt: {0}")]
    Corrupt(String),
    /// An alert with the same issuer and id but different content is already stored.
    #[error("alert.conflict: {0}")]
    Conflict(String),
}

/// What receiving an alert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Stored for the first time.
    New,
    /// The same alert was already stored; nothing changed.
    Duplicate,
}

/// The alert store.
#[derive(Clone, Debug)]
pub struct AlertStore {
    db: sled::Db,
    issued: sled::Tree,
    received: sled::Tree,
    drafts: sled::Tree,
}

fn decode<M: Message + Default>(b: &[u8], what: &str) -> Result<M, StoreError> {
    M::decode(b).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn received_key(issuer: &str, id: &str) -> Vec<u8> {
    let mut k = issuer.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

impl AlertStore {
    /// Opens the alert trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            db: db.clone(),
            issued: db.open_tree("alerts_issued")?,
            received: db.open_tree("alerts_received")?,
            drafts: db.open_tree("alerts_drafts")?,
        })
    }

    /// Makes every write durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Stores (or updates) an alert issued here.
    pub fn put_issued(&self, r: &pb::AlertRecord) -> Result<(), StoreError> {
        let id = r
            .alert
            .as_ref()
            .map(|a| a.alert_id.clone())
            .unwrap_or_default();
        self.issued.insert(id.as_bytes(), r.encode_to_vec())?;
        Ok(())
    }

    /// An alert issued here.
    pub fn issued(&self, id: &str) -> Result<Option<pb::AlertRecord>, StoreError> {
        self.issued
            .get(id.as_bytes())?
            .map(|v| decode(&v, "issued alert"))
            .transpose()
    }

    /// Every alert issued here.
    pub fn all_issued(&self) -> Result<Vec<pb::AlertRecord>, StoreError> {
        self.issued
            .iter()
            .map(|i| decode(&i?.1, "issued alert"))
            .collect()
    }

    /// Whether an alert `id` of `issuer` is held already (a repeat of it is a duplicate).
    pub fn holds(&self, issuer: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self.received.contains_key(received_key(issuer, id))?)
    }

    /// Stores an alert received from its issuer (already verified). The same alert again
    /// is a duplicate; another alert under the same issuer and id is refused.
    pub fn receive(
        &self,
        alert: &pb::Alert,
        now: prost_types::Timestamp,
    ) -> Result<Received, StoreError> {
        let key = received_key(&alert.issuing_country, &alert.alert_id);
        if let Some(v) = self.received.get(&key)? {
            let old: pb::AlertRecord = decode(&v, "received alert")?;
            let same = old.alert.as_ref().is_some_and(|o| {
                canonical(o) == canonical(alert) && o.signature == alert.signature
            });
            return if same {
                Ok(Received::Duplicate)
            } else {
                Err(StoreError::Conflict(format!(
                    "{} already issued a different alert with id {:?}",
                    alert.issuing_country, alert.alert_id
                )))
            };
        }
        let record = pb::AlertRecord {
            alert: Some(alert.clone()),
            issued_here: false,
            received_at: Some(now),
            deliveries: vec![],
            expired: false,
        };
        self.received.insert(key, record.encode_to_vec())?;
        self.db.flush()?;
        Ok(Received::New)
    }

    /// Every alert received.
    pub fn all_received(&self) -> Result<Vec<pb::AlertRecord>, StoreError> {
        self.received
            .iter()
            .map(|i| decode(&i?.1, "received alert"))
            .collect()
    }

    /// Stores a draft unless one with its id exists; returns whether it was new.
    pub fn add_draft(&self, d: &pb::AlertDraft) -> Result<bool, StoreError> {
        let r = self.drafts.compare_and_swap(
            d.draft_id.as_bytes(),
            None as Option<&[u8]>,
            Some(d.encode_to_vec()),
        )?;
        Ok(r.is_ok())
    }

    /// Replaces a draft.
    pub fn put_draft(&self, d: &pb::AlertDraft) -> Result<(), StoreError> {
        self.drafts
            .insert(d.draft_id.as_bytes(), d.encode_to_vec())?;
        Ok(())
    }

    /// One draft.
    pub fn draft(&self, id: &str) -> Result<Option<pb::AlertDraft>, StoreError> {
        self.drafts
            .get(id.as_bytes())?
            .map(|v| decode(&v, "draft"))
            .transpose()
    }

    /// Every draft.
    pub fn drafts(&self) -> Result<Vec<pb::AlertDraft>, StoreError> {
        self.drafts.iter().map(|i| decode(&i?.1, "draft")).collect()
    }
}
