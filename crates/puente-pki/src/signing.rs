//! A country's Ed25519 signing key, used for agreements and audit checkpoints.
//!
//! The public half travels as a C2SP signed-note verifier key,
//! `<name>+<key hash>+<base64(0x01 ‖ public key)>`, where the key hash is the first four
//! bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key). That is the format transparency-log
//! tooling already reads, and the name (`mex-2026`) is what error messages cite.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair};

use crate::error::{PkiError, Result};
use crate::files;

const PEM_LABEL: &str = "PRIVATE KEY";
const ALG_ED25519: u8 = 0x01;

/// A country's private signing key.
pub struct SigningKey {
    name: String,
    pair: Ed25519KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a key named `name` and writes it (mode 0600) to `path` as PKCS#8 PEM
    /// with the name in a header line.
    pub fn generate(name: &str, path: &Path) -> Result<Self> {
        validate_key_name(name).map_err(|reason| PkiError::bad(path, reason))?;
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| PkiError::Random)?;
        let pem = format!(
            "Key-Name: {name}\n-----BEGIN {PEM_LABEL}-----\n{}-----END {PEM_LABEL}-----\n",
            wrap64(&B64.encode(pkcs8.as_ref()))
        );
        files::write_private(path, &pem)?;
        Self::load(path)
    }

    /// Loads a key written by [`SigningKey::generate`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = files::read_text(path)?;
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("Key-Name: "))
            .map(str::trim)
            .ok_or_else(|| PkiError::bad(path, "no 'Key-Name:' line"))?
            .to_string();
        validate_key_name(&name).map_err(|reason| PkiError::bad(path, reason))?;
        let begin = format!("-----BEGIN {PEM_LABEL}-----");
        let end = format!("-----END {PEM_LABEL}-----");
        let body: String = text
            .split(&begin)
            .nth(1)
            .and_then(|rest| rest.split(&end).next())
            .ok_or_else(|| PkiError::bad(path, format!("no {PEM_LABEL} block")))?
            .split_whitespace()
            .collect();
        let der = B64
            .decode(body)
            .map_err(|e| PkiError::bad(path, format!("invalid base64: {e}")))?;
        let pair = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|e| PkiError::bad(path, format!("not an Ed25519 PKCS#8 key: {e}")))?;
        Ok(Self { name, pair })
    }

    /// The key's name, e.g. `mex-2026`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        let mut public = [0u8; 32];
        public.copy_from_slice(self.pair.public_key().as_ref());
        VerifyingKey {
            name: self.name.clone(),
            public,
        }
    }
}

/// A country's public signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    name: String,
    public: [u8; 32],
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_note_key())
    }
}

impl VerifyingKey {
    /// Parses the C2SP verifier key form, checking the key hash.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("expected <name>+<hash>+<base64 key>".into());
        };
        validate_key_name(name)?;
        let raw = B64
            .decode(key)
            .map_err(|e| format!("key is not base64: {e}"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err("not an Ed25519 verifier key (expected 0x01 and 32 bytes)".into());
        }
        let mut public = [0u8; 32];
        public.copy_from_slice(&raw[1..]);
        let vk = Self {
            name: name.to_string(),
            public,
        };
        if hex::encode(vk.key_hash()) != hash {
            return Err(format!("key hash {hash} does not match the key and name"));
        }
        Ok(vk)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw 32-byte public key.
    pub fn public_bytes(&self) -> &[u8; 32] {
        &self.public
    }

    /// The 4-byte key hash that identifies this key in signed-note signature lines.
    pub fn key_hash(&self) -> [u8; 4] {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(self.name.as_bytes());
        ctx.update(b"\n");
        ctx.update(&[ALG_ED25519]);
        ctx.update(&self.public);
        let d = ctx.finish();
        [d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]]
    }

    /// The C2SP verifier key text.
    pub fn to_note_key(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(&self.public);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_hash()),
            B64.encode(raw)
        )
    }

    /// SHA-256 of the verifier key text, for out-of-band confirmation.
    pub fn fingerprint(&self) -> [u8; 32] {
        crate::inspect::fingerprint(self.to_note_key().as_bytes())
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.public)
            .verify(message, signature)
            .is_ok()
    }
}

fn validate_key_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(format!(
            "{name:?} is not a valid key name (1-64 characters, no spaces or '+')"
        ));
    }
    Ok(())
}

fn wrap64(b64: &str) -> String {
    b64.as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_key_text_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let key = SigningKey::generate("mex-2026", &path).unwrap();
        let vk = key.verifying_key();
        let parsed = VerifyingKey::parse(&vk.to_note_key()).unwrap();
        assert_eq!(parsed, vk);
        let sig = key.sign(b"agreement bytes");
        assert!(vk.verify(b"agreement bytes", &sig));
        assert!(!vk.verify(b"agreement bytez", &sig));
        let reloaded = SigningKey::load(&path).unwrap();
        assert_eq!(reloaded.verifying_key(), vk);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Never overwrite an existing key.
        assert!(SigningKey::generate("mex-2026", &path).is_err());
    }

    #[test]
    fn tampered_key_text_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("gtm-2026", &dir.path().join("k")).unwrap();
        let text = key.verifying_key().to_note_key();
        let renamed = text.replacen("gtm-2026", "mex-2026", 1);
        assert!(VerifyingKey::parse(&renamed).is_err());
        assert!(VerifyingKey::parse("nonsense").is_err());
    }
}
