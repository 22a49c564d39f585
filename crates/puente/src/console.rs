//! `puente console`: serves the web UI of [`puente_console`] on this workstation, as a
//! client of the own node with the person's certificate (`--profile`, or on the node's
//! host `--config` with the certificate of its `[client]` section). The first line of
//! standard output is the address to open, with a one-time login token.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use puente_console::{login_url, Console, Keys};
use puente_pki::Role;

use crate::access::{node_client, Access};
use crate::cli::{ConsoleArgs, PersonRole};
use crate::officer::UsageError;

/// A console bound and ready to serve.
pub struct Prepared {
    /// The address to open (with the one-time token).
    pub url: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A warning to print (listening beyond loopback).
    pub warning: Option<String>,
    console: Arc<Console>,
    listener: tokio::net::TcpListener,
}

impl Prepared {
    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        puente_console::serve(self.listener, self.console, shutdown)
            .await
            .context("serving the console")
    }
}

fn keys_of(access: &Access, args: &ConsoleArgs) -> Result<Keys> {
    let mut keys = Keys::default();
    let own = match access {
        Access::Node(node) => {
            keys.own = Some(node.signing.verifying_key());
            for p in &node.trust.peers {
                keys.peers
                    .push((p.country.to_string(), p.signing_key.clone()));
            }
            node.country()
        }
        Access::Profile(p) => p.country(),
    };
    for path in &args.bundles {
        let peer = puente_pki::trust::read_bundle(path)
            .with_context(|| format!("--bundle {}", path.display()))?;
        if peer.country == own {
            keys.own = Some(peer.signing_key);
        } else {
            keys.peers.retain(|(c, _)| *c != peer.country.to_string());
            keys.peers
                .push((peer.country.to_string(), peer.signing_key));
        }
    }
    Ok(keys)
}

/// Loads the person's material, binds the listener, and makes the console (inside a
/// Tokio runtime).
pub async fn prepare(args: &ConsoleArgs) -> Result<Prepared> {
    let addr: SocketAddr = args.listen.parse().map_err(|e| {
        anyhow!(UsageError(format!(
            "--listen {:?}: {e} (give IP:PORT, e.g. 127.0.0.1:0)",
            args.listen
        )))
    })?;
    let remote = !addr.ip().is_loopback();
    if remote && !args.allow_remote {
        return Err(anyhow!(UsageError(format!(
            "--listen {addr} is not a loopback address: the console would be reachable from other machines, over plain HTTP. Add --allow-remote if that is meant (an SSH tunnel to 127.0.0.1 is safer)"
        ))));
    }
    let access = Access::load(&args.access)?;
    if let Access::Profile(p) = &access {
        if p.identity.role == Role::Carrier {
            return Err(not_for_carriers());
        }
    }
    let (client, person) = match &access {
        Access::Profile(p) => (
            puente_client::NodeClient::from_profile(p)?,
            p.identity.name.clone(),
        ),
        Access::Node(n) => {
            let role = match args.role {
                PersonRole::Auditor => Role::Auditor,
                PersonRole::Operator => Role::Operator,
                PersonRole::Carrier => return Err(not_for_carriers()),
            };
            let c = &n.config.client;
            let cert = match role {
                Role::Auditor => &c.auditor_cert,
                _ => &c.operator_cert,
            };
            let person = cert
                .as_ref()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().to_string())
                .map(|s| s.split_once('-').map(|(_, n)| n.to_string()).unwrap_or(s))
                .unwrap_or_else(|| role.to_string());
            (node_client(n, role)?, person)
        }
    };
    let keys = keys_of(&access, args)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--listen {addr}: cannot listen there"))?;
    let bound = listener.local_addr()?;
    let (console, token) = Console::new(client, &person, keys, bound, remote);
    let warning = remote.then(|| {
        format!(
            "WARNING: the console listens on {bound}, beyond loopback, over plain HTTP: other machines can reach it and anyone on the network path can read its pages and the login token. Prefer `ssh -L` to a console on 127.0.0.1."
        )
    });
    Ok(Prepared {
        url: login_url(bound, &token),
        addr: bound,
        warning,
        console: Arc::new(console),
        listener,
    })
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("(could not start {opener}: open the address above in a browser)");
    }
}

/// `puente console`: prints the address first, then serves until Ctrl-C.
pub fn run(args: &ConsoleArgs) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let prepared = prepare(args).await?;
        println!("{}", prepared.url);
        std::io::stdout().flush()?;
        if let Some(w) = &prepared.warning {
            eprintln!("{w}");
        }
        eprintln!(
            "The console serves {} (Ctrl-C stops it). The token in the address works once: it becomes a session cookie of the browser that opens it.",
            prepared.addr
        );
        if !args.no_open {
            open_browser(&prepared.url);
        }
        prepared
            .serve(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
}

/// A carrier submits manifests (`puente manifest submit`); the console's pages are
/// officers' and auditors'.
fn not_for_carriers() -> anyhow::Error {
    anyhow!(UsageError(
        "the console is for officers and auditors; a carrier submits manifests with `puente manifest submit --profile FILE`".into()
    ))
}
