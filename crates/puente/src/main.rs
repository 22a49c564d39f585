//! The `puente` command: parse flags, set up logging, run the chosen command, map failure
//! to an exit code (2: bad usage or configuration, 1: anything else).

#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of glibc's malloc: the query path's profile had the allocator
/// (malloc, free, consolidation) as its largest cost; see docs/performance.md for the
/// measured difference.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    quiet_on_closed_pipe();
    let cli = puente::cli::Cli::parse();
    puente::logging::init(&cli);
    match puente::commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if puente::commands::is_closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", puente::commands::describe(&e));
            std::process::ExitCode::from(puente::commands::exit_code(&e))
        }
    }
}

/// `puente stats export | head` closes the pipe after ten lines: the reader has what it
/// wanted, so that is no error. Rust ignores SIGPIPE, so writes fail instead: errors
/// returned are recognized in `main`, and `println!`'s panic on a closed stdout ends the
/// process quietly here (without unsafe code to restore the default signal action).
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
