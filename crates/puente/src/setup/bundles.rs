//! `puente trust …`: exporting this country's public bundle and taking peers' bundles,
//! with consent to a change of who a peer is.

use super::*;

/// The public bundle of the node configured at `config`.
pub fn export_bundle(config: &Path) -> Result<String> {
    let node = NodeConfig::load(config)?;
    let ca_pem = files::read_text(&node.config.tls.ca)?;
    let crl = match &node.config.tls.crl {
        Some(p) => Some(files::read_text(p)?),
        None => None,
    };
    Ok(trust::export_bundle(&PeerEntry {
        country: node.country().to_string(),
        address: node.advertise.clone(),
        signing_key: node.signing.verifying_key().to_note_key(),
        ca_certificate: ca_pem,
        crl,
    })?)
}

/// Adds a peer bundle to the trust file of the node at `config`; returns the peer's
/// fingerprints text.
pub fn add_peer(
    config: &Path,
    bundle: &Path,
    expect: Option<&str>,
    replace: bool,
) -> Result<String> {
    let node = NodeConfig::load(config)?;
    let peer = trust::read_bundle(bundle)?;
    trust::dialable(&peer.address).map_err(|e| {
        crate::officer::UsageError(format!(
            "{}: address {e}; ask {} for a bundle exported after setting its node's advertise address",
            bundle.display(),
            peer.country
        ))
    })?;
    if peer.country == node.country() {
        bail!(
            "{} is this node's own country's bundle ({}); add peers' bundles only",
            bundle.display(),
            peer.country
        );
    }
    let ca_fp = hex_of(&peer.ca_info.fingerprint);
    if let Some(expect) = expect {
        let want: String = expect
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if want != ca_fp {
            bail!(
                "the CA fingerprint of {} is {}, not the expected {}; do not trust this bundle",
                bundle.display(),
                fingerprint_text(&peer.ca_info.fingerprint),
                expect
            );
        }
    }
    let mut notes = String::new();
    if let Some(old) = node.trust.peer(peer.country) {
        if old.entry == peer.entry {
            return Ok(format!(
                "Peer {} ({}) unchanged: {} is the bundle already trusted (CA {}).\n",
                peer.country,
                peer.country.name(),
                bundle.display(),
                fingerprint_text(&peer.ca_info.fingerprint),
            ));
        }
        notes = consent_to_change(old, &peer, bundle, replace)?;
    }
    let replaced = TrustBundle::add(&node.config.trust.file, &peer)?;
    // The trust file must still load as a whole.
    NodeConfig::load(config)?;
    Ok(format!(
        "{notes}{} {} ({}) at {}\n  CA fingerprint           {}\n  signing key {:<12} {}\nConfirm both fingerprints with {} by phone or in person before exchanging data.\nA running node reloads its trust file by itself (within [server] reload_interval_secs).\n",
        if replaced { "Replaced peer" } else { "Added peer" },
        peer.country,
        peer.country.name(),
        peer.address,
        fingerprint_text(&peer.ca_info.fingerprint),
        peer.signing_key.name(),
        fingerprint_text(&peer.signing_key.fingerprint()),
        peer.country,
    ))
}

