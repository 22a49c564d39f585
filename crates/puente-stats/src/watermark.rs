//! Watermarks: what a responder hands an asker to resume from. Opaque to the asker, but
//! bound to the asking country and authenticated with the responder's key, so that a
//! watermark the responder did not issue (forged, altered, or issued to another country)
//! is refused rather than trusted.

use ring::hmac;

/// Prefix and format version of a watermark.
const MAGIC: &[u8; 4] = b"PSW1";
/// Bytes of the truncated MAC.
const TAG_LEN: usize = 16;
/// Length of a watermark.
pub const LEN: usize = MAGIC.len() + 8 + TAG_LEN;

/// Issues and checks watermarks with one secret.
#[derive(Clone)]
pub struct Watermarks {
    key: hmac::Key,
}

impl std::fmt::Debug for Watermarks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watermarks")
    }
}

impl Watermarks {
    /// Watermarks authenticated with `secret` (derive it from the node's data key).
    pub fn new(secret: &[u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn tag(&self, country: &str, version: u64) -> hmac::Tag {
        let mut msg = b"puente stats watermark\0".to_vec();
        msg.extend_from_slice(country.as_bytes());
        msg.push(0);
        msg.extend_from_slice(&version.to_be_bytes());
        hmac::sign(&self.key, &msg)
    }

    /// The watermark telling `country` it has everything up to `version`.
    pub fn issue(&self, country: &str, version: u64) -> Vec<u8> {
        let mut w = MAGIC.to_vec();
        w.extend_from_slice(&version.to_be_bytes());
        w.extend_from_slice(&self.tag(country, version).as_ref()[..TAG_LEN]);
        w
    }

    /// The version inside a watermark issued to `country`; 0 for an empty one.
    pub fn check(&self, country: &str, w: &[u8]) -> Result<u64, String> {
        if w.is_empty() {
            return Ok(0);
        }
        if w.len() != LEN || &w[..4] != MAGIC {
            return Err(format!(
                "the watermark is not one this node issues ({} bytes)",
                w.len()
            ));
        }
        let mut v = [0u8; 8];
        v.copy_from_slice(&w[4..12]);
        let version = u64::from_be_bytes(v);
        let expected = self.tag(country, version);
        // Constant-time comparison of the tags.
        let diff = expected.as_ref()[..TAG_LEN]
            .iter()
            .zip(&w[12..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err("the watermark was not issued by this node to this country".into());
        }
        Ok(version)
    }
}
