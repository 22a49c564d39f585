//! What nodes keep in step with each other, on both sides of the wire: flow statistics
//! (pulled nightly and on demand, served to peers), early-warning alerts (issued,
//! delivered, received) and cross-witnessing of audit checkpoints. Answering uses the
//! responder's guard ([`crate::answer::audit::Audited`]); asking uses the asker's
//! [`crate::ask::call::PeerCall`].

pub mod alerts;
pub mod stats;
pub mod witness;
