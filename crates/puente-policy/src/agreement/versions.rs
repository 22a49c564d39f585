//! Amendments: which version of each agreement applies at a given instant.
//!
//! A version supersedes every lower one from its `valid_from` on, for good: an amendment
//! that ends earlier is not undone by an older copy still running, and a version not yet
//! started leaves the one before it in force. An older copy never wins, whatever file
//! holds it.

use super::Agreement;

/// For each agreement id among `verified` (copies whose signatures verified), the copy
/// that applies at `now`: the highest version already started (it may have expired, and
/// then nothing of that id is in force); when none has started, the highest version (so
/// a refusal says when it takes effect). Sorted by id.
pub fn current_versions(verified: &[Agreement], now: time::OffsetDateTime) -> Vec<&Agreement> {
    let mut out: Vec<&Agreement> = Vec::new();
    for a in verified {
        match out.iter_mut().find(|o| o.id == a.id) {
            None => out.push(a),
            Some(o) => {
                if prefer(a, o, now) {
                    *o = a;
                }
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Whether `a` applies rather than `b` (same id) at `now`.
fn prefer(a: &Agreement, b: &Agreement, now: time::OffsetDateTime) -> bool {
    let started = |x: &Agreement| x.valid_from <= now;
    match (started(a), started(b)) {
        (true, false) => true,
        (false, true) => false,
        _ => a.version > b.version,
    }
}

#[cfg(test)]
mod tests {
    use puente_pki::{CountryCode, SigningKey};
    use time::macros::datetime;

    use super::*;

    fn text(version: &str, from: &str) -> String {
        format!(
            r#"format = "puente-agreement/1"
id = "MEX-GTM-2026-01"
{version}
parties = ["MEX", "GTM"]
valid_from = "{from}"
valid_until = "2027-12-31"

[[grant]]
provider = "MEX"
receiver = "GTM"
services = ["identity_query"]
purposes = ["identification"]
legal_basis = "MoU art. 4"
fields = ["surnames"]
queries_per_day = 3
retention_days = 30
"#
        )
    }

    fn parse(version: &str, from: &str) -> Agreement {
        Agreement::parse(&text(version, from), "test").unwrap()
    }

    #[test]
    fn a_file_without_version_is_version_one() {
        assert_eq!(parse("", "2026-01-01").version, 1);
        assert_eq!(parse("version = 7", "2026-01-01").version, 7);
        for bad in ["version = 0", "version = -2", "version = 5000000000"] {
            let e = Agreement::parse(&text(bad, "2026-01-01"), "f.toml").unwrap_err();
            assert!(e.to_string().contains("version:"), "{e}");
        }
    }

    #[test]
    fn the_highest_started_version_applies_and_an_older_never_wins() {
        let now = datetime!(2026-06-01 00:00 UTC);
        let v1 = parse("version = 1", "2026-01-01");
        let v2 = parse("version = 2", "2026-03-01");
        let v3 = parse("version = 3", "2026-09-01");
        for order in [
            vec![v1.clone(), v2.clone(), v3.clone()],
            vec![v3.clone(), v2.clone(), v1.clone()],
            vec![v2.clone(), v3.clone(), v1.clone()],
        ] {
            let chosen = current_versions(&order, now);
            assert_eq!(chosen.len(), 1);
            assert_eq!(chosen[0].version, 2, "v3 has not started yet");
            let later = current_versions(&order, datetime!(2026-10-01 00:00 UTC));
            assert_eq!(later[0].version, 3);
        }
        // Nothing started yet: the highest version, so the refusal names its start.
        let both = [v3.clone(), v2];
        let early = current_versions(&both, datetime!(2026-02-01 00:00 UTC));
        assert_eq!(early[0].version, 3);
    }

    #[test]
    fn changing_the_version_after_signing_voids_the_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let mex = SigningKey::generate("mex-2026", &dir.path().join("m")).unwrap();
        let gtm = SigningKey::generate("gtm-2026", &dir.path().join("g")).unwrap();
        let now = datetime!(2026-06-01 00:00 UTC);
        let mut a = parse("version = 2", "2026-01-01");
        a.sign(CountryCode::parse("MEX").unwrap(), &mex, now)
            .unwrap();
        a.sign(CountryCode::parse("GTM").unwrap(), &gtm, now)
            .unwrap();
        let key_of = |c: CountryCode| match c.as_str() {
            "MEX" => Some(mex.verifying_key()),
            _ => Some(gtm.verifying_key()),
        };
        a.verify(key_of).unwrap();
        let tampered = a.to_text().replace("version = 2", "version = 9");
        let t = Agreement::parse(&tampered, "z.toml").unwrap();
        assert_eq!(t.version, 9);
        let e = t.verify(key_of).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
    }
}
