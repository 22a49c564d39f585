//! `puente audit …`: what an auditor does with a node's log. Offline commands read the
//! data directory (stop the node, or work on a copy); `--online` asks the running node's
//! `Audit` service as an auditor (a client profile, or the config's `[client]` section);
//! `verify --log` checks a copy of the audit files with public bundles only
//! ([`crate::audit_copy`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use puente_audit::log::Trees;
use puente_audit::verify::{self, Keys};
use puente_audit::view::{self, Filter, Listed};
use puente_audit::{checkpoint, merkle};
use puente_node::store::Store;
use puente_node::{LoadedNode, NodeConfig};
use puente_pki::{files, Role, VerifyingKey};
use puente_policy::{Field, Purpose, Service, Term};
use puente_proto::v1 as pb;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::access::Access;
use crate::cli::{AuditCommand, AuditFilter, Output};
use crate::officer::UsageError;

struct NodeKeys<'a>(&'a LoadedNode, VerifyingKey);

impl Keys for NodeKeys<'_> {
    fn own(&self) -> &VerifyingKey {
        &self.1
    }
    fn peer(&self, country: &str) -> Option<VerifyingKey> {
        let c = puente_pki::CountryCode::parse(country).ok()?;
        self.0.trust.peer(c).map(|p| p.signing_key.clone())
    }
}

fn open(config: &Path, held: &str) -> Result<(LoadedNode, Store, Trees)> {
    let node = NodeConfig::load(config)?;
    let (store, trees) = open_store(&node, held)?;
    Ok((node, store, trees))
}

/// The node's store, found at once to be held by the running node (then `held` says, in
/// one line, what to do instead) rather than after sled's lock wait.
fn open_store(node: &LoadedNode, held: &str) -> Result<(Store, Trees)> {
    let dir = &node.config.node.data_dir;
    let Some(store) = crate::access::store_unless_running(node)? else {
        bail!("the node is running and holds {}: {held}", dir.display());
    };
    let trees = Trees::open(store.db(), &store.audit_dir())?;
    Ok((store, trees))
}

/// What to do instead of reading a held log offline.
const USE_ONLINE: &str = "add --online (as an auditor), or stop the node to read the log offline";
const STOP_OR_COPY: &str = "stop it to verify the log here, or verify a copy of its audit files: puente audit verify --log COPY/audit --bundle FILE";

fn enum_by_name<T: Term>(flag: &str, v: &Option<String>) -> Result<Option<i32>> {
    match v {
        None => Ok(None),
        Some(s) => T::parse(s)
            .map(|t| Some(t.proto_name_number()))
            .ok_or_else(|| {
                anyhow::Error::new(UsageError(format!(
                    "--{flag} {s:?} is not one of {}",
                    T::names()
                )))
            }),
    }
}

trait Number {
    fn proto_name_number(self) -> i32;
}
impl<T: Term> Number for T {
    fn proto_name_number(self) -> i32 {
        // Terms are dense from 1 in wire order.
        T::all()
            .iter()
            .position(|t| *t == self)
            .map(|p| p as i32 + 1)
            .unwrap_or(0)
    }
}

fn parse_time(flag: &str, s: &Option<String>) -> Result<Option<i64>> {
    let Some(s) = s else { return Ok(None) };
    if let Ok(d) = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")) {
        return Ok(Some(d.midnight().assume_utc().unix_timestamp() * 1000));
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        anyhow::Error::new(UsageError(format!(
            "--{flag} {s:?}: use YYYY-MM-DD or an RFC 3339 time"
        )))
    })?;
    Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

