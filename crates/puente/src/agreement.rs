//! `puente agreement draft / sign / verify / show` on files, and `puente agreements`,
//! which asks the running node what it enforces.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use puente_node::{LoadedNode, NodeConfig};
use puente_pki::{files, CountryCode};
use puente_policy::agreement::draft;
use puente_policy::{Agreement, Field, Mode, Purpose, Service, Term};
use puente_proto::v1::{AgreementState, ListAgreementsResponse};
use time::{Date, OffsetDateTime};

use crate::cli::AgreementCommand;

/// Runs an `agreement` subcommand.
pub fn run(command: &AgreementCommand) -> Result<()> {
    match command {
        AgreementCommand::Draft {
            parties,
            out,
            id,
            valid_from,
            valid_until,
        } => {
            let text = draft_text(
                parties,
                id.as_deref(),
                valid_from.as_deref(),
                valid_until.as_deref(),
            )?;
            if out.exists() {
                bail!("{} already exists; refusing to overwrite it", out.display());
            }
            files::write_public(out, &text)?;
            println!(
                "Drafted {}. Edit it, then each party signs it:",
                out.display()
            );
            println!(
                "  puente agreement sign --config YOUR/puente.toml {}",
                out.display()
            );
        }
        AgreementCommand::Sign { config, file } => {
            let node = NodeConfig::load(config)?;
            let a = sign_file(&node, file)?;
            println!(
                "{} signed {} with key {}.",
                node.country(),
                a.id,
                node.signing.name()
            );
            // The draft's placeholder is a legal text no one wrote: say so loudly.
            for g in &a.grants {
                if g.legal_basis.contains("(replace with the real basis)") {
                    eprintln!(
                        "warning: the grant {} → {} still has the draft's placeholder legal basis ({:?}); an agreement names the real instrument and article",
                        g.provider, g.receiver, g.legal_basis
                    );
                }
            }
            let pending = still_to_sign(&node, &a);
            if pending.is_empty() {
                println!("Both parties have signed, and both signatures verify over this text. Each copies the file into its agreements directory ({}).", node.config.agreements.dir.display());
            } else {
                for line in &pending {
                    println!("{line}");
                }
                println!("The agreement is not in force until every party has signed this exact text; send the file to the parties named above.");
            }
        }
        AgreementCommand::Verify { config, file } => {
            let node = NodeConfig::load(config)?;
            let a = verify_file(&node, file)?;
            println!(
                "{}: both signatures verify; {} would enforce it.",
                a.id,
                node.country()
            );
            let now = OffsetDateTime::now_utc();
            if now < a.valid_from {
                println!("Note: it takes effect on {}.", a.valid_from.date());
            } else if now >= a.valid_until {
                println!("Note: it has EXPIRED.");
            }
        }
        AgreementCommand::Show { file } => {
            let a = read(file)?;
            print!("{}", a.describe());
            if !a.signatures.is_empty() {
                // The text alone names its signers; only the parties' keys can say the
                // text is what they signed.
                println!(
                    "(Signatures are named here, not checked: `puente agreement verify --config DIR/puente.toml {}` checks them with the parties' keys.)",
                    file.display()
                );
            }
        }
    }
    Ok(())
}

fn parse_day(s: &str, flag: &str) -> Result<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).with_context(|| format!("{flag} {s:?} is not YYYY-MM-DD"))
}

/// The text of a drafted agreement.
pub fn draft_text(
    parties: &[String],
    id: Option<&str>,
    from: Option<&str>,
    until: Option<&str>,
) -> Result<String> {
    let [a, b] = parties else {
        bail!("--parties takes exactly two country codes, e.g. MEX,GTM");
    };
    let (a, b) = (CountryCode::parse(a)?, CountryCode::parse(b)?);
    if a == b {
        bail!("--parties: both parties are {a}");
    }
    let today = OffsetDateTime::now_utc().date();
    let from = match from {
        Some(s) => parse_day(s, "--valid-from")?,
        None => today,
    };
    let until = match until {
        Some(s) => parse_day(s, "--valid-until")?,
        None => from
            .replace_year(from.year() + 1)
            .unwrap_or(from)
            .previous_day()
            .unwrap_or(from),
    };
    let id = id
        .map(str::to_string)
        .unwrap_or_else(|| format!("{a}-{b}-{}-01", from.year()));
    let text = draft(a, b, &id, from, until);
    // What we write must be a valid agreement.
    Agreement::parse(&text, "draft")?;
    Ok(text)
}

fn read(file: &Path) -> Result<Agreement> {
    let text = files::read_text(file)?;
    Ok(Agreement::parse(&text, &file.display().to_string())?)
}

/// Adds the node's country's signature to `file`, in place.
pub fn sign_file(node: &LoadedNode, file: &Path) -> Result<Agreement> {
    let mut a = read(file)?;
    a.sign(node.country(), &node.signing, OffsetDateTime::now_utc())?;
    files::write_public(file, &a.to_text())?;
    Ok(a)
}

