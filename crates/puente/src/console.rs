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

/// Opens `url` in the user's browser without putting it on a command line: the login
/// token in it would be readable by every local user in `/proc/*/cmdline` (of the
/// opener and of the browser it starts), and whoever used it first would get the
/// session. The browser is given a file instead, in a directory only this user can
/// read, that sends it on to `url`; the directory goes when the console stops.
fn open_browser_privately(url: &str) -> Option<tempfile::TempDir> {
    match opener_page(url) {
        Ok((dir, page)) => {
            open_browser(&page.to_string_lossy());
            Some(dir)
        }
        Err(e) => {
            eprintln!("(could not write the page that opens the browser: {e}; open the address above in a browser)");
            None
        }
    }
}

/// The page [`open_browser_privately`] gives the browser, in a new private directory.
fn opener_page(url: &str) -> std::io::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("puente-console-")
        .tempdir()?;
    // The directory is this user's alone before anything is put in it (tempfile makes
    // it with the umask's mode, and its files 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    }
    let page = dir.path().join("open-console.html");
    let mut f = tempfile::Builder::new()
        .prefix("open-console")
        .suffix(".html")
        .tempfile_in(dir.path())?;
    writeln!(
        f,
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={url}\"><title>Puente console</title><a href=\"{url}\">Open the Puente console</a>"
    )?;
    f.persist(&page).map_err(|e| e.error)?;
    Ok((dir, page))
}

fn open_browser(target: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(target)
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
        let _opener_page = if args.no_open {
            None
        } else {
            open_browser_privately(&prepared.url)
        };
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_that_opens_the_browser_is_the_users_alone() {
        let url = "http://127.0.0.1:4321/login?token=00ff";
        let (dir, page) = super::opener_page(url).unwrap();
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.contains(&format!("content=\"0;url={url}\"")), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(dir.path()), 0o700);
            assert_eq!(mode(&page), 0o600);
        }
        // The command line gets the file's path, never the token.
        assert!(!page.to_string_lossy().contains("00ff"));
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists(), "gone when the console stops");
    }
}