fn filter_of(f: &AuditFilter) -> Result<Filter> {
    let decision = match f.decision.as_deref() {
        None => None,
        Some(d) => Some(
            pb::Decision::from_str_name(&format!("DECISION_{}", d.to_ascii_uppercase()))
                .filter(|d| *d != pb::Decision::Unspecified)
                .ok_or_else(|| {
                    anyhow::Error::new(UsageError(format!(
                        "--decision {d:?}: allowed, refused or withheld"
                    )))
                })? as i32,
        ),
    };
    let direction = match f.direction.as_deref() {
        None => None,
        Some(d) => Some(
            pb::Direction::from_str_name(&format!("DIRECTION_{}", d.to_ascii_uppercase()))
                .filter(|d| *d != pb::Direction::Unspecified)
                .ok_or_else(|| {
                    anyhow::Error::new(UsageError(format!(
                        "--direction {d:?}: incoming or outgoing"
                    )))
                })? as i32,
        ),
    };
    Ok(Filter {
        since_ms: parse_time("since", &f.since)?,
        until_ms: parse_time("until", &f.until)?,
        peer_country: f.peer.as_ref().map(|p| p.to_ascii_uppercase()),
        service: enum_by_name::<Service>("service", &f.service)?,
        decision,
        direction,
        actor: f.actor.clone(),
        term_hash: None,
    })
}

fn time_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn word<T: Term>(n: i32) -> String {
    T::from_number(n)
        .map(|t| t.name())
        .unwrap_or_else(|| "-".into())
}

fn decision_word(n: i32) -> &'static str {
    match pb::Decision::try_from(n) {
        Ok(pb::Decision::Allowed) => "allowed",
        Ok(pb::Decision::Refused) => "refused",
        Ok(pb::Decision::Withheld) => "withheld",
        _ => "-",
    }
}

fn direction_word(n: i32) -> &'static str {
    match pb::Direction::try_from(n) {
        Ok(pb::Direction::Incoming) => "in",
        Ok(pb::Direction::Outgoing) => "out",
        _ => "-",
    }
}

fn json_of(l: &Listed) -> serde_json::Value {
    let e = &l.entry;
    json!({
        "index": e.index,
        "time": time_text(e.time_ms),
        "direction": direction_word(e.direction),
        "peer_country": e.peer_country,
        "actor": e.actor,
        "service": word::<Service>(e.service),
        "purpose": word::<Purpose>(e.purpose),
        "case_reference": e.case_reference,
        "agreement_id": e.agreement_id,
        "decision": decision_word(e.decision),
        "rule": e.rule,
        "reason": e.reason,
        "disclosed_fields": e.disclosed_fields.iter().map(|f| word::<Field>(*f)).collect::<Vec<_>>(),
        "request_sha256": hex::encode(e.request_sha256),
        "response_sha256": hex::encode(e.response_sha256),
        "query_term_hashes": e.query_term_hashes.iter().map(|(l, h)| json!({"term": l, "hmac": hex::encode(h)})).collect::<Vec<_>>(),
        "counterpart_receipt": e.counterpart_receipt.is_some(),
        "leaf_hash": hex::encode(puente_audit::entry::leaf_of(&l.encoded)),
    })
}

fn table_line(l: &Listed) -> String {
    let e = &l.entry;
    format!(
        "{:>6}  {}  {:<3} {}  {:<15} {:<20} {:<8} {}{}",
        e.index,
        time_text(e.time_ms),
        direction_word(e.direction),
        e.peer_country,
        word::<Service>(e.service),
        word::<Purpose>(e.purpose),
        decision_word(e.decision),
        e.rule,
        if e.counterpart_receipt.is_some() {
            "  [receipt]"
        } else {
            ""
        }
    )
}

fn call_error(e: puente_client::CallError) -> anyhow::Error {
    anyhow!(e)
}

