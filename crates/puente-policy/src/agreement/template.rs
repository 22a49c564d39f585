//! The commented template `puente agreement draft` writes.

use super::*;

/// A commented template for `puente agreement draft`.
pub fn draft(a: CountryCode, b: CountryCode, id: &str, from: Date, until: Date) -> String {
    let all_fields = Field::all()
        .into_iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ");
    let purposes = Purpose::all()
        .into_iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ");
    let grant = |provider: CountryCode, receiver: CountryCode| {
        format!(
            r#"
[[grant]]
# What {receiver} may obtain from {provider}.
provider = "{provider}"
receiver = "{receiver}"
# Services: identity_query, passport_copy, flow_counts, alerts, manifest_check (the last
# needs travellers_per_day, max_batch and the fields the receiver may send).
services = ["identity_query", "passport_copy", "flow_counts", "alerts"]
# Purposes {receiver} may invoke: {purposes}.
purposes = ["identification", "return", "statistics", "early_warning"]
legal_basis = "Memorandum of understanding between {provider} and {receiver} on migration information, art. 4 (replace with the real basis)"
# Fields {provider} may disclose. The closed list: {all_fields}.
fields = ["given_names", "surnames", "date_of_birth", "sex", "nationality", "document_type", "document_number", "issuing_state", "document_expiry"]
# Mode per service: full, or hit_no_hit (only "there is a match" and a reference).
modes = {{ identity_query = "full" }}
queries_per_day = 500
copies_per_day = 50
max_matches = 5
# Days {receiver} may keep what it receives.
retention_days = 90
# Flow counts below this are suppressed; secondary suppression hides complements too.
small_cell_threshold = 5
secondary_suppression = true
"#
        )
    };
    format!(
        r#"# Bilateral agreement between {a} ({an}) and {b} ({bn}) for Puente.
# Edit it, then each party signs it with `puente agreement sign --config … FILE`.
# After the first signature, any change to this text voids it: sign again.
format = "{FORMAT}"
id = "{id}"
# Raised by one for each amendment; both parties sign again and the node enforces the
# highest version that both signed, once its valid_from is reached.
version = 1
title = "Exchange of migration information between {an} and {bn}"
parties = ["{a}", "{b}"]
# Dates are UTC days; valid_until is the last day the agreement applies.
valid_from = "{from}"
valid_until = "{until}"
{ga}{gb}"#,
        an = a.name(),
        bn = b.name(),
        ga = grant(a, b),
        gb = grant(b, a),
    )
}