/// What keeps `a` from being signed by both parties over its current text, one line per
/// party that must sign (again) and why; empty when both signatures verify.
pub fn still_to_sign(node: &LoadedNode, a: &Agreement) -> Vec<String> {
    let own = node.country();
    let message = a.signed_bytes();
    let mut out = Vec::new();
    for party in a.parties {
        let Some(sig) = a.signatures.iter().find(|s| s.country == party) else {
            out.push(format!("Still to sign: {party}."));
            continue;
        };
        let key = if party == own {
            Some(node.signing.verifying_key())
        } else {
            node.trust.peer(party).map(|p| p.signing_key.clone())
        };
        match key {
            None => out.push(format!(
                "{party}'s signature cannot be checked: {party} is not in this node's trust file (add its bundle with `puente trust add`)."
            )),
            Some(k) if k.name() != sig.key => out.push(format!(
                "{party} must sign again: it signed with key {}, but the key trusted for {party} is {}.",
                sig.key,
                k.name()
            )),
            Some(k) if !k.verify(&message, &sig.value) => out.push(format!(
                "{party} must sign again: the text changed after {party} signed (its signature of {} does not verify over the current text).",
                if sig.signed_at.is_empty() { "an earlier version" } else { sig.signed_at.as_str() }
            )),
            Some(_) => {}
        }
    }
    out
}

/// Verifies `file` as `node` would at load time.
pub fn verify_file(node: &LoadedNode, file: &Path) -> Result<Agreement> {
    let a = read(file)?;
    let own = node.country();
    if !a.is_party(own) {
        bail!(
            "agreement {}: {own} is not a party, so this node would not enforce it",
            a.id
        );
    }
    a.verify(|c| {
        if c == own {
            Some(node.signing.verifying_key())
        } else {
            node.trust.peer(c).map(|p| p.signing_key.clone())
        }
    })?;
    Ok(a)
}

/// Asks the node configured at `node` for its agreements.
pub async fn fetch(node: &LoadedNode) -> Result<ListAgreementsResponse> {
    fetch_with(&crate::access::node_client(
        node,
        puente_pki::Role::Operator,
    )?)
    .await
}

/// Asks the node behind `client` for its agreements.
pub async fn fetch_with(client: &puente_client::NodeClient) -> Result<ListAgreementsResponse> {
    client
        .list_agreements()
        .await
        .map_err(|e| anyhow!("asking {}: {e}", client.describe()))
}

fn names<T: Term>(values: &[i32]) -> String {
    let v: Vec<String> = values
        .iter()
        .filter_map(|n| T::from_number(*n))
        .map(|t| t.name())
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// Renders `ListAgreements` for people.
pub fn render(r: &ListAgreementsResponse) -> String {
    let mut out = String::new();
    if r.agreements.is_empty() {
        out.push_str("No agreements. Without one, every exchange is refused (default deny).\n");
    }
    for a in &r.agreements {
        let state = AgreementState::try_from(a.state).unwrap_or(AgreementState::Unspecified);
        let label = match state {
            AgreementState::InForce => "IN FORCE",
            AgreementState::NotYetValid => "NOT YET VALID",
            AgreementState::Expired => "EXPIRED",
            AgreementState::Invalid if a.broken => "ERROR: NOT ENFORCED",
            AgreementState::Invalid => "NOT ENFORCED",
            AgreementState::Superseded => "SUPERSEDED",
            AgreementState::Unspecified => "?",
        };
        let day = |t: &Option<prost_types::Timestamp>| {
            t.as_ref()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
                .map(|t| t.date().to_string())
                .unwrap_or_else(|| "-".into())
        };
        let last_day = |t: &Option<prost_types::Timestamp>| {
            t.as_ref()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds - 1).ok())
                .map(|t| t.date().to_string())
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            out,
            "{} [{label}] {} — from {} to {} (UTC days)",
            if a.agreement_id.is_empty() {
                "(unreadable)".to_string()
            } else {
                format!("{} v{}", a.agreement_id, a.version)
            },
            a.parties.join("–"),
            day(&a.valid_from),
            last_day(&a.valid_until)
        );
        if !a.state_reason.is_empty() {
            let _ = writeln!(out, "  why: {}", a.state_reason.replace('\n', "\n       "));
        }
        let _ = writeln!(
            out,
            "  file: {}{}",
            a.file,
            if a.kept {
                " (last good copy kept by the node)"
            } else {
                ""
            }
        );
        for g in &a.grants {
            let mode = if Mode::try_from(g.identity_mode).ok() == Some(Mode::HitNoHit) {
                " (identity: hit/no-hit)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} ← {}: {}{mode}",
                g.receiver_country,
                g.provider_country,
                names::<Service>(&g.services)
            );
            let _ = writeln!(
                out,
                "    purposes {}; fields {}",
                names::<Purpose>(&g.purposes),
                names::<Field>(&g.fields)
            );
            let has = |s: Service| g.services.contains(&(s as i32));
            let mut quota = Vec::new();
            if has(Service::IdentityQuery) {
                quota.push(format!(
                    "queries today {}/{}",
                    g.queries_used_today, g.queries_per_day
                ));
            }
            if has(Service::PassportCopy) {
                quota.push(format!(
                    "copies today {}/{}",
                    g.copies_used_today, g.copies_per_day
                ));
            }
            quota.push(format!("retention {} days", g.retention_days));
            let _ = writeln!(out, "    {}", quota.join("; "));
        }
    }
    out
}

/// `puente agreements --profile … | --config …`
pub fn list(access: &crate::cli::NodeAccess) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    let (_access, client) = crate::access::client(access, puente_pki::Role::Operator)?;
    let r = runtime.block_on(fetch_with(&client))?;
    print!("{}", render(&r));
    // A broken file is an operator's to fix: say so in the exit status too (monitoring).
    let broken = r.agreements.iter().filter(|a| a.broken).count();
    if broken > 0 {
        bail!("{broken} agreement file(s) of the node are broken and not enforced (ERROR above)");
    }
    Ok(())
}
