//! A bounded record of recent refusals (TLS handshakes, role gates, rate limits), kept beside the
//! WARN log line each one produces, so operators, metrics and tests can see why callers
//! were turned away without scraping logs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many refusals are kept.
const CAPACITY: usize = 512;

/// Where a refusal happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalStage {
    /// The TLS handshake failed (no, unknown, expired, revoked or spoofed certificate).
    Handshake,
    /// The certificate verified but its role or country may not call the service.
    RoleGate,
    /// A peer country called faster than `server.peer_rate_per_sec` allows.
    RateLimit,
}

/// One refused caller.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// Where it was refused.
    pub stage: RefusalStage,
    /// The caller's socket address, when known.
    pub peer: Option<SocketAddr>,
    /// The rule or TLS error, e.g. `role.local_requires_own_operator`.
    pub reason: String,
}

/// The recent refusals of one node.
#[derive(Debug, Default)]
pub struct RefusalLog {
    inner: Mutex<VecDeque<Refusal>>,
    handshakes: AtomicU64,
    role_gates: AtomicU64,
    rate_limits: AtomicU64,
}

impl RefusalLog {
    /// Records a refusal (the caller also logs it).
    pub fn record(&self, refusal: Refusal) {
        match refusal.stage {
            RefusalStage::Handshake => &self.handshakes,
            RefusalStage::RoleGate => &self.role_gates,
            RefusalStage::RateLimit => &self.rate_limits,
        }
        .fetch_add(1, Ordering::Relaxed);
        if let Ok(mut q) = self.inner.lock() {
            if q.len() == CAPACITY {
                q.pop_front();
            }
            q.push_back(refusal);
        }
    }

    /// How many refusals there were since start: (TLS handshakes, role gates).
    pub fn totals(&self) -> (u64, u64) {
        (
            self.handshakes.load(Ordering::Relaxed),
            self.role_gates.load(Ordering::Relaxed),
        )
    }

    /// How many calls were refused by the per-peer rate limit since start.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limits.load(Ordering::Relaxed)
    }

    /// A copy of the recent refusals, oldest first.
    pub fn snapshot(&self) -> Vec<Refusal> {
        self.inner
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}
