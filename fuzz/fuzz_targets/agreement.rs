//! Agreement documents: parsing and validation of the TOML text, signature verification,
//! signing, and the text written back.
//!
//! Properties: nothing panics; signatures found in the input never verify against keys
//! the input could not know; an agreement that parses, once signed by both parties with
//! fresh keys, verifies, and its text parses back to the same agreement, which verifies;
//! one changed byte in the signed text voids the signatures.

#![no_main]

use libfuzzer_sys::fuzz_target;
use puente_fuzz::keys;
use puente_pki::{CountryCode, VerifyingKey};
use puente_policy::Agreement;
use time::macros::datetime;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(mut a) = Agreement::parse(&text, "fuzz") else {
        return;
    };
    let k = keys();
    let (va, vb) = (k.a.verifying_key(), k.b.verifying_key());
    let [pa, pb] = a.parties;
    let key_of = |c: CountryCode| -> Option<VerifyingKey> {
        if c == pa {
            Some(va.clone())
        } else if c == pb {
            Some(vb.clone())
        } else {
            None
        }
    };
    let _ = a.describe();
    for (p, r) in [(pa, pb), (pb, pa)] {
        if let Some(g) = a.grant(p, r) {
            for s in puente_policy::vocab::grantable_services() {
                let _ = g.mode(s);
            }
        }
    }
    // The input cannot hold a valid signature by keys made in this process.
    assert!(a.verify(key_of).is_err(), "a forged agreement verified");

    a.signatures.clear();
    let now = datetime!(2026-03-01 12:00 UTC);
    a.sign(pa, &k.a, now)
        .unwrap_or_else(|e| panic!("signing as {pa}: {e}"));
    a.sign(pb, &k.b, now)
        .unwrap_or_else(|e| panic!("signing as {pb}: {e}"));
    a.verify(key_of)
        .unwrap_or_else(|e| panic!("both signed, yet: {e}"));

    let written = a.to_text();
    let back = Agreement::parse(&written, "fuzz (written back)")
        .unwrap_or_else(|e| panic!("the written agreement does not parse: {e}\n{written}"));
    assert_eq!(back, a, "text written back parses to another agreement");
    back.verify(key_of)
        .unwrap_or_else(|e| panic!("the written agreement does not verify: {e}"));

    // Flip one byte of the signed text (chosen by the input): the signatures no longer hold.
    let body_len = written
        .find(puente_policy::agreement::SIGNATURE_MARKER)
        .unwrap_or(0);
    if body_len > 0 {
        let at = data.len() % body_len;
        let mut bytes = written.clone().into_bytes();
        bytes[at] ^= 0x01;
        if let Ok(t) = String::from_utf8(bytes) {
            if let Ok(tampered) = Agreement::parse(&t, "fuzz (tampered)") {
                assert!(
                    tampered.verify(key_of).is_err(),
                    "a tampered agreement verified"
                );
            }
        }
    }
});
