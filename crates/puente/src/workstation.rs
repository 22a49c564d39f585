//! `puente client init`: a person's client profile, made on the node's host where the
//! country's CA key is. The profile directory holds the person's certificate and key and
//! this country's CA, nothing of the node's, so it can be handed over and copied to an
//! officer's or auditor's workstation ([`puente_client::profile`]).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use puente_client::profile::{write_profile, PROFILE_FILE};
use puente_client::Profile;
use puente_node::NodeConfig;
use puente_pki::ca::{self, CountryCa, IssueOptions};
use puente_pki::{files, PeerIdentity, Role};
use time::OffsetDateTime;

use crate::cli::{ClientCommand, ClientInitArgs, PersonRole};
use crate::officer::UsageError;

/// Runs a `client` subcommand.
pub fn run(command: &ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Init(args) => {
            let made = init(args)?;
            print!("{}", made.report(args));
            Ok(())
        }
    }
}

/// What `client init` made.
#[derive(Debug)]
pub struct Made {
    /// The profile file.
    pub profile: PathBuf,
    /// The person.
    pub identity: PeerIdentity,
    /// The node the profile points at.
    pub node: String,
    /// The certificate the node's host keeps (to revoke it).
    pub kept_cert: PathBuf,
    /// End of the certificate's validity.
    pub not_after: OffsetDateTime,
}

impl Made {
    fn report(&self, args: &ClientInitArgs) -> String {
        let p = self.profile.display();
        let next = match self.identity.role {
            Role::Auditor => "puente audit list --online",
            Role::Carrier => "puente manifest submit FILE",
            _ => "puente peers",
        };
        format!(
            "Issued {} (valid until {}) and wrote the client profile {p}:\n  node  {}\n  files {} (ca.pem, {role}-{name}.pem, {role}-{name}.key with mode 0600)\n\
             It holds no node key, signing key or data key. Hand the directory to {name} over a\n\
             safe channel; it works from any directory it is copied to. On the workstation:\n  \
             export PUENTE_PROFILE=…/{PROFILE_FILE}\n  {next}\n\
             The key was moved out of the PKI directory; revoke the certificate with\n  \
             puente pki revoke --dir {} --cert {}\n",
            self.identity.urn(),
            self.not_after.date(),
            self.node,
            args.out.display(),
            self.kept_cert
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            self.kept_cert.display(),
            role = self.identity.role,
            name = self.identity.name,
        )
    }
}

/// `puente client init`: issues the certificate and writes the profile.
pub fn init(args: &ClientInitArgs) -> Result<Made> {
    let role = match args.role {
        PersonRole::Operator => Role::Operator,
        PersonRole::Auditor => Role::Auditor,
        PersonRole::Carrier => Role::Carrier,
    };
    puente_pki::identity::validate_name(&args.name)?;
    let profile = args.out.join(PROFILE_FILE);
    if profile.exists() {
        bail!(UsageError(format!(
            "{} already exists; refusing to overwrite a profile (choose another --out)",
            profile.display()
        )));
    }
    let node = NodeConfig::load(&args.config)?;
    let pki = node
        .config
        .tls
        .ca
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let ca = CountryCa::open(&pki).with_context(|| {
        format!(
            "opening the CA of {} in {} (its key issues the person's certificate: run this on the host that holds it)",
            node.country(),
            pki.display()
        )
    })?;
    if ca.country() != node.country() {
        bail!(
            "{}: the CA in {} is {}'s, but the node is {}'s",
            args.config.display(),
            pki.display(),
            ca.country(),
            node.country()
        );
    }
    let now = OffsetDateTime::now_utc();
    let issued = ca.issue(
        role,
        &args.name,
        &IssueOptions::valid_for_days(now, ca::LEAF_VALIDITY_DAYS),
    )?;
    let cert_pem = files::read_text(&issued.cert_path)?;
    let key_pem = files::read_text(&issued.key_path)?;
    let written = write_profile(
        &args.out,
        &node.advertise,
        ca.cert_pem(),
        &issued.identity,
        &cert_pem,
        &key_pem,
    );
    // The key lives with its person only, whether or not the profile could be written
    // (then the certificate is useless: issue another name, or revoke it).
    std::fs::remove_file(&issued.key_path)
        .with_context(|| format!("removing {}", issued.key_path.display()))?;
    let path = written?;
    // What was written is a profile the CLI accepts.
    Profile::load(&path)?;
    Ok(Made {
        profile: path,
        identity: issued.identity,
        node: node.advertise.clone(),
        kept_cert: issued.cert_path,
        not_after: issued.not_after,
    })
}
