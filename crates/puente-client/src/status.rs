//! Turning failures of a call into the one-line messages people read: a tonic
//! [`Status`](tonic::Status) by its code and its most specific cause (the refused
//! certificate or the closed connection rather than "transport error"), with the node's
//! refusal reason as the node worded it (the rule that refused, e.g.
//! `agreement.no_grant: …`).

/// Renders an error with its chain of sources, so "transport error" shows its real cause
/// (a refused certificate, a closed connection, a timeout).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = describe(e);
    let mut source = e.source();
    while let Some(s) = source {
        let text = describe(s);
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return puente_pki::tls::describe_error(tls);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return puente_pki::tls::describe_io_error(io);
    }
    e.to_string()
}

/// Renders a tonic status by its code and its most specific cause (for transport
/// errors, the refused certificate or the closed connection rather than "transport error").
pub fn status_text(status: &tonic::Status) -> String {
    use std::error::Error;
    let mut cause = None;
    let mut source = status.source();
    while let Some(s) = source {
        cause = Some(describe(s));
        source = s.source();
    }
    match cause {
        Some(c) if !c.is_empty() => format!("{:?}: {c}", status.code()),
        _ => format!("{:?}: {}", status.code(), status.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_its_code_and_the_nodes_reason() {
        let s = tonic::Status::permission_denied("agreement.no_grant: MEX may not ask GTM");
        assert_eq!(
            status_text(&s),
            "PermissionDenied: agreement.no_grant: MEX may not ask GTM"
        );
    }

    #[test]
    fn a_transport_failure_reads_as_its_deepest_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let s = tonic::Status::from_error(Box::new(io));
        let text = status_text(&s);
        assert!(text.contains("connection refused"), "{text}");
    }
}
