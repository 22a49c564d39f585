//! What bounds the work a caller can cause: message sizes per service, deadlines on
//! every call this node makes, and a token bucket per peer country in front of the
//! agreements' daily quotas. A flood from one peer is turned away here, before any
//! handler, policy evaluation or quota counter sees it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use puente_pki::CountryCode;
use time::OffsetDateTime;
use tonic::Status;

const MIB: usize = 1024 * 1024;

/// Largest `Exchange` request a node accepts. Queries, document requests, watermarks,
/// checkpoints with their proofs and alerts are all a few KiB.
pub const EXCHANGE_MAX_REQUEST: usize = MIB;
/// Largest `Exchange` message a node sends or accepts as an answer: a statistics page of
/// up to 10,000 cells (`stats.page_size`), with its receipt, stays well below.
pub const EXCHANGE_MAX_RESPONSE: usize = 8 * MIB;
/// Largest `Local` request: an `ImportCells` chunk holds up to 10,000 cells (about 5 MB
/// with long entry-point names).
pub const LOCAL_MAX_REQUEST: usize = 8 * MIB;
/// Largest `Manifest` request: a manifest up to twice what the node keeps, so one a
/// little too big gets the manifest's own refusal (with its size); anything bigger is
/// RESOURCE_EXHAUSTED before any handler runs.
pub const MANIFEST_MAX_REQUEST: usize = 2 * puente_manifest::MAX_BYTES;
/// Largest `Local` answer message (document chunks are 64 KiB, cell pages bounded).
pub const LOCAL_MAX_RESPONSE: usize = 8 * MIB;
/// Largest `Audit` request (filters and indexes only).
pub const AUDIT_MAX_REQUEST: usize = MIB;
/// Largest `Audit` answer message (a page of entries).
pub const AUDIT_MAX_RESPONSE: usize = 16 * MIB;

/// Gives the caller's faults that tonic answers with another code the one gRPC's status
/// table and this contract give them, in a trailers-only answer:
/// - a message above a decoding limit: tonic says OUT_OF_RANGE; RESOURCE_EXHAUSTED
///   ("message larger than configured max size") is what clients and retry policies
///   expect;
/// - a request whose bytes do not decode as the method's message (a bad wire type, a
///   string that is not UTF-8, a message cut short), or a call that closed without its
///   one message: tonic says INTERNAL, as if the node had failed; INVALID_ARGUMENT.
///
/// tonic's message, which names the message and field, stays. Only tonic's own texts are
/// matched (at the start of the message for INTERNAL), never a message of ours quoting a
/// peer's failure.
pub fn contract_status(headers: &mut http::HeaderMap) {
    let Some(code) = headers.get("grpc-status").map(|v| v.as_bytes().to_vec()) else {
        return;
    };
    // grpc-message is percent-encoded on the wire.
    let text = headers
        .get("grpc-message")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).replace("%20", " "))
        .unwrap_or_default();
    let contract = match code.as_slice() {
        b"11" if text.contains("message length too large") => "8",
        b"13"
            if text.starts_with("failed to decode Protobuf message")
                || text.starts_with("Missing request message") =>
        {
            "3"
        }
        _ => return,
    };
    headers.insert("grpc-status", http::HeaderValue::from_static(contract));
}

/// A request carrying `deadline` as its `grpc-timeout`, so the peer stops working on it
/// when the asker has given up.
pub fn timed<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(deadline);
    r
}

/// Runs an outgoing call under a deadline, so a peer that never answers (accepts the
/// connection and stalls, or stalls mid-answer) costs at most `limit`.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(limit, call).await {
        Ok(r) => r,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "{what}: no answer within {limit:?}"
        ))),
    }
}

/// Token buckets, one per peer country: `rate` tokens a second, at most `burst` saved.
/// Time is the node's clock, passed in (tests drive it): a step back refills nothing, a
/// step forward refills at most the burst.
#[derive(Debug)]
pub struct PeerLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<CountryCode, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: OffsetDateTime,
    refusing: bool,
}

/// A call the bucket refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// How long until a token is back.
    pub retry_after: Duration,
    /// Whether it is the first refusal since this peer's last admitted call (a flood is
    /// logged once, not once per call).
    pub first: bool,
}

