//! The `puente` command: parse flags, set up logging, run the chosen command, map failure
//! to an exit code (2: bad usage or configuration, 1: anything else).

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = puente::cli::Cli::parse();
    puente::logging::init(&cli);
    match puente::commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", puente::commands::describe(&e));
            std::process::ExitCode::from(puente::commands::exit_code(&e))
        }
    }
}