/// Runs an `audit` subcommand.
pub fn run(command: &AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify {
            config,
            log,
            bundle,
        } => {
            let config = match (config, log) {
                (Some(c), None) => c,
                (None, Some(log)) => return crate::audit_copy::verify(log, bundle),
                _ => bail!(UsageError(
                    "give --config DIR/puente.toml (on the node's host), or --log DIR/audit with --bundle FILE (a copy of the audit files and public bundles)".into()
                )),
            };
            let (node, _store, trees) = open(config, STOP_OR_COPY)?;
            let keys = NodeKeys(&node, node.signing.verifying_key());
            let started = std::time::Instant::now();
            let report = verify::verify(&trees, &keys, &mut |done, total| {
                eprintln!("  verified {done}/{total} entries");
            })
            .map_err(|e| anyhow!("{e}"))?;
            // A store that reopened shorter than what this node last signed for.
            puente_audit::head::check(
                &puente_node::store::audit_head_path(&node.config.node.data_dir),
                &trees,
                &node.signing.verifying_key(),
            )
            .map_err(|e| anyhow!("{e}"))?;
            println!(
                "The audit log of {} verifies: {} entries, {} signed checkpoints, {} peer cosignatures, {} counterpart receipts ({:.2}s).",
                node.country(),
                report.entries,
                report.checkpoints,
                report.cosignatures,
                report.receipts,
                started.elapsed().as_secs_f64()
            );
            if report.unknown_witnesses > 0 {
                println!(
                    "Note: {} cosignatures by witnesses not in the trust bundle were not checked.",
                    report.unknown_witnesses
                );
            }
            print_peer_findings(&report);
        }
        AuditCommand::List {
            access,
            filter,
            from,
            limit,
            online,
            output,
        } => {
            let f = filter_of(filter)?;
            let access = Access::load(access)?;
            let listed: Vec<(serde_json::Value, String)> =
                every_entry(&access, &f, None, *online, "audit list", *from, *limit)?
                    .iter()
                    .map(|l| (json_of(l), table_line(l)))
                    .collect();
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &listed.iter().map(|(j, _)| j.clone()).collect::<Vec<_>>()
                    )?
                ),
                Output::Table => {
                    println!(
                        "{:>6}  {:<25} {:<3} {:<4} {:<15} {:<20} {:<8} RULE",
                        "INDEX", "TIME (UTC)", "DIR", "PEER", "SERVICE", "PURPOSE", "DECISION"
                    );
                    for (_, line) in &listed {
                        println!("{line}");
                    }
                    if listed.is_empty() {
                        println!("(no entries match)");
                    }
                }
            }
        }
        AuditCommand::Export {
            access,
            online,
            format,
            filter,
            out,
        } => {
            let f = filter_of(filter)?;
            let mut text = String::new();
            if format == "csv" {
                text.push_str("index,time,direction,peer_country,actor,service,purpose,case_reference,agreement_id,decision,rule,disclosed_fields,request_sha256,response_sha256,leaf_hash\n");
            } else if format != "jsonl" {
                bail!(UsageError(format!("--format {format:?}: jsonl or csv")));
            }
            let access = Access::load(access)?;
            let listed = every_entry(&access, &f, None, *online, "audit export", 0, usize::MAX)?;
            {
                for l in &listed {
                    if format == "csv" {
                        let j = json_of(l);
                        let fields: Vec<String> = [
                            "index",
                            "time",
                            "direction",
                            "peer_country",
                            "actor",
                            "service",
                            "purpose",
                            "case_reference",
                            "agreement_id",
                            "decision",
                            "rule",
                        ]
                        .iter()
                        .map(|k| puente_stats::cell::csv_field(j[*k].to_string().trim_matches('"')))
                        .collect();
                        let _ = writeln!(
                            text,
                            "{},{},{},{},{}",
                            fields.join(","),
                            puente_stats::cell::csv_field(
                                &l.entry
                                    .disclosed_fields
                                    .iter()
                                    .map(|x| word::<Field>(*x))
                                    .collect::<Vec<_>>()
                                    .join(";")
                            ),
                            hex::encode(l.entry.request_sha256),
                            hex::encode(l.entry.response_sha256),
                            hex::encode(puente_audit::entry::leaf_of(&l.encoded))
                        );
                    } else {
                        let _ = writeln!(text, "{}", json_of(l));
                    }
                }
            }
            match out {
                Some(p) => {
                    files::write_public(p, &text)?;
                    eprintln!("Wrote {}", p.display());
                }
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
        }
        AuditCommand::Search {
            access,
            online,
            document,
            issuer,
        } => {
            let access = Access::load(access)?;
            let number = puente_records::model::normalize_document_number(document);
            let issuer = issuer.to_ascii_uppercase();
            let (f, subject) = if *online {
                let subject = pb::IdentityQuery {
                    terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                        document_number: number.clone(),
                        issuing_state: issuer.clone(),
                        document_type: pb::DocumentType::Passport as i32,
                    })),
                };
                (Filter::default(), Some(subject))
            } else {
                let node = access.node("audit search without --online")?;
                let hash = node
                    .data_key
                    .audit_hash("document", &format!("{issuer}:{number}"));
                let f = Filter {
                    term_hash: Some(hash),
                    ..Filter::default()
                };
                (f, None)
            };
            let found = every_entry(&access, &f, subject, *online, "audit search", 0, usize::MAX)?;
            for l in &found {
                println!(
                    "{}  actor {}  case {:?}",
                    table_line(l),
                    l.entry.actor,
                    l.entry.case_reference
                );
            }
            println!("{} exchange(s) concerned document {number} of {issuer} (matched by its keyed hash; the log holds no document numbers).", found.len());
        }
        AuditCommand::Prove {
            access,
            bundle,
            index,
            online,
        } => prove(&Access::load(access)?, bundle.as_deref(), *index, *online)?,
        AuditCommand::Checkpoint { access, online } => {
            let access = Access::load(access)?;
            let (note, lines) = if *online {
                let rt = tokio::runtime::Runtime::new()?;
                let _in_runtime = rt.enter();
                let c = access.client(Role::Auditor)?;
                let r = rt.block_on(c.get_checkpoint()).map_err(call_error)?;
                let lines: Vec<String> = r
                    .witnessed
                    .iter()
                    .map(|w| {
                        format!(
                            "{} cosigned {}",
                            w.witness_country,
                            first_line_size(
                                w.checkpoint.as_ref().map(|c| c.note.as_str()).unwrap_or("")
                            )
                        )
                    })
                    .collect();
                (r.checkpoint.map(|c| c.note).unwrap_or_default(), lines)
            } else {
                let (_store, trees) = open_store(
                    access.node("audit checkpoint without --online")?,
                    USE_ONLINE,
                )?;
                let note = trees.latest()?.ok_or_else(|| anyhow!("the log is empty"))?;
                let mut lines = Vec::new();
                for item in trees.cosignatures.iter() {
                    let (k, _) = item?;
                    let at = u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0; 8]));
                    for (c, _) in trees.cosignatures_at(at)? {
                        lines.push(format!("{c} cosigned the checkpoint at size {at}"));
                    }
                }
                (note, lines)
            };
            print!("{note}");
            for l in lines {
                println!("{l}");
            }
        }
    }
    Ok(())
}

