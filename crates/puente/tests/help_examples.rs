//! Every example a `--help` page gives parses as the command it shows: an example that a
//! new operator copies must not fail on a missing or renamed flag (two did, once
//! `--case` became required).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use clap::{CommandFactory, Parser};
use puente::cli::Cli;

/// Words of a shell line: spaces split, double or single quotes group.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The example command lines of one help text (continuations joined).
fn examples(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in help.lines() {
        let t = line.trim();
        if let Some(p) = pending.as_mut() {
            p.push(' ');
            p.push_str(t.trim_end_matches('\\'));
            if !t.ends_with('\\') {
                out.push(pending.take().unwrap());
            }
            continue;
        }
        let cmd = t
            .split_whitespace()
            .skip_while(|w| w.contains('=') && !w.starts_with('-'))
            .collect::<Vec<_>>()
            .join(" ");
        if cmd.starts_with("puente ") && line.starts_with("  ") {
            let body = cmd.trim_end_matches('\\').to_string();
            if t.ends_with('\\') {
                pending = Some(body);
            } else {
                out.push(body);
            }
        }
    }
    out
}

fn walk(cmd: &mut clap::Command, found: &mut Vec<(String, String)>) {
    let name = cmd.get_name().to_string();
    let help = cmd.render_long_help().to_string();
    for e in examples(&help) {
        found.push((name.clone(), e));
    }
    for sub in cmd.get_subcommands_mut() {
        walk(sub, found);
    }
}

#[test]
fn every_help_example_parses() {
    let mut found = Vec::new();
    walk(&mut Cli::command(), &mut found);
    assert!(found.len() >= 10, "the help pages give examples: {found:?}");
    let mut failed = Vec::new();
    for (page, line) in &found {
        // Pipes, redirections, comments and a closing "(what it is for)" end the command.
        let mut line = line
            .split(['|', '>', '#'])
            .next()
            .unwrap_or_default()
            .trim();
        if line.ends_with(')') {
            if let Some(at) = line.rfind(" (") {
                line = &line[..at];
            }
        }
        let argv = words(line);
        if argv.iter().any(|w| w.contains('…') || w == "...") {
            continue;
        }
        if let Err(e) = Cli::try_parse_from(&argv) {
            failed.push(format!("{page}: {line}\n  {}", e.kind()));
        }
    }
    assert!(
        failed.is_empty(),
        "examples that do not parse:\n{}",
        failed.join("\n")
    );
}
