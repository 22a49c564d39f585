//! How current the CRLs are: this country's (`tls.crl`) and each peer's (from the trust
//! bundle). rustls keeps using a CRL past its `nextUpdate` (the certificates it lists stay
//! refused; webpki's expiration check is off unless asked for), so an expired CRL breaks
//! nothing visibly: what it costs is that revocations made since are unknown. That is
//! why the node says so, loudly: a warning [`CRL_WARNING_DAYS`] before this country's CRL
//! runs out (renew it with `puente pki crl`), an error once it has, and an error for a
//! peer's expired CRL; in its log (at start, daily and on reload), in `puente node
//! check` and in the metrics. Pure: the caller passes `now`.

use puente_pki::inspect::inspect_crl;
use puente_pki::CountryCode;
use time::OffsetDateTime;

use crate::config::TlsMaterial;

/// Days before this country's CRL's `nextUpdate` from which the node warns.
pub const CRL_WARNING_DAYS: i64 = 7;

/// One CRL the node uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlStatus {
    /// Whose CRL.
    pub country: CountryCode,
    /// This node's own country's (`tls.crl`), or a peer's (trust bundle).
    pub own: bool,
    /// Its `nextUpdate`; `None` if it has none or could not be read (`problem`).
    pub next_update: Option<OffsetDateTime>,
    /// Why it could not be read.
    pub problem: Option<String>,
}

/// Something to say about a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrlConcern {
    /// This country's CRL runs out soon.
    Warning(String),
    /// A CRL has run out (or cannot be read).
    Error(String),
}

/// Every CRL of `material`: this country's first, then the peers'.
pub fn crl_statuses(material: &TlsMaterial) -> Vec<CrlStatus> {
    let own = material
        .own_anchor
        .crls
        .iter()
        .map(|c| (material.own_anchor.country, true, c));
    let peers = material
        .trust
        .peers
        .iter()
        .flat_map(|p| p.crls.iter().map(move |c| (p.country, false, c)));
    own.chain(peers)
        .map(|(country, own, der)| {
            let origin = if own {
                format!("the CRL of {country} (tls.crl)")
            } else {
                format!("the CRL of peer {country} (trust bundle)")
            };
            match inspect_crl(der.as_ref(), std::path::Path::new(&origin)) {
                Ok(info) => CrlStatus {
                    country,
                    own,
                    next_update: info.next_update,
                    problem: None,
                },
                Err(e) => CrlStatus {
                    country,
                    own,
                    next_update: None,
                    problem: Some(e.to_string()),
                },
            }
        })
        .collect()
}

/// What to say about `statuses` at `now`.
pub fn crl_concerns(now: OffsetDateTime, statuses: &[CrlStatus]) -> Vec<CrlConcern> {
    let mut out = Vec::new();
    for s in statuses {
        if let Some(p) = &s.problem {
            out.push(CrlConcern::Error(p.clone()));
            continue;
        }
        let Some(next) = s.next_update else { continue };
        let left = next - now;
        let day = next.date();
        match (s.own, left.is_negative()) {
            (true, true) => out.push(CrlConcern::Error(format!(
                "crl.expired: this country's ({}) CRL expired on {day} (its nextUpdate): peers cannot tell whether revocations were made since; re-sign it now with `puente pki crl --dir <pki dir>` (the node reloads tls.crl by itself) and send peers the new trust bundle (`puente trust export`)",
                s.country
            ))),
            (true, false) if left <= time::Duration::days(CRL_WARNING_DAYS) => {
                out.push(CrlConcern::Warning(format!(
                    "crl.expires_soon: this country's ({}) CRL is current until {day} ({} days left): re-sign it with `puente pki crl --dir <pki dir>` and send peers the new trust bundle (`puente trust export`)",
                    s.country,
                    left.whole_days()
                )))
            }
            (false, true) => out.push(CrlConcern::Error(format!(
                "crl.peer_expired: the CRL of peer {} expired on {day} (its nextUpdate): certificates {} revoked since are not known here and would still be accepted; ask {} for a fresh trust bundle and add it (`puente trust add`)",
                s.country, s.country, s.country
            ))),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn status(own: bool, next: OffsetDateTime) -> CrlStatus {
        CrlStatus {
            country: CountryCode::parse(if own { "MEX" } else { "GTM" })
                .unwrap_or_else(|e| panic!("{e}")),
            own,
            next_update: Some(next),
            problem: None,
        }
    }

    #[test]
    fn own_crl_warns_within_a_week_and_errs_after_peers_err_after() {
        let now = datetime!(2026-03-10 12:00 UTC);
        let quiet = [
            status(true, now + time::Duration::days(8)),
            status(false, now + time::Duration::days(1)),
        ];
        assert!(crl_concerns(now, &quiet).is_empty());
        let soon = crl_concerns(now, &[status(true, now + time::Duration::days(6))]);
        assert!(
            matches!(&soon[..], [CrlConcern::Warning(w)] if w.contains("crl.expires_soon") && w.contains("6 days left")),
            "{soon:?}"
        );
        let gone = crl_concerns(now, &[status(true, now - time::Duration::hours(1))]);
        assert!(
            matches!(&gone[..], [CrlConcern::Error(e)] if e.contains("crl.expired") && e.contains("2026-03-10")),
            "{gone:?}"
        );
        let peer = crl_concerns(now, &[status(false, now - time::Duration::days(2))]);
        assert!(
            matches!(&peer[..], [CrlConcern::Error(e)] if e.contains("crl.peer_expired") && e.contains("GTM")),
            "{peer:?}"
        );
    }
}
