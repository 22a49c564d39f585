//! Checkpoints in the C2SP signed-note / tlog-checkpoint format, and witness cosignatures
//! in the C2SP tlog-cosignature (v1) format.
//!
//! A checkpoint body is `origin\nsize\nbase64(root)\n` plus an extension line
//! `time <unix seconds>`; the note appends a blank line and `— <key name> <base64(key hash
//! ‖ Ed25519 signature)>`. A cosignature line signs `cosignature/v1\ntime <t>\n` followed by
//! the checkpoint body, with a key id computed for algorithm 0x04.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use puente_pki::{SigningKey, VerifyingKey};
use ring::digest;
use ring::signature::{UnparsedPublicKey, ED25519};

use crate::error::AuditError;
use crate::merkle::Hash;

/// The em dash that starts a signature line.
const DASH: &str = "\u{2014} ";

/// A log's state at a size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin, e.g. `puente/MEX/audit`.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Unix seconds when it was signed.
    pub time: i64,
}

impl Checkpoint {
    /// The signed body text.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.time
        )
    }

    /// Parses a body.
    pub fn parse_body(body: &str) -> Result<Self, AuditError> {
        let bad = |why: &str| AuditError::Checkpoint(format!("malformed checkpoint body: {why}"));
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| bad("no size"))?;
        let root = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| bad("no 32-byte base64 root"))?;
        let time = lines
            .next()
            .and_then(|l| l.strip_prefix("time "))
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| bad("no time line"))?;
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            time,
        })
    }

    /// Signs the checkpoint into a note.
    pub fn sign(&self, key: &SigningKey) -> String {
        let body = self.body();
        let vk = key.verifying_key();
        let mut sig = vk.key_hash().to_vec();
        sig.extend_from_slice(&key.sign(body.as_bytes()));
        format!("{body}\n{DASH}{} {}\n", key.name(), B64.encode(sig))
    }
}

/// Splits a note into its body and signature lines.
pub fn split_note(note: &str) -> Result<(&str, Vec<&str>), AuditError> {
    let at = note.find("\n\n").ok_or_else(|| {
        AuditError::Checkpoint("a signed note needs a blank line before its signatures".into())
    })?;
    let body = &note[..at + 1];
    let sigs: Vec<&str> = note[at + 2..].lines().filter(|l| !l.is_empty()).collect();
    Ok((body, sigs))
}

/// Opens a signed checkpoint note with the log's key.
pub fn open(note: &str, key: &VerifyingKey) -> Result<Checkpoint, AuditError> {
    let (body, sigs) = split_note(note)?;
    let cp = Checkpoint::parse_body(body)?;
    for line in sigs {
        let Some(rest) = line.strip_prefix(DASH) else {
            continue;
        };
        let Some((name, b64)) = rest.split_once(' ') else {
            continue;
        };
        if name != key.name() {
            continue;
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| AuditError::Checkpoint(format!("signature of {name} is not base64")))?;
        if raw.len() != 68 || raw[..4] != key.key_hash() {
            continue;
        }
        if key.verify(body.as_bytes(), &raw[4..]) {
            return Ok(cp);
        }
        return Err(AuditError::Checkpoint(format!(
            "the signature of {name} on the checkpoint of {} at size {} does not verify",
            cp.origin, cp.size
        )));
    }
    Err(AuditError::Checkpoint(format!(
        "no signature by {} on the checkpoint of {} at size {}",
        key.name(),
        cp.origin,
        cp.size
    )))
}

/// The cosignature key id: SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[..4].
pub fn cosigner_id(key: &VerifyingKey) -> [u8; 4] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(key.name().as_bytes());
    ctx.update(b"\n");
    ctx.update(&[0x04]);
    ctx.update(key.public_bytes());
    let d = ctx.finish();
    [d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]]
}

fn cosigned_message(body: &str, time: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
    m.extend_from_slice(body.as_bytes());
    m
}

/// A witness's cosignature line on a checkpoint body, at `time`.
pub fn cosign(body: &str, witness: &SigningKey, time: u64) -> String {
    let vk = witness.verifying_key();
    let mut raw = cosigner_id(&vk).to_vec();
    raw.extend_from_slice(&time.to_be_bytes());
    raw.extend_from_slice(&witness.sign(&cosigned_message(body, time)));
    format!("{DASH}{} {}", witness.name(), B64.encode(raw))
}

/// Verifies a cosignature line on `body` by `witness`; returns its time.
pub fn verify_cosignature(
    body: &str,
    line: &str,
    witness: &VerifyingKey,
) -> Result<u64, AuditError> {
    let bad =
        |why: &str| AuditError::Checkpoint(format!("cosignature by {}: {why}", witness.name()));
    let rest = line
        .trim_end()
        .strip_prefix(DASH)
        .ok_or_else(|| bad("not a signature line"))?;
    let (name, b64) = rest.split_once(' ').ok_or_else(|| bad("no key name"))?;
    if name != witness.name() {
        return Err(bad(&format!("made by {name}")));
    }
    let raw = B64.decode(b64).map_err(|_| bad("not base64"))?;
    if raw.len() != 4 + 8 + 64 || raw[..4] != cosigner_id(witness) {
        return Err(bad("wrong key id or length"));
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&raw[4..12]);
    let time = u64::from_be_bytes(t);
    UnparsedPublicKey::new(&ED25519, witness.public_bytes())
        .verify(&cosigned_message(body, time), &raw[12..])
        .map_err(|_| bad("does not verify"))?;
    Ok(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_open_cosign_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let log_key = SigningKey::generate("mex-2026", &dir.path().join("a")).unwrap();
        let witness = SigningKey::generate("gtm-2026", &dir.path().join("b")).unwrap();
        let cp = Checkpoint {
            origin: "puente/MEX/audit".into(),
            size: 42,
            root: [7; 32],
            time: 1_800_000_000,
        };
        let note = cp.sign(&log_key);
        assert_eq!(open(&note, &log_key.verifying_key()).unwrap(), cp);
        // Any change to the body is caught.
        let forged = note.replacen("\n42\n", "\n43\n", 1);
        assert!(open(&forged, &log_key.verifying_key()).is_err());
        // Another key's signature is not the log's.
        assert!(open(&note, &witness.verifying_key()).is_err());
        let line = cosign(&cp.body(), &witness, 1_800_000_100);
        assert_eq!(
            verify_cosignature(&cp.body(), &line, &witness.verifying_key()).unwrap(),
            1_800_000_100
        );
        assert!(verify_cosignature(
            &cp.body().replace("42", "41"),
            &line,
            &witness.verifying_key()
        )
        .is_err());
        assert!(verify_cosignature(&cp.body(), &line, &log_key.verifying_key()).is_err());
    }
}
