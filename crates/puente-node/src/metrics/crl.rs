//! CRL gauges: when each CRL in use runs out, and whether it has (see [`crate::crl`]).

use time::OffsetDateTime;

use super::{family, line};
use crate::config::TlsMaterial;
use crate::crl::crl_statuses;

/// Writes `puente_crl_next_update_timestamp_seconds` and `puente_crl_expired`.
pub(super) fn render(out: &mut String, now: OffsetDateTime, material: &TlsMaterial) {
    let statuses = crl_statuses(material);
    family(
        out,
        "puente_crl_next_update_timestamp_seconds",
        "gauge",
        "Unix time of each CRL's nextUpdate, by country and whether it is this country's own (alert well before it: re-sign with `puente pki crl`).",
    );
    for s in &statuses {
        if let Some(next) = s.next_update {
            line(
                out,
                "puente_crl_next_update_timestamp_seconds",
                &[
                    ("country", s.country.as_str()),
                    ("own", if s.own { "true" } else { "false" }),
                ],
                next.unix_timestamp() as f64,
            );
        }
    }
    family(
        out,
        "puente_crl_expired",
        "gauge",
        "1 when a CRL in use is past its nextUpdate (or cannot be read), by country and whether it is this country's own.",
    );
    for s in &statuses {
        let expired = s.problem.is_some() || s.next_update.is_some_and(|n| n < now);
        line(
            out,
            "puente_crl_expired",
            &[
                ("country", s.country.as_str()),
                ("own", if s.own { "true" } else { "false" }),
            ],
            if expired { 1.0 } else { 0.0 },
        );
    }
}
