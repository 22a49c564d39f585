//! Dispatch of parsed commands, and how failures become messages and exit codes.

use anyhow::Result;

use crate::cli::{Cli, Command, NodeCommand};
use crate::{
    agreement, alerts, audit, backup, bench, demo, officer, operate, records, setup, stats,
    workstation,
};

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init(args) => {
            let outcome = setup::init(&args)?;
            setup::print_init_next_steps(&args, &outcome);
            Ok(())
        }
        Command::Pki { command } => setup::pki(&command),
        Command::Trust { command } => setup::trust_command(&command),
        Command::Node {
            command: NodeCommand::Run(c),
        } => operate::run_node(&c.config),
        Command::Node {
            command: NodeCommand::Check(c),
        } => {
            print!("{}", operate::check_node(&c.config)?);
            Ok(())
        }
        Command::Peers(c) => operate::peers(&c.access),
        Command::Status { access, output } => crate::status::run(&access, output),
        Command::Agreement { command } => agreement::run(&command),
        Command::Agreements(c) => agreement::list(&c.access),
        Command::Records { command } => records::run(&command),
        Command::Query(args) => officer::query(&args),
        Command::Bench { command } => bench::run(&command),
        Command::Stats { command } => stats::run(&command),
        Command::Alert { command } => alerts::run(&command),
        Command::Audit { command } => audit::run(&command),
        Command::Fetch(args) => officer::fetch(&args),
        Command::Client { command } => workstation::run(&command),
        Command::Console(args) => crate::console::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Backup(a) => backup::backup(&a.config.config, &a.out, a.with_keys),
        Command::Restore(a) => backup::restore(&a.config.config, &a.file),
        Command::Manifest { command } => crate::manifest::run(&command),
        Command::Completions { shell } => completions(shell),
    }
}

/// `puente completions SHELL`: the script on stdout. Generated into memory first, since
/// clap_complete panics on a failed write (e.g. `| head` closing the pipe).
fn completions(shell: clap_complete::Shell) -> Result<()> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "puente", &mut script);
    match std::io::stdout().write_all(&script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing the completion script"))
        }
        _ => Ok(()),
    }
}

/// The full error text: the error and each cause, one per line.
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str("\n  caused by: ");
            out.push_str(&text);
        }
    }
    out
}

/// Whether the command failed only because whoever read its output stopped reading
/// (`puente stats export | head`): not an error.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// 2 for bad configuration or input material, 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let config_like = e.chain().any(|c| {
        c.downcast_ref::<puente_node::ConfigError>().is_some()
            || c.downcast_ref::<puente_pki::PkiError>().is_some()
            || c.downcast_ref::<puente_client::ProfileError>().is_some()
            || c.downcast_ref::<puente_client::ConnectError>().is_some()
            || c.downcast_ref::<puente_policy::AgreementError>().is_some()
            || matches!(
                c.downcast_ref::<puente_records::RecordsError>(),
                Some(
                    puente_records::RecordsError::BadRows { .. }
                        | puente_records::RecordsError::File { .. }
                        | puente_records::RecordsError::BadQuery(_)
                )
            )
            || c.downcast_ref::<crate::officer::UsageError>().is_some()
            || matches!(
                c.downcast_ref::<puente_node::BackupError>(),
                Some(
                    puente_node::BackupError::Damaged { .. } | puente_node::BackupError::Refused(_)
                )
            )
            || matches!(
                c.downcast_ref::<puente_stats::StatsError>(),
                Some(
                    puente_stats::StatsError::Line { .. }
                        | puente_stats::StatsError::Lines { .. }
                        | puente_stats::StatsError::Invalid(_)
                )
            )
    });
    if config_like {
        2
    } else {
        1
    }
}
