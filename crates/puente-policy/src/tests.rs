//! Tests of agreements, evaluation and protection: every refusal rule, signatures against
//! tampering, and property tests of the invariants.

use std::collections::BTreeSet;

use proptest::prelude::*;
use puente_pki::{CountryCode, SigningKey, VerifyingKey};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::agreement::{draft, Agreement, SIGNATURE_MARKER};
use crate::error::AgreementError;
use crate::evaluate::{evaluate, Request, Rule};
use crate::protection::{screen, Protection, ProtectionStatus, Withheld};
use crate::vocab::{Field, Mode, Purpose, Service, Term};

fn c(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

const BASIC: &str = r#"
format = "puente-agreement/1"
id = "MEX-GTM-2026-01"
parties = ["MEX", "GTM"]
valid_from = "2026-01-01"
valid_until = "2027-12-31"

[[grant]]
provider = "MEX"
receiver = "GTM"
services = ["identity_query", "passport_copy"]
purposes = ["identification", "return"]
legal_basis = "MoU art. 4"
fields = ["given_names", "surnames", "date_of_birth"]
queries_per_day = 3
copies_per_day = 1
retention_days = 30

[[grant]]
provider = "GTM"
receiver = "MEX"
services = ["identity_query", "flow_counts"]
purposes = ["identification", "statistics"]
legal_basis = "MoU art. 5"
fields = ["nationality"]
modes = { identity_query = "hit_no_hit" }
queries_per_day = 10
retention_days = 7
small_cell_threshold = 5
"#;

struct Keys {
    _dir: tempfile::TempDir,
    mex: SigningKey,
    gtm: SigningKey,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let mex = SigningKey::generate("mex-2026", &dir.path().join("m")).unwrap();
    let gtm = SigningKey::generate("gtm-2026", &dir.path().join("g")).unwrap();
    Keys {
        _dir: dir,
        mex,
        gtm,
    }
}

impl Keys {
    fn key_of(&self) -> impl Fn(CountryCode) -> Option<VerifyingKey> + '_ {
        move |country| match country.as_str() {
            "MEX" => Some(self.mex.verifying_key()),
            "GTM" => Some(self.gtm.verifying_key()),
            _ => None,
        }
    }
}

fn signed(text: &str, k: &Keys) -> Agreement {
    let mut a = Agreement::parse(text, "test").unwrap();
    let now = datetime!(2026-06-01 00:00 UTC);
    a.sign(c("MEX"), &k.mex, now).unwrap();
    // Round-trip through text, as the second party would receive it.
    let mut a = Agreement::parse(&a.to_text(), "test").unwrap();
    a.sign(c("GTM"), &k.gtm, now).unwrap();
    Agreement::parse(&a.to_text(), "test").unwrap()
}

fn req(service: Service, purpose: Purpose, now: OffsetDateTime) -> Request<'static> {
    Request {
        provider: c("MEX"),
        receiver: c("GTM"),
        service,
        purpose,
        fields: None,
        now,
    }
}

const MID: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

#[test]
fn a_signed_agreement_verifies_and_grants() {
    let k = keys();
    let a = signed(BASIC, &k);
    a.verify(k.key_of()).unwrap();
    let p = evaluate(
        &[a],
        &req(Service::IdentityQuery, Purpose::Identification, MID),
        &|_, _| 0,
    )
    .unwrap();
    assert_eq!(p.agreement_id, "MEX-GTM-2026-01");
    assert_eq!(p.mode, Mode::Full);
    assert_eq!(
        p.fields,
        [Field::GivenNames, Field::Surnames, Field::DateOfBirth]
            .into_iter()
            .collect()
    );
    assert_eq!(p.daily_quota, Some(3));
    assert_eq!(p.retention_days, 30);
}

#[test]
fn any_changed_byte_of_the_signed_text_voids_it() {
    let k = keys();
    let text = signed(BASIC, &k).to_text();
    let marker = text.find(SIGNATURE_MARKER).unwrap();
    for i in (0..marker).step_by(7) {
        let mut bytes = text.clone().into_bytes();
        bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
        let Ok(t) = String::from_utf8(bytes) else {
            continue;
        };
        if let Ok(a) = Agreement::parse(&t, "tampered") {
            assert!(
                a.verify(k.key_of()).is_err(),
                "byte {i} changed and still verifies"
            );
        }
    }
}