impl PeerLimiter {
    /// A limiter admitting `rate_per_sec` calls a second per peer, with bursts of `burst`.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(rate_per_sec.max(1)), burst)
    }

    /// A limiter admitting `per_minute` calls a minute per peer, with bursts of `burst`:
    /// for calls that each cost a durable write (`WitnessCheckpoint`).
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(per_minute.max(1)) / 60.0, burst)
    }

    fn with_rate(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `peer` at `now`; when none is left, says how long until one is.
    pub fn take(&self, peer: CountryCode, now: OffsetDateTime) -> Result<(), Limited> {
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock means a panic elsewhere; refuse rather than admit unbounded.
            return Err(Limited {
                retry_after: Duration::from_secs(1),
                first: true,
            });
        };
        let b = buckets.entry(peer).or_insert(Bucket {
            tokens: self.burst,
            at: now,
            refusing: false,
        });
        let elapsed = (now - b.at).as_seconds_f64().max(0.0);
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.refusing = false;
            Ok(())
        } else {
            let first = !b.refusing;
            b.refusing = true;
            Err(Limited {
                retry_after: Duration::from_secs_f64((1.0 - b.tokens) / self.rate),
                first,
            })
        }
    }

    /// The configured rate and burst, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} calls/s with bursts of {} (server.peer_rate_per_sec, server.peer_burst)",
            self.rate, self.burst
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    #[test]
    fn tonics_oversized_answer_becomes_resource_exhausted() {
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", http::HeaderValue::from_static("11"));
        h.insert(
            "grpc-message",
            http::HeaderValue::from_static("Error,%20decoded%20message%20length%20too%20large"),
        );
        contract_status(&mut h);
        assert_eq!(h["grpc-status"], "8");
        // Another OUT_OF_RANGE stays what it is.
        h.insert("grpc-status", http::HeaderValue::from_static("11"));
        h.insert(
            "grpc-message",
            http::HeaderValue::from_static("page%20token"),
        );
        contract_status(&mut h);
        assert_eq!(h["grpc-status"], "11");
    }

    #[test]
    fn tonics_undecodable_request_becomes_invalid_argument() {
        let answer = |status: &'static str, message: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert("grpc-status", http::HeaderValue::from_static(status));
            h.insert("grpc-message", http::HeaderValue::from_static(message));
            contract_status(&mut h);
            h["grpc-status"].clone()
        };
        assert_eq!(
            answer(
                "13",
                "failed%20to%20decode%20Protobuf%20message:%20QueryRequest.peer_country:%20buffer%20underflow"
            ),
            "3"
        );
        assert_eq!(answer("13", "Missing%20request%20message."), "3");
        // Another INTERNAL stays what it is, and so does a message of ours that quotes a
        // peer's answer that did not decode (the caller's request was fine).
        assert_eq!(answer("13", "the%20store%20failed"), "13");
        assert_eq!(
            answer(
                "13",
                "GTM:%20failed%20to%20decode%20Protobuf%20message:%20invalid%20wire%20type"
            ),
            "13"
        );
        // The text under another code is left alone.
        assert_eq!(
            answer("14", "failed%20to%20decode%20Protobuf%20message"),
            "14"
        );
    }

    #[test]
    fn a_burst_is_admitted_then_the_rate_refills_per_peer() {
        let l = PeerLimiter::new(2, 3);
        let t0 = OffsetDateTime::now_utc();
        let gtm = code("GTM");
        for _ in 0..3 {
            assert!(l.take(gtm, t0).is_ok());
        }
        let refused = l.take(gtm, t0).unwrap_err();
        assert!(refused.first);
        assert!(refused.retry_after <= Duration::from_millis(500));
        assert!(refused.retry_after > Duration::ZERO);
        assert!(
            !l.take(gtm, t0).unwrap_err().first,
            "a flood is logged once"
        );
        // Another peer has its own bucket.
        assert!(l.take(code("CRI"), t0).is_ok());
        // Half a second at 2/s gives one token back, not more.
        let t1 = t0 + time::Duration::milliseconds(500);
        assert!(l.take(gtm, t1).is_ok());
        assert!(l.take(gtm, t1).is_err());
        // A long pause refills only up to the burst.
        let t2 = t1 + time::Duration::seconds(60);
        for _ in 0..3 {
            assert!(l.take(gtm, t2).is_ok());
        }
        assert!(l.take(gtm, t2).is_err());
    }

    #[test]
    fn a_per_minute_bucket_refills_a_token_a_period() {
        let l = PeerLimiter::per_minute(6, 2);
        let t0 = OffsetDateTime::now_utc();
        let gtm = code("GTM");
        assert!(l.take(gtm, t0).is_ok());
        assert!(l.take(gtm, t0).is_ok());
        let refused = l.take(gtm, t0).unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(9));
        assert!(refused.retry_after <= Duration::from_secs(10));
        assert!(l.take(gtm, t0 + time::Duration::seconds(9)).is_err());
        assert!(l.take(gtm, t0 + time::Duration::seconds(10)).is_ok());
    }

    #[tokio::test]
    async fn a_call_that_never_answers_ends_at_its_deadline() {
        let r: Result<(), Status> = within(
            Duration::from_millis(50),
            "GTM PullStatistics",
            std::future::pending(),
        )
        .await;
        let s = r.unwrap_err();
        assert_eq!(s.code(), tonic::Code::DeadlineExceeded);
        assert!(
            s.message().contains("GTM PullStatistics"),
            "{}",
            s.message()
        );
    }
}
