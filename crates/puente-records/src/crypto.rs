//! The node data key: personal fields and passport copies are sealed with
//! ChaCha20-Poly1305 (ring AEAD, random nonce, the record's storage key as associated data
//! so sealed values cannot be swapped between records), and index entries are keyed
//! hashes (HMAC-SHA256, truncated) so the store holds no raw names or document numbers.
//! Sub-keys are derived from one 32-byte secret with HKDF, one per purpose.

use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::RecordsError;

/// Length of index hashes.
pub const INDEX_HASH_LEN: usize = 16;

/// The node's data key and its derived sub-keys.
pub struct DataKey {
    seal: LessSafeKey,
    references: LessSafeKey,
    index: hmac::Key,
    audit: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// Creates a new key file (mode 0600; refuses to overwrite).
    pub fn generate(path: &Path) -> Result<Self, RecordsError> {
        let mut secret = [0u8; 32];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| RecordsError::Crypto("the system random generator failed".into()))?;
        let text = format!(
            "# Puente node data key: seals records and passport copies at rest. Keep it secret, back it up.\n{}\n",
            hex::encode(secret)
        );
        puente_pki::files::write_private(path, &text)
            .map_err(|e| RecordsError::Key(e.to_string()))?;
        Self::from_secret(&secret)
    }

    /// Loads a key file.
    pub fn load(path: &Path) -> Result<Self, RecordsError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecordsError::KeyFile {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        let hex_line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| RecordsError::Key(format!("{}: no key line", path.display())))?;
        let bytes = hex::decode(hex_line)
            .map_err(|_| RecordsError::Key(format!("{}: the key is not hex", path.display())))?;
        let secret: [u8; 32] = bytes.try_into().map_err(|_| {
            RecordsError::Key(format!("{}: the key is not 32 bytes", path.display()))
        })?;
        Self::from_secret(&secret)
    }

    /// Derives the sub-keys from a secret.
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, RecordsError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"puente data key v1").extract(secret);
        let derive =
            |e: ring::error::Unspecified| RecordsError::Crypto(format!("deriving sub-keys: {e}"));
        let seal = LessSafeKey::new(UnboundKey::from(
            prk.expand(&[b"records seal"], &CHACHA20_POLY1305)
                .map_err(derive)?,
        ));
        let references = LessSafeKey::new(UnboundKey::from(
            prk.expand(&[b"match references"], &CHACHA20_POLY1305)
                .map_err(derive)?,
        ));
        let index = hmac::Key::from(
            prk.expand(&[b"records index"], hmac::HMAC_SHA256)
                .map_err(derive)?,
        );
        let audit = hmac::Key::from(
            prk.expand(&[b"audit query terms"], hmac::HMAC_SHA256)
                .map_err(derive)?,
        );
        Ok(Self {
            seal,
            references,
            index,
            audit,
            rng: SystemRandom::new(),
        })
    }

    /// Seals `plaintext`; `aad` binds it to where it is stored.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, RecordsError> {
        seal_with(&self.seal, &self.rng, aad, plaintext)
    }

    /// Opens a sealed value; fails if it was altered, moved, or sealed with another key.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, RecordsError> {
        open_with(&self.seal, aad, sealed)
    }

    /// [`DataKey::open`] of a large value in place: returns the plaintext within
    /// `sealed` (no copy of a snapshot of hundreds of MB).
    pub fn open_in<'a>(&self, aad: &[u8], sealed: &'a mut [u8]) -> Result<&'a [u8], RecordsError> {
        let too_short = || RecordsError::Corrupt("a sealed value is too short".into());
        if sealed.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(too_short());
        }
        let (nonce, rest) = sealed.split_at_mut(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = (&*nonce).try_into().map_err(|_| too_short())?;
        let plain = self
            .seal
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), rest)
            .map_err(|_| {
                RecordsError::Corrupt(
                    "a sealed value does not open: altered, moved, or sealed with another data key"
                        .into(),
                )
            })?;
        Ok(plain)
    }

    /// Seals a match reference handed to a peer (its own sub-key: references leave the
    /// node, sealed records never do).
    pub fn seal_reference(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, RecordsError> {
        seal_with(&self.references, &self.rng, aad, plaintext)
    }

    /// Opens a match reference; fails for anything this node did not seal with `aad`.
    pub fn open_reference(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, RecordsError> {
        open_with(&self.references, aad, sealed)
    }

    /// A keyed hash for an index entry (`domain` separates kinds of index).
    pub fn index_hash(&self, domain: &str, value: &str) -> [u8; INDEX_HASH_LEN] {
        let mut ctx = hmac::Context::with_key(&self.index);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; INDEX_HASH_LEN];
        out.copy_from_slice(&tag.as_ref()[..INDEX_HASH_LEN]);
        out
    }

    /// The keyed hash of a query term for the audit log (full 32 bytes).
    pub fn audit_hash(&self, domain: &str, value: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.audit);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

fn seal_with(
    key: &LessSafeKey,
    rng: &SystemRandom,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, RecordsError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce)
        .map_err(|_| RecordsError::Crypto("the system random generator failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + CHACHA20_POLY1305.tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[NONCE_LEN..],
        )
        .map_err(|_| RecordsError::Crypto("sealing failed".into()))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, RecordsError> {
    if sealed.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
        return Err(RecordsError::Corrupt("a sealed value is too short".into()));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[..NONCE_LEN]);
    let mut buf = sealed[NONCE_LEN..].to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| {
            RecordsError::Corrupt(
                "a sealed value does not open: altered, moved, or sealed with another data key"
                    .into(),
            )
        })?;
    Ok(plain.to_vec())
}
