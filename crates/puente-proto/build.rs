//! Compiles `proto/puente/v1/*.proto` with protox (pure Rust), so a fresh machine needs no
//! system `protoc`, and writes the encoded descriptor set for gRPC server reflection.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest.join("../../proto");
    let files = ["common", "exchange", "local", "audit", "status", "manifest"]
        .map(|name| proto_root.join(format!("puente/v1/{name}.proto")));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_imports(true).include_source_info(true);
    for file in &files {
        compiler.open_file(file)?;
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("puente_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        // Proof hashes as `Bytes`: decoded as slices of the received buffer (no
        // allocation per 32-byte hash), made as slices of one buffer per proof. A receipt
        // carries up to ~300 of them (inclusion proof and up to four consistency proofs)
        // and is decoded twice on each query's path (issue 20).
        .bytes(".puente.v1.Receipt.inclusion_proof")
        .bytes(".puente.v1.ConsistencyProof.hashes")
        .compile_fds(compiler.file_descriptor_set())?;

    // The benchmark's echo service, compiled apart so that it stays out of the
    // contract's descriptor set (and out of reflection).
    let echo = proto_root.join("puente/bench/v1/echo.proto");
    println!("cargo:rerun-if-changed={}", echo.display());
    let mut bench = protox::Compiler::new([&proto_root])?;
    bench.open_file(&echo)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(bench.file_descriptor_set())?;
    Ok(())
}
