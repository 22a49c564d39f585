//! Reaching the own node as a person: from a client profile (`--profile`, on a
//! workstation) or from the node's configuration (`--config`, on the node's host, with
//! the certificates of its `[client]` section). Every officer and auditor command starts
//! here.

use std::path::Path;

use anyhow::{anyhow, Result};
use puente_client::{NodeClient, Profile};
use puente_node::store::{Store, StoreError};
use puente_node::{LoadedNode, NodeConfig};
use puente_pki::files;
use puente_pki::tls::TlsIdentity;
use puente_pki::Role;

use crate::cli::NodeAccess;
use crate::officer::UsageError;

/// Where the person's material came from.
#[derive(Debug)]
pub enum Access {
    /// A client profile: one person's certificate, nothing of the node's.
    Profile(Box<Profile>),
    /// The node's own configuration (node's host).
    Node(Box<LoadedNode>),
}

impl Access {
    /// Reads the one of `--profile` / `--config` given.
    pub fn load(a: &NodeAccess) -> Result<Self> {
        match (&a.profile, &a.config) {
            (Some(p), None) => Ok(Self::Profile(Box::new(Profile::load(p)?))),
            (None, Some(c)) => Ok(Self::Node(Box::new(NodeConfig::load(c)?))),
            (Some(p), Some(c)) => Err(anyhow!(UsageError(format!(
                "both --profile {} and --config {} are given{}; pass only one: --profile on a workstation, --config on the node's host",
                p.display(),
                c.display(),
                from_env()
            )))),
            (None, None) => Err(anyhow!(UsageError(
                "say which node to talk to, and as whom: --profile FILE (your client profile, DIR/puente-client.toml, made by `puente client init`) or, on the node's host, --config FILE (the node's puente.toml); the environment variables PUENTE_PROFILE or PUENTE_CONFIG spare the flag".into()
            ))),
        }
    }

    /// A client for a call that needs `role`: the profile's person, or the node
    /// configuration's certificate for that role.
    pub fn client(&self, role: Role) -> Result<NodeClient> {
        match self {
            Self::Profile(p) => Ok(NodeClient::from_profile(p)?),
            Self::Node(n) => node_client(n, role),
        }
    }

    /// The node's configuration, for commands that only work on the node's host.
    pub fn node(&self, what: &str) -> Result<&LoadedNode> {
        match self {
            Self::Node(n) => Ok(n),
            Self::Profile(p) => Err(anyhow!(UsageError(format!(
                "{what} reads the node's data directory, so it runs on the node's host with --config DIR/puente.toml; with the profile {} use --online",
                p.path.display()
            )))),
        }
    }
}

/// Which environment variables are set, for messages.
fn from_env() -> String {
    let set: Vec<&str> = ["PUENTE_PROFILE", "PUENTE_CONFIG"]
        .into_iter()
        .filter(|v| std::env::var_os(v).is_some())
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(" ({} set in the environment)", set.join(" and "))
    }
}

/// `--profile` / `--config` of `a`, loaded, and a client for `role`.
pub fn client(a: &NodeAccess, role: Role) -> Result<(Access, NodeClient)> {
    let access = Access::load(a)?;
    let client = access.client(role)?;
    Ok((access, client))
}

/// A client of the node configured in `node`, with the certificate its `[client]`
/// section names for `role`.
pub fn node_client(node: &LoadedNode, role: Role) -> Result<NodeClient> {
    let identity = person_identity(node, role)?;
    Ok(NodeClient::connect(
        &node.advertise,
        &identity,
        &node.own_anchor,
        role,
        Some(&node.identity.name),
    )?)
}

/// The certificate and key a node configuration's `[client]` section names for `role`.
pub fn person_identity(node: &LoadedNode, role: Role) -> Result<TlsIdentity> {
    let c = &node.config.client;
    let (cert, key, what) = match role {
        Role::Auditor => (&c.auditor_cert, &c.auditor_key, "auditor"),
        _ => (&c.operator_cert, &c.operator_key, "operator"),
    };
    let missing = |key: &str| {
        anyhow!(
            "{}: client.{what}_{key} is not set; it names the {what} certificate the CLI presents (or use --profile with an {what}'s client profile)",
            node.path.display()
        )
    };
    let cert = cert.as_deref().ok_or_else(|| missing("cert"))?;
    let key = key.as_deref().ok_or_else(|| missing("key"))?;
    load_identity(cert, key)
}

fn load_identity(cert: &Path, key: &Path) -> Result<TlsIdentity> {
    Ok(TlsIdentity {
        chain: files::load_certs(cert)?,
        key: files::load_private_key(key)?,
    })
}

/// The node's store, or `None` when the running node holds it. That is found at once:
/// the store's lock is tried once and, when held, the node's address answers; sled's
/// lock wait (a process that just closed the store) is left for when it does not.
pub fn store_unless_running(node: &LoadedNode) -> Result<Option<Store>> {
    let dir = &node.config.node.data_dir;
    match Store::open_once(dir) {
        Ok(store) => Ok(Some(store)),
        Err(StoreError::Held { .. }) if node_answers(node) => Ok(None),
        Err(StoreError::Held { .. }) => Ok(Some(Store::open(dir)?)),
        Err(e) => Err(e.into()),
    }
}

/// Whether something accepts connections on the node's advertised or listen address.
fn node_answers(node: &LoadedNode) -> bool {
    use std::net::ToSocketAddrs;
    let wait = std::time::Duration::from_millis(500);
    let mut addrs: Vec<std::net::SocketAddr> = node
        .advertise
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default();
    addrs.push(node.listen);
    addrs
        .iter()
        .filter(|a| a.port() != 0)
        .any(|a| std::net::TcpStream::connect_timeout(a, wait).is_ok())
}
