//! Tracing set-up: human-readable text by default, JSON lines with `--log-format json`;
//! level from `--log-level`, else `RUST_LOG`, else `info` for the node and `warn` for
//! one-shot commands. Logs go to stderr so command output on stdout stays clean.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat, NodeCommand};

/// Installs the global subscriber.
pub fn init(cli: &Cli) {
    let default = match &cli.command {
        Command::Node {
            command: NodeCommand::Run(_),
        } => "info",
        _ => "warn",
    };
    let filter = match &cli.log_level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: a log file, journald or a pipe
        // gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
