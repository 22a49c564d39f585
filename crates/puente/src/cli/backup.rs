//! Flags of `puente backup` and `puente restore`.

use std::path::PathBuf;

use clap::Args;

use super::ConfigArg;

/// `puente backup`
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The node's configuration.
    #[command(flatten)]
    pub config: ConfigArg,
    /// The archive to write (refused if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also put the signing key, data key and TLS key (read from the files the
    /// configuration names, never sent over the network) into the archive.
    #[arg(long)]
    pub with_keys: bool,
}

/// `puente restore`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The configuration of the node to restore (its data directory must be empty).
    #[command(flatten)]
    pub config: ConfigArg,
    /// The archive `puente backup` wrote.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}
