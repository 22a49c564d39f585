//! The gRPC services a node serves, as thin adapters: each handler takes the verified
//! caller from the request (it already passed the service's [`crate::gate::Gate`]),
//! calls the room that owns the work ([`crate::answer`], [`crate::ask`],
//! [`crate::sync`]) and turns its [`crate::error::ExchangeError`] into a `Status` by the
//! one `From` impl. Methods that later issues implement answer `UNIMPLEMENTED` through
//! the generated default stubs.

pub mod audit;
pub mod exchange;
pub mod local;
pub mod manifest;
pub mod status;

pub(crate) use crate::state::timestamp;
pub use crate::state::{system_clock, Clock, NodeState};
