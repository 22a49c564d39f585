//! Every `Exchange` request a peer can send, as bytes off the wire, through the node's
//! validation (no server is started): the request context, identity query terms,
//! watermarks, consistency proofs and checkpoint notes, signed alerts; and the answers a
//! node takes from a peer (statistics pages, cosignatures).
//!
//! Input: a selector byte (which message), then the protobuf encoding. Properties:
//! nothing panics; a decoded message re-encodes to one that decodes equal; a watermark
//! is accepted only when this node issued it to that country; an alert signed by its
//! issuer verifies after a trip over the wire, and no forged one does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use puente_audit::checkpoint::{self, Checkpoint};
use puente_audit::merkle;
use puente_fuzz::{keys, select};
use puente_node::{convert, policy, stats, witness};
use puente_pki::CountryCode;
use puente_proto::v1 as pb;
use puente_stats::Watermarks;

/// Decodes `bytes` as `T` and checks that its encoding decodes to the same message.
fn decode<T: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Option<T> {
    let m = T::decode(bytes).ok()?;
    let again = T::decode(m.encode_to_vec().as_slice())
        .unwrap_or_else(|e| panic!("a re-encoded {m:?} does not decode: {e}"));
    assert_eq!(again, m, "decode → encode → decode changed the message");
    Some(m)
}

fn context(ctx: Option<&pb::RequestContext>) {
    if let Ok(c) = policy::context(ctx) {
        assert!(c.case_reference.chars().count() <= policy::MAX_CASE_REFERENCE);
        assert!(!c.case_reference.chars().any(char::is_control));
        assert!(c.operator_id.chars().count() <= policy::MAX_OPERATOR_ID);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = select(data) else {
        return;
    };
    let gtm = CountryCode::parse("GTM").unwrap_or_else(|e| panic!("{e}"));
    match which % 7 {
        0 => {
            let Some(r) = decode::<pb::QueryIdentityRequest>(bytes) else {
                return;
            };
            context(r.context.as_ref());
            if let Ok(terms) = convert::terms(r.query.as_ref()) {
                let _ = terms.audit_terms();
            }
        }
        1 => {
            let Some(r) = decode::<pb::GetDocumentRequest>(bytes) else {
                return;
            };
            context(r.context.as_ref());
        }
        2 => {
            let Some(r) = decode::<pb::PullStatisticsRequest>(bytes) else {
                return;
            };
            context(r.context.as_ref());
            let w = Watermarks::new(&[7; 32]);
            if let Ok(v) = w.check("GTM", &r.since_watermark) {
                // Accepted: empty, or issued by this node to GTM.
                assert!(r.since_watermark.is_empty() || w.issue("GTM", v) == r.since_watermark);
            }
            let issued = w.issue("GTM", r.page_size.into());
            assert_eq!(w.check("GTM", &issued), Ok(r.page_size.into()));
            assert!(
                w.check("CRI", &issued).is_err(),
                "a watermark crossed countries"
            );
        }
        3 => {
            let Some(r) = decode::<pb::WitnessCheckpointRequest>(bytes) else {
                return;
            };
            let note = r.checkpoint.as_ref().map(|c| c.note.as_str()).unwrap_or("");
            let proof = witness::hashes(&r.consistency_proof);
            let opened = checkpoint::open(note, &keys().a.verifying_key());
            assert!(opened.is_err(), "a note not signed in this process opened");
            if let (Ok(proof), Ok((body, _))) = (proof, checkpoint::split_note(note)) {
                if let Ok(cp) = Checkpoint::parse_body(body) {
                    let _ = merkle::verify_consistency(
                        r.previous_size,
                        cp.size,
                        &cp.root,
                        &cp.root,
                        &proof,
                    );
                }
            }
        }
        4 => {
            let Some(r) = decode::<pb::PublishAlertRequest>(bytes) else {
                return;
            };
            let Some(mut alert) = r.alert else { return };
            let k = keys();
            assert!(
                puente_alerts::verify(&alert, &k.a.verifying_key()).is_err(),
                "a forged alert verified"
            );
            if puente_alerts::validate(&alert).is_err() {
                return;
            }
            // Signed by its issuer, the alert verifies, also after a trip over the wire
            // (the signature covers a canonical encoding, not the protobuf bytes), and
            // not with another country's key.
            puente_alerts::sign(&mut alert, &k.a);
            puente_alerts::verify(&alert, &k.a.verifying_key())
                .unwrap_or_else(|e| panic!("a signed alert does not verify: {e}"));
            let wire = pb::Alert::decode(alert.encode_to_vec().as_slice())
                .unwrap_or_else(|e| panic!("{e}"));
            puente_alerts::verify(&wire, &k.a.verifying_key())
                .unwrap_or_else(|e| panic!("a signed alert off the wire does not verify: {e}"));
            assert!(puente_alerts::verify(&alert, &k.b.verifying_key()).is_err());
        }
        5 => {
            // A statistics page as a puller receives it from GTM.
            let Some(page) = decode::<pb::PullStatisticsResponse>(bytes) else {
                return;
            };
            if let Ok(cells) = stats::check_page(gtm, &page) {
                assert_eq!(cells.len(), page.cells.len());
                for (key, value, version) in cells {
                    let back = key.to_proto("GTM", value, version);
                    let again = puente_stats::CellKey::from_proto(&back)
                        .unwrap_or_else(|e| panic!("{key:?}: {e}"));
                    assert_eq!(again, (key, value, version));
                }
            }
        }
        _ => {
            // A cosignature as the log receives it from its witness.
            let Some(r) = decode::<pb::WitnessCheckpointResponse>(bytes) else {
                return;
            };
            let body = Checkpoint {
                origin: "puente/MEX/audit".into(),
                size: r.witnessed_size,
                root: [0; 32],
                time: 0,
            }
            .body();
            let verified = checkpoint::verify_cosignature(
                &body,
                &r.cosignature_line,
                &keys().b.verifying_key(),
            );
            assert!(verified.is_err(), "a forged cosignature verified");
        }
    }
});
