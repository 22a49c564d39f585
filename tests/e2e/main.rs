//! End-to-end tests of Puente: real nodes on 127.0.0.1 with ephemeral ports, real
//! certificates and real stores in temporary directories.
//!
//! One test binary holds every end-to-end module: each binary links the whole node, so
//! twenty-odd binaries cost minutes of linking and gigabytes of disk for nothing. Run one
//! module with `cargo test -p puente-e2e --test e2e hostile_peer::`.

mod agreements;
mod alerts;
mod amendments;
mod audit_log;
mod backup;
mod client_profile;
mod concurrency;
mod config_validation;
mod console;
mod crl_expiry;
mod data_modes;
mod faults;
mod health_reflection;
mod hostile_peer;
mod identity_query;
mod lifecycle;
mod limits;
mod manifest_cells;
mod manifest_check;
mod manifests;
mod matching_variants;
mod metrics;
mod mtls_refusals;
mod peers;
mod protection_rule;
mod python_client;
mod records_live;
mod renewal_and_trust;
mod stats_protection;
mod stats_sync;
mod status;
mod undecodable;
mod witness_hostile_peer;
mod witness_lying_witness;