fn first_line_size(note: &str) -> String {
    note.lines()
        .nth(1)
        .map(|s| format!("the checkpoint at size {s}"))
        .unwrap_or_default()
}

/// The key that signs the checkpoints of the node `access` reaches: the node's own, or
/// with a profile, the one in this country's public bundle.
fn checkpoint_key(access: &Access, bundle: Option<&Path>) -> Result<(String, VerifyingKey)> {
    match (access, bundle) {
        (Access::Node(node), _) => Ok((node.country().to_string(), node.signing.verifying_key())),
        (Access::Profile(p), Some(b)) => {
            let peer = puente_pki::trust::read_bundle(b)?;
            if peer.country != p.country() {
                bail!(UsageError(format!(
                    "--bundle {} is the bundle of {}, but the profile's node is {}'s",
                    b.display(),
                    peer.country,
                    p.country()
                )));
            }
            Ok((peer.country.to_string(), peer.signing_key))
        }
        (Access::Profile(p), None) => bail!(UsageError(format!(
            "a profile holds no key to check the node's checkpoint with: add --bundle {}.bundle (this country's public bundle, from `puente trust export`)",
            p.country()
        ))),
    }
}

fn prove(access: &Access, bundle: Option<&Path>, index: u64, online: bool) -> Result<()> {
    let (country, key) = checkpoint_key(access, bundle)?;
    let (leaf, size, proof, note) = if online {
        let rt = tokio::runtime::Runtime::new()?;
        let _in_runtime = rt.enter();
        let c = access.client(Role::Auditor)?;
        let r = rt
            .block_on(c.get_inclusion_proof(index))
            .map_err(call_error)?;
        let proof: Vec<merkle::Hash> = r
            .proof
            .iter()
            .filter_map(|h| h.as_slice().try_into().ok())
            .collect();
        (
            r.leaf_hash.as_slice().try_into().unwrap_or([0; 32]),
            r.tree_size,
            proof,
            r.checkpoint.map(|c| c.note).unwrap_or_default(),
        )
    } else {
        let node = access.node("audit prove without --online")?;
        let (_store, log) = open_store(node, USE_ONLINE)?;
        let size = log.size()?;
        if index >= size {
            bail!(UsageError(format!(
                "--index {index}: the log holds {size} entries"
            )));
        }
        let note = log.latest()?.context("no checkpoint")?;
        let proof = merkle::inclusion_proof(&puente_audit::log::Stored(&log), index, size)
            .map_err(|e| anyhow!("{e:?}"))?;
        let bytes = log.entry_bytes(index)?.context("entry missing")?;
        (puente_audit::entry::leaf_of(&bytes), size, proof, note)
    };
    let cp = checkpoint::open(&note, &key)
        .map_err(|e| anyhow!("the checkpoint does not verify: {e}"))?;
    let ok = cp.size == size && merkle::verify_inclusion(index, size, &leaf, &proof, &cp.root);
    println!("Entry {index} of the log of {country} (tree size {size})");
    println!("  leaf hash   {}", hex::encode(leaf));
    for (i, h) in proof.iter().enumerate() {
        println!("  proof[{i:>2}]   {}", hex::encode(h));
    }
    println!(
        "  checkpoint  signed by {} at size {}, root {}",
        key.name(),
        cp.size,
        hex::encode(cp.root)
    );
    if ok {
        println!("The inclusion proof verifies against the signed checkpoint.");
        Ok(())
    } else {
        bail!("the inclusion proof of entry {index} does NOT verify against the signed checkpoint")
    }
}