/// Whether a bundle may replace the one trusted for its country. The same CA and signing
/// key with a newer CRL (or a new address) is routine and taken; a different CA or
/// signing key is a change of who the peer is, taken only with `--replace` after both
/// sides compared fingerprints; a CRL older than the one held would undo revocations and
/// is refused the same way. Returns notes on what changes.
fn consent_to_change(
    old: &puente_pki::trust::TrustedPeer,
    new: &puente_pki::trust::TrustedPeer,
    bundle: &Path,
    replace: bool,
) -> Result<String> {
    let mut notes = String::new();
    let same_ca = old.ca_info.fingerprint == new.ca_info.fingerprint;
    let same_key = old.signing_key.fingerprint() == new.signing_key.fingerprint();
    if !(same_ca && same_key) {
        let table = format!(
            "  CA fingerprint   now   {}\n                   new   {}{}\n  signing key      now   {} {}\n                   new   {} {}{}",
            fingerprint_text(&old.ca_info.fingerprint),
            fingerprint_text(&new.ca_info.fingerprint),
            if same_ca { "  (same)" } else { "  (CHANGED)" },
            old.signing_key.name(),
            fingerprint_text(&old.signing_key.fingerprint()),
            new.signing_key.name(),
            fingerprint_text(&new.signing_key.fingerprint()),
            if same_key { "  (same)" } else { "  (CHANGED)" },
        );
        if !replace {
            bail!(
                "{} is already trusted, and {} changes who it is:\n{table}\nConfirm the new fingerprints with {} by phone or in person; if they match, run again with --replace. Until then nothing changes.",
                new.country,
                bundle.display(),
                new.country
            );
        }
        notes.push_str(&format!(
            "Replacing what {} was trusted as (--replace):\n{table}\n",
            new.country
        ));
    }
    let newest = |p: &puente_pki::trust::TrustedPeer| -> Result<Option<OffsetDateTime>> {
        let mut latest = None;
        for der in &p.crls {
            let info = inspect::inspect_crl(der, bundle)?;
            latest = latest.max(Some(info.this_update));
        }
        Ok(latest)
    };
    if same_ca {
        match (newest(old)?, newest(new)?) {
            (Some(held), None) if !replace => bail!(
                "{} carries no CRL where the trusted entry of {} has one of {}: taking it would forget {}'s revocations. Ask {} for a current bundle, or run again with --replace.",
                bundle.display(),
                new.country,
                date(held),
                new.country,
                new.country
            ),
            (Some(held), Some(offered)) if offered < held && !replace => bail!(
                "the CRL in {} ({}) is older than the one already trusted for {} ({}): taking it could undo revocations. Ask {} for a current bundle, or run again with --replace.",
                bundle.display(),
                date(offered),
                new.country,
                date(held),
                new.country
            ),
            (Some(held), Some(offered)) if offered > held => notes.push_str(&format!(
                "{}'s CRL updated: {} -> {} (same CA, no confirmation needed).\n",
                new.country,
                date(held),
                date(offered)
            )),
            (None, Some(offered)) => notes.push_str(&format!(
                "{}'s CRL added: {} (same CA, no confirmation needed).\n",
                new.country,
                date(offered)
            )),
            _ => {}
        }
    }
    if old.address != new.address {
        notes.push_str(&format!(
            "{}'s address changes: {} -> {}.\n",
            new.country, old.address, new.address
        ));
    }
    Ok(notes)
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `puente trust …`
pub fn trust_command(command: &TrustCommand) -> Result<()> {
    match command {
        TrustCommand::Export { config, out } => {
            let text = export_bundle(config)?;
            // What the peer reads back on the phone before trusting the bundle.
            let own = trust::read_bundle_text(&text, Path::new("the exported bundle"))?;
            let fingerprints = format!(
                "Read these to {}'s peers by phone or in person; they compare them with what `puente trust add` prints:\n  CA fingerprint           {}\n  signing key {:<12} {}",
                own.country,
                fingerprint_text(&own.ca_info.fingerprint),
                own.signing_key.name(),
                fingerprint_text(&own.signing_key.fingerprint())
            );
            match out {
                Some(path) => {
                    files::write_public(path, &text)?;
                    println!(
                        "Wrote {}. Hand it to your peers; it holds no secret.\n{fingerprints}",
                        path.display()
                    );
                }
                None => {
                    std::io::stdout().write_all(text.as_bytes())?;
                    eprintln!("{fingerprints}");
                }
            }
        }
        TrustCommand::Add {
            config,
            file,
            expect_fingerprint,
            replace,
        } => print!(
            "{}",
            add_peer(config, file, expect_fingerprint.as_deref(), *replace)?
        ),
        TrustCommand::List { config } => {
            let node = NodeConfig::load(config)?;
            if node.trust.peers.is_empty() {
                println!(
                    "No peers trusted yet. Add one with `puente trust add --config {} FILE`.",
                    config.display()
                );
            }
            for p in &node.trust.peers {
                println!(
                    "{} ({}) at {}\n  CA fingerprint  {}\n  CA valid until  {}\n  signing key     {} {}\n  CRL             {}",
                    p.country,
                    p.country.name(),
                    p.address,
                    fingerprint_text(&p.ca_info.fingerprint),
                    date(p.ca_info.not_after),
                    p.signing_key.name(),
                    fingerprint_text(&p.signing_key.fingerprint()),
                    if p.crls.is_empty() { "none".to_string() } else { format!("{} list(s)", p.crls.len()) }
                );
            }
        }
        TrustCommand::Remove { config, country } => {
            let node = NodeConfig::load(config)?;
            let country = CountryCode::parse(country)?;
            if TrustBundle::remove(&node.config.trust.file, country)? {
                println!(
                    "{country} removed from {}. Restart the node to apply.",
                    node.config.trust.file.display()
                );
            } else {
                bail!("{country} is not in {}", node.config.trust.file.display());
            }
        }
    }
    Ok(())
}