#[test]
fn grants_added_below_the_marker_are_refused() {
    let k = keys();
    let text = signed(BASIC, &k).to_text();
    let extra = format!(
        "{text}\n[[grant]]\nprovider = \"GTM\"\nreceiver = \"MEX\"\nservices = [\"passport_copy\"]\npurposes = [\"return\"]\nlegal_basis = \"x\"\ncopies_per_day = 9\nretention_days = 1\n"
    );
    let err = Agreement::parse(&extra, "f").unwrap_err();
    assert!(err.to_string().contains("signature marker"), "{err}");
}

#[test]
fn missing_wrong_and_stray_signatures_are_named() {
    let k = keys();
    let mut half = Agreement::parse(BASIC, "t").unwrap();
    half.sign(c("MEX"), &k.mex, MID).unwrap();
    let half = Agreement::parse(&half.to_text(), "t").unwrap();
    assert_eq!(
        half.verify(k.key_of()).unwrap_err(),
        AgreementError::MissingSignature {
            id: "MEX-GTM-2026-01".into(),
            country: "GTM".into()
        }
    );

    // GTM's slot signed with MEX's key: the key name does not match.
    let mut wrong = Agreement::parse(BASIC, "t").unwrap();
    wrong.sign(c("MEX"), &k.mex, MID).unwrap();
    wrong.sign(c("GTM"), &k.mex, MID).unwrap();
    let err = wrong.verify(k.key_of()).unwrap_err();
    assert!(matches!(err, AgreementError::WrongKey { .. }), "{err}");
    assert!(
        err.to_string().contains("GTM signed with key mex-2026"),
        "{err}"
    );

    // An impostor key with GTM's key name.
    let dir = tempfile::tempdir().unwrap();
    let impostor = SigningKey::generate("gtm-2026", &dir.path().join("i")).unwrap();
    let mut forged = Agreement::parse(BASIC, "t").unwrap();
    forged.sign(c("MEX"), &k.mex, MID).unwrap();
    forged.sign(c("GTM"), &impostor, MID).unwrap();
    let err = forged.verify(k.key_of()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "agreement MEX-GTM-2026-01: signature of GTM does not verify against key gtm-2026"
    );

    // A party unknown to the trust bundle.
    let a = signed(BASIC, &k);
    let err = a
        .verify(|c| (c.as_str() == "MEX").then(|| k.mex.verifying_key()))
        .unwrap_err();
    assert!(matches!(err, AgreementError::UnknownParty { .. }), "{err}");

    // A non-party cannot sign.
    let mut a = Agreement::parse(BASIC, "t").unwrap();
    let err = a.sign(c("CRI"), &k.mex, MID).unwrap_err();
    assert!(err.to_string().contains("CRI is not a party"), "{err}");
}

