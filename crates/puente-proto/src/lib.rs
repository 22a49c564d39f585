//! Rust bindings of Puente's contract between countries, generated at build time from
//! `proto/puente/v1/*.proto` by protox and tonic-prost-build (no system `protoc`).
//!
//! The proto files are the source of truth; this crate only re-exports what they generate,
//! plus the encoded descriptor set that gRPC server reflection serves.
//!
//! # Layout
//! - [`v1`]: messages, the `Exchange`, `Local` and `Audit` clients and servers.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors of every file, imports included.

#![forbid(unsafe_code)]

/// Package `puente.v1`: generated messages, clients and servers.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("puente.v1");
}

/// Package `puente.bench.v1`: the benchmark's bare echo service (not part of the contract).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod bench {
    tonic::include_proto!("puente.bench.v1");
}

/// Encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/puente_descriptor.bin"));
