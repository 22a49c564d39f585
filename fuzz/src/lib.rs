//! Shared fixtures of the fuzz targets: signing keys made once per process, and a way
//! to cut one fuzz input into a selector byte and the rest.

#![forbid(unsafe_code)]

use std::sync::OnceLock;

use puente_pki::SigningKey;

/// Two countries' signing keys (and a witness's), generated once per fuzzing process in
/// a temporary directory that lives as long as the process.
pub struct Keys {
    /// The first party's (and the log's) key.
    pub a: SigningKey,
    /// The second party's (and the witness's) key.
    pub b: SigningKey,
    _dir: tempfile::TempDir,
}

/// The process's keys.
#[allow(clippy::expect_used)]
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory for fuzz keys");
        let a = SigningKey::generate("fuzz-a", &dir.path().join("a.key")).expect("key a");
        let b = SigningKey::generate("fuzz-b", &dir.path().join("b.key")).expect("key b");
        Keys { a, b, _dir: dir }
    })
}

/// The first byte (which variant of a target to run) and the rest of the input.
pub fn select(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(s, rest)| (*s, rest))
}