/// What a verification found of the peers (not of this log): receipts kept as evidence
/// of a peer's failed receipt, and split views across the receipts kept.
pub(crate) fn print_peer_findings(report: &puente_audit::verify::Report) {
    if report.evidence > 0 {
        println!(
            "Note: {} receipts kept as evidence on refused answers (the peer's receipt failed when it came: rule receipt.*) were not counted as receipts.",
            report.evidence
        );
    }
    for s in &report.split_views {
        println!("WARNING: SPLIT VIEW by a peer: {s}.");
    }
}

/// Up to `limit` entries from index `from` on that `f` keeps (and, online, that
/// `subject` is about): from the data directory, or with `online` from the running node
/// as an auditor, following its page tokens (it examines a bounded number of entries a
/// call, so pages may be short).
fn every_entry(
    access: &Access,
    f: &Filter,
    subject: Option<pb::IdentityQuery>,
    online: bool,
    what: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    if !online {
        let (_store, trees) = open_store(
            access.node(&format!("{what} without --online"))?,
            USE_ONLINE,
        )?;
        let mut from = from;
        loop {
            let want = limit.saturating_sub(out.len()).min(10_000);
            let (page, next) = view::list(&trees, f, from, want)?;
            out.extend(page);
            match next {
                Some(n) if out.len() < limit => from = n,
                _ => return Ok(out),
            }
        }
    }
    let rt = tokio::runtime::Runtime::new()?;
    let _in_runtime = rt.enter();
    let c = access.client(Role::Auditor)?;
    let timestamp = |ms: i64| prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: 0,
    };
    let mut request = pb::ListEntriesRequest {
        since: f.since_ms.map(timestamp),
        until: f.until_ms.map(timestamp),
        peer_country: f.peer_country.clone().unwrap_or_default(),
        service: f.service.unwrap_or(0),
        decision: f.decision.unwrap_or(0),
        direction: f.direction.unwrap_or(0),
        start_index: from,
        actor: f.actor.clone().unwrap_or_default(),
        subject,
        ..Default::default()
    };
    rt.block_on(async {
        loop {
            request.page_size =
                u32::try_from(limit.saturating_sub(out.len()).min(1000)).unwrap_or(1000);
            let page = c.list_entries(request.clone()).await.map_err(call_error)?;
            for e in page.entries {
                let entry = puente_audit::Entry::decode(&e.encoded)
                    .map_err(|err| anyhow!("entry {} as the node sent it: {err}", e.index))?;
                out.push(Listed {
                    entry,
                    encoded: e.encoded,
                });
            }
            if page.next_page_token.is_empty() || out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
            request.page_token = page.next_page_token;
        }
    })
}
