//! The `manifest_check` grant: its limits are required and bounded, its fields name what
//! the receiver may send, `manifest_submit` is never grantable, and evaluation gives the
//! batch limit and the per-traveller quota.

use time::macros::datetime;

use crate::agreement::Agreement;
use crate::evaluate::{evaluate, Request, Rule};
use crate::vocab::{Field, Purpose, Service};

fn text(grant: &str) -> String {
    format!(
        "format = \"puente-agreement/1\"\nid = \"MEX-GTM-APIS\"\nparties = [\"MEX\", \"GTM\"]\nvalid_from = \"2026-01-01\"\nvalid_until = \"2027-12-31\"\n\n[[grant]]\nprovider = \"GTM\"\nreceiver = \"MEX\"\npurposes = [\"identification\"]\nlegal_basis = \"APIS MoU\"\nretention_days = 30\n{grant}"
    )
}

fn problems(grant: &str) -> String {
    match Agreement::parse(&text(grant), "test") {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_manifest_check_grant_needs_its_limits_and_fields() {
    let ok = "services = [\"manifest_check\"]\nfields = [\"document_number\", \"issuing_state\"]\ntravellers_per_day = 500\nmax_batch = 200\n";
    let a = Agreement::parse(&text(ok), "test").unwrap();
    let g = &a.grants[0];
    assert_eq!((g.travellers_per_day, g.max_batch), (500, 200));
    assert!(a
        .describe()
        .contains("500 travellers checked a day, at most 200 in one batch"));

    let p = problems("services = [\"manifest_check\"]\nfields = [\"surnames\"]\nmax_batch = 5\n");
    assert!(
        p.contains("travellers_per_day: required when manifest_check is granted"),
        "{p}"
    );
    let p = problems(
        "services = [\"manifest_check\"]\nfields = [\"surnames\"]\ntravellers_per_day = 5\n",
    );
    assert!(p.contains("max_batch: required"), "{p}");
    let p = problems("services = [\"manifest_check\"]\nfields = [\"surnames\"]\ntravellers_per_day = 5\nmax_batch = 1001\n");
    assert!(p.contains("max_batch: 1001 is outside 1..=1000"), "{p}");
    let p = problems("services = [\"manifest_check\"]\ntravellers_per_day = 5\nmax_batch = 5\n");
    assert!(
        p.contains("fields: manifest_check matches travellers on the fields listed"),
        "{p}"
    );
    let p = problems("services = [\"identity_query\"]\nfields = [\"surnames\"]\nqueries_per_day = 5\nmax_batch = 5\n");
    assert!(
        p.contains("max_batch: manifest_check is not granted"),
        "{p}"
    );
}

#[test]
fn manifest_submit_is_never_granted() {
    let p = problems("services = [\"manifest_submit\"]\nfields = [\"surnames\"]\n");
    assert!(
        p.contains("manifest_submit is a carrier's submission"),
        "{p}"
    );
    assert!(!crate::vocab::grantable_services().contains(&Service::ManifestSubmit));
    assert!(crate::vocab::grantable_services().contains(&Service::ManifestCheck));
}

#[test]
fn evaluation_gives_the_batch_limit_and_counts_travellers_against_the_quota() {
    let grant = "services = [\"manifest_check\"]\nfields = [\"document_number\", \"issuing_state\"]\ntravellers_per_day = 10\nmax_batch = 4\n";
    let a = Agreement::parse(&text(grant), "test").unwrap();
    let now = datetime!(2026-06-01 12:00 UTC);
    let r = |fields: Option<&'static [Field]>| Request {
        provider: puente_pki::CountryCode::parse("GTM").unwrap(),
        receiver: puente_pki::CountryCode::parse("MEX").unwrap(),
        service: Service::ManifestCheck,
        purpose: Purpose::Identification,
        fields,
        now,
    };
    let p = evaluate(
        std::slice::from_ref(&a),
        &r(Some(&[Field::DocumentNumber])),
        &|_, _| 0,
    )
    .unwrap();
    assert_eq!((p.max_batch, p.daily_quota), (4, Some(10)));
    let e = evaluate(
        std::slice::from_ref(&a),
        &r(Some(&[Field::Surnames])),
        &|_, _| 0,
    )
    .unwrap_err();
    assert_eq!(e.rule, Rule::FieldNotGranted);
    let e = evaluate(std::slice::from_ref(&a), &r(None), &|_, _| 10).unwrap_err();
    assert_eq!(e.rule, Rule::QuotaExceeded);
    assert_eq!(Rule::BatchTooLarge.name(), "agreement.batch_too_large");
}