#[test]
fn invalid_documents_name_each_problem() {
    let bad = BASIC
        .replace("\"given_names\"", "\"religion\"")
        .replace(
            "purposes = [\"identification\", \"return\"]",
            "purposes = []",
        )
        .replace("queries_per_day = 3\n", "")
        .replace(
            "valid_until = \"2027-12-31\"",
            "valid_until = \"2025-12-31\"",
        );
    let err = Agreement::parse(&bad, "agreements/x.toml")
        .unwrap_err()
        .to_string();
    for needle in [
        "agreements/x.toml",
        "grant[0].fields[0]: \"religion\" is not a field",
        "grant[0].purposes",
        "grant[0].queries_per_day: required",
        "valid_until: ends before",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let err = Agreement::parse(
        &BASIC.replace("[\"MEX\", \"GTM\"]", "[\"MEX\", \"XXA\"]"),
        "f",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("parties[1]") && err.contains("ICAO"), "{err}");
    let err = Agreement::parse(
        &BASIC.replace("retention_days = 30", "retention_days = 30\nsurprise = 1"),
        "f",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("surprise"), "{err}");
}

#[test]
fn a_hit_no_hit_grant_needs_no_fields_and_a_full_one_does() {
    // GTM's grant to MEX is hit/no-hit: without its `fields` line it still parses.
    let without = BASIC.replace("fields = [\"nationality\"]\n", "");
    assert_ne!(without, BASIC);
    let a = Agreement::parse(&without, "test").expect("a hit/no-hit grant without fields");
    assert!(a.grants[1].fields.is_empty());
    // MEX's grant to GTM is full: without fields it is refused, saying what to do.
    let full = BASIC.replace(
        "fields = [\"given_names\", \"surnames\", \"date_of_birth\"]\n",
        "",
    );
    assert_ne!(full, BASIC);
    let err = Agreement::parse(&full, "test").unwrap_err().to_string();
    assert!(
        err.contains("grant[0].fields") && err.contains("full mode"),
        "{err}"
    );
}

#[test]
fn the_draft_template_parses_and_describes_in_plain_words() {
    let text = draft(
        c("MEX"),
        c("GTM"),
        "MEX-GTM-2027-01",
        time::macros::date!(2027 - 01 - 01),
        time::macros::date!(2027 - 12 - 31),
    );
    let a = Agreement::parse(&text, "draft").unwrap();
    assert!(text.contains("\nversion = 1\n"), "{text}");
    assert_eq!(a.version, 1);
    let words = a.describe();
    assert!(
        words.contains("GTM may ask MEX for identity queries"),
        "{words}"
    );
    assert!(words.contains("until 2027-12-31"), "{words}");
    assert!(words.contains("Not signed yet"), "{words}");
}

#[test]
fn every_refusal_rule_fires() {
    let k = keys();
    let a = signed(BASIC, &k);
    let all = [a];
    let rule = |r: Request<'_>, used: u64| evaluate(&all, &r, &move |_, _| used).unwrap_err().rule;

    assert_eq!(
        rule(req(Service::Unspecified, Purpose::Identification, MID), 0),
        Rule::ServiceUnspecified
    );
    assert_eq!(
        rule(req(Service::IdentityQuery, Purpose::Unspecified, MID), 0),
        Rule::PurposeUnspecified
    );
    let mut other = req(Service::IdentityQuery, Purpose::Identification, MID);
    other.receiver = c("CRI");
    assert_eq!(rule(other, 0), Rule::NoAgreement);
    assert!(evaluate(
        &[],
        &req(Service::IdentityQuery, Purpose::Identification, MID),
        &|_, _| 0
    )
    .unwrap_err()
    .message
    .contains("no signed agreement"));
    assert_eq!(
        rule(
            req(
                Service::IdentityQuery,
                Purpose::Identification,
                datetime!(2025-12-31 23:59:59 UTC)
            ),
            0
        ),
        Rule::NotYetValid
    );
    assert_eq!(
        rule(
            req(
                Service::IdentityQuery,
                Purpose::Identification,
                datetime!(2028-01-01 00:00 UTC)
            ),
            0
        ),
        Rule::Expired
    );
    // The last second of the last day is still valid.
    assert!(evaluate(
        &all,
        &req(
            Service::IdentityQuery,
            Purpose::Identification,
            datetime!(2027-12-31 23:59:59 UTC)
        ),
        &|_, _| 0
    )
    .is_ok());
    assert_eq!(
        rule(req(Service::FlowCounts, Purpose::Statistics, MID), 0),
        Rule::ServiceNotGranted
    );
    assert_eq!(
        rule(req(Service::IdentityQuery, Purpose::Statistics, MID), 0),
        Rule::PurposeNotGranted
    );
    let asked = [Field::GivenNames, Field::Route];
    let mut fields = req(Service::IdentityQuery, Purpose::Identification, MID);
    fields.fields = Some(&asked);
    let refusal = evaluate(&all, &fields, &|_, _| 0).unwrap_err();
    assert_eq!(refusal.rule, Rule::FieldNotGranted);
    assert!(
        refusal.message.contains("route") && !refusal.message.contains("given_names"),
        "{}",
        refusal.message
    );
    assert_eq!(
        rule(req(Service::IdentityQuery, Purpose::Identification, MID), 3),
        Rule::QuotaExceeded
    );
    assert!(evaluate(
        &all,
        &req(Service::IdentityQuery, Purpose::Identification, MID),
        &|_, _| 2
    )
    .is_ok());
    assert_eq!(
        rule(req(Service::PassportCopy, Purpose::Return, MID), 1),
        Rule::QuotaExceeded
    );

    // The other direction: hit/no-hit, its own fields.
    let mut back = req(Service::IdentityQuery, Purpose::Identification, MID);
    back.provider = c("GTM");
    back.receiver = c("MEX");
    let p = evaluate(&all, &back, &|_, _| 0).unwrap();
    assert_eq!(p.mode, Mode::HitNoHit);
    assert_eq!(p.fields, [Field::Nationality].into_iter().collect());
}

#[test]
fn protection_overrides_everything() {
    let p = |status, against: &[&str]| Protection {
        status,
        protected_against: against.iter().map(|s| c(s)).collect(),
    };
    // An asylum seeker from VEN is never disclosed to VEN.
    assert_eq!(
        screen(&["VEN"], &p(ProtectionStatus::AsylumSeeker, &[]), c("VEN")),
        Err(Withheld::CountryOfNationality)
    );
    assert_eq!(
        screen(&["VEN"], &p(ProtectionStatus::Refugee, &[]), c("VEN")),
        Err(Withheld::CountryOfNationality)
    );
    assert_eq!(
        screen(&["VEN"], &p(ProtectionStatus::Complementary, &[]), c("VEN")),
        Err(Withheld::CountryOfNationality)
    );
    // ... but may be to a third country.
    assert_eq!(
        screen(&["VEN"], &p(ProtectionStatus::Refugee, &[]), c("GTM")),
        Ok(())
    );
    // A country the person fled, that is not their nationality.
    assert_eq!(
        screen(&["ERI"], &p(ProtectionStatus::Refugee, &["ETH"]), c("ETH")),
        Err(Withheld::ProtectedAgainst)
    );
    // Protected-against applies whatever the status says.
    assert_eq!(
        screen(&["HTI"], &p(ProtectionStatus::None, &["DOM"]), c("DOM")),
        Err(Withheld::ProtectedAgainst)
    );
    // No protection: disclosed to the country of nationality.
    assert_eq!(
        screen(&["BGD"], &p(ProtectionStatus::None, &[]), c("BGD")),
        Ok(())
    );
    // Dual nationals: protected from each nationality.
    assert_eq!(
        screen(
            &["CUB", "ESP"],
            &p(ProtectionStatus::AsylumSeeker, &[]),
            c("ESP")
        ),
        Err(Withheld::CountryOfNationality)
    );
    // Case of the recorded code does not matter.
    assert_eq!(
        screen(&["ven"], &p(ProtectionStatus::AsylumSeeker, &[]), c("VEN")),
        Err(Withheld::CountryOfNationality)
    );
    for s in [
        "none",
        "asylum_seeker",
        "refugee",
        "complementary",
        "stateless",
    ] {
        assert_eq!(ProtectionStatus::parse(s).unwrap().name(), s);
    }
    assert_eq!(ProtectionStatus::parse("Refugee"), None);
}

// ---- property tests ----

fn arb_subset<T: Term>() -> impl Strategy<Value = Vec<T>> {
    let all = T::all();
    proptest::sample::subsequence(all.clone(), 0..=all.len())
}

prop_compose! {
    fn arb_grant(provider: &'static str, receiver: &'static str)(
        services in proptest::sample::subsequence(vec![Service::IdentityQuery, Service::PassportCopy, Service::FlowCounts, Service::Alerts], 1..=4),
        purposes in arb_subset::<Purpose>().prop_filter("one purpose", |p| !p.is_empty()),
        fields in arb_subset::<Field>().prop_filter("one field", |f| !f.is_empty()),
        hit in any::<bool>(),
        q in 1u32..5, cp in 1u32..5, sc in 1u32..10, mm in 1u32..20,
    ) -> String {
        let list = |v: Vec<String>| v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        let mut g = format!(
            "\n[[grant]]\nprovider = \"{provider}\"\nreceiver = \"{receiver}\"\nservices = [{}]\npurposes = [{}]\nfields = [{}]\nlegal_basis = \"basis\"\nretention_days = 10\nmax_matches = {mm}\n",
            list(services.iter().map(|s| s.name()).collect()),
            list(purposes.iter().map(|s| s.name()).collect()),
            list(fields.iter().map(|s| s.name()).collect()),
        );
        if services.contains(&Service::IdentityQuery) {
            g.push_str(&format!("queries_per_day = {q}\n"));
            if hit { g.push_str("modes = { identity_query = \"hit_no_hit\" }\n"); }
        }
        if services.contains(&Service::PassportCopy) { g.push_str(&format!("copies_per_day = {cp}\n")); }
        if services.contains(&Service::FlowCounts) { g.push_str(&format!("small_cell_threshold = {sc}\n")); }
        g
    }
}

prop_compose! {
    fn arb_agreement()(forward in arb_grant("MEX", "GTM"), back in proptest::option::of(arb_grant("GTM", "MEX")), start in 0i64..400, len in 1i64..400) -> Agreement {
        let from = time::macros::date!(2026 - 01 - 01) + time::Duration::days(start);
        let until = from + time::Duration::days(len);
        let text = format!(
            "format = \"puente-agreement/1\"\nid = \"MEX-GTM-P\"\nparties = [\"MEX\", \"GTM\"]\nvalid_from = \"{from}\"\nvalid_until = \"{until}\"\n{forward}{}",
            back.unwrap_or_default()
        );
        Agreement::parse(&text, "prop").unwrap()
    }
}

fn arb_service() -> impl Strategy<Value = Service> {
    (0i32..=5).prop_map(|n| Service::try_from(n).unwrap_or(Service::Unspecified))
}
fn arb_purpose() -> impl Strategy<Value = Purpose> {
    (0i32..=7).prop_map(|n| Purpose::try_from(n).unwrap_or(Purpose::Unspecified))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// A permit never holds a service, purpose or field the agreement does not list for
    /// that direction, never outside the validity window, never past the quota.
    #[test]
    fn a_permit_never_exceeds_its_grant(
        a in arb_agreement(),
        reverse in any::<bool>(),
        service in arb_service(),
        purpose in arb_purpose(),
        asked in proptest::option::of(arb_subset::<Field>()),
        day in 0i64..900,
        used in 0u64..6,
    ) {
        let (provider, receiver) = if reverse { (c("GTM"), c("MEX")) } else { (c("MEX"), c("GTM")) };
        let now = datetime!(2026-01-01 00:00 UTC) + time::Duration::hours(day * 24 + 7);
        let r = Request { provider, receiver, service, purpose, fields: asked.as_deref(), now };
        let outcome = evaluate(std::slice::from_ref(&a), &r, &|_, _| used);
        let grant = a.grant(provider, receiver);
        // The oracle: an independent statement of when a request is allowed.
        let allowed = grant.is_some_and(|g| {
            now >= a.valid_from && now < a.valid_until
                && g.services.contains(&service)
                && g.purposes.contains(&purpose)
                && asked.as_ref().is_none_or(|f| f.iter().all(|x| g.fields.contains(x)))
                && crate::evaluate::quota_of(g, service).is_none_or(|q| used < u64::from(q))
        });
        prop_assert_eq!(outcome.is_ok(), allowed, "{:?}", outcome);
        if let Ok(p) = outcome {
            let g = grant.unwrap();
            prop_assert!(p.fields.is_subset(&g.fields));
            prop_assert!(g.services.contains(&p.service));
            prop_assert!(g.purposes.contains(&p.purpose));
            if let Some(f) = &asked {
                let asked: BTreeSet<Field> = f.iter().copied().collect();
                prop_assert!(p.fields.is_subset(&asked));
            }
            prop_assert_eq!(p.mode, g.mode(service));
        }
    }

    /// A protected person is never disclosed to a protected-against country, nor (when
    /// asylum seeker, refugee or complementary) to a country of nationality.
    #[test]
    fn protection_is_never_bypassed(
        status in prop_oneof![Just(ProtectionStatus::None), Just(ProtectionStatus::AsylumSeeker), Just(ProtectionStatus::Refugee), Just(ProtectionStatus::Complementary), Just(ProtectionStatus::Stateless)],
        against in proptest::sample::subsequence(vec!["VEN", "HTI", "CUB", "ERI", "AFG", "MEX"], 0..=6),
        nationalities in proptest::sample::subsequence(vec!["VEN", "HTI", "CUB", "ERI", "AFG", "XXA"], 0..=3),
        receiver in proptest::sample::select(vec!["VEN", "HTI", "CUB", "ERI", "AFG", "MEX", "GTM"]),
    ) {
        let p = Protection { status, protected_against: against.iter().map(|s| c(s)).collect() };
        let verdict = screen(&nationalities, &p, c(receiver));
        let must_withhold = against.contains(&receiver)
            || (status.protects_from_nationality() && nationalities.contains(&receiver));
        prop_assert_eq!(verdict.is_err(), must_withhold);
    }
}
