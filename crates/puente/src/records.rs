//! `puente records …`: the country's own records. sled admits one process: while the
//! node runs it holds the data directory, so import, delete and search go through it
//! (`Local.ImportRecords`, `DeleteRecords`, `SearchRecords`, as an operator); when it
//! is stopped, they work on the data directory.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use puente_client::{CallError, NodeClient};
use puente_node::store::Store;
use puente_node::NodeConfig;
use puente_pki::Role;
use puente_proto::v1 as pb;
use puente_records::error::RowError;
use puente_records::import::RowFormat;
use puente_records::matcher::{self, NameQuery};
use puente_records::model::{PartialDate, Sex};
use puente_records::{DataKey, RecordStore, RecordsError};
use serde_json::json;

use crate::access::Access;
use crate::cli::{NodeAccess, Output, PersonTerms, RecordsCommand};
use crate::officer::UsageError;

/// Opens the records of the node configured at `config` (offline; waits up to 3 s for
/// a process that just closed the store).
pub fn open(config: &Path) -> Result<(Store, RecordStore)> {
    let node = NodeConfig::load(config)?;
    let store = Store::open(&node.config.node.data_dir).map_err(|e| {
        anyhow::anyhow!("{e}\nThe records are in the node's store; while `puente node run` holds it, import and search through it: puente records import --config {}", config.display())
    })?;
    let records = RecordStore::open(store.db(), node.data_key.clone())?;
    Ok((store, records))
}

/// Where a records command runs.
enum Reach {
    /// On the data directory (the last field): no node holds it.
    Offline(Store, RecordStore, PathBuf),
    /// Through the running node, as an operator.
    Node(NodeClient),
}

/// The data directory when no node holds it, else the node that does (found at once,
/// without waiting on the store's lock); with --profile, always the node.
fn reach(access: &NodeAccess, what: &str) -> Result<Reach> {
    let node = match Access::load(access)? {
        Access::Profile(p) => return Ok(Reach::Node(NodeClient::from_profile(&p)?)),
        Access::Node(n) => n,
    };
    let dir = node.config.node.data_dir.clone();
    match crate::access::store_unless_running(&node)? {
        Some(store) => {
            let records = RecordStore::open(store.db(), node.data_key.clone())?;
            Ok(Reach::Offline(store, records, dir))
        }
        None => {
            let client = crate::access::node_client(&node, Role::Operator).map_err(|e| {
                anyhow!(
                    "the node is running (it holds {}), so {what} goes through it as an operator, but {e}",
                    dir.display()
                )
            })?;
            eprintln!(
                "note: the node is running; {what} goes through it ({}).",
                client.describe()
            );
            Ok(Reach::Node(client))
        }
    }
}

/// The async runtime a call to the node runs on.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

/// A failed call to the node, in one line, with what to do when it does not answer.
fn node_error(client: &NodeClient, e: CallError) -> anyhow::Error {
    let hint = if e.code == tonic::Code::Unavailable {
        " (it holds the data directory but does not answer: wait until it serves, or stop it)"
    } else {
        ""
    };
    anyhow!("{}: {e}{hint}", client.describe())
}

/// Runs a `records` subcommand.
pub fn run(command: &RecordsCommand) -> Result<()> {
    // Channels to the node are made inside the runtime.
    let rt = runtime()?;
    let _in_runtime = rt.enter();
    match command {
        RecordsCommand::Keygen { out } => {
            DataKey::generate(out)?;
            println!("Wrote a new data key to {} (mode 0600). Back it up: without it, the records cannot be read.", out.display());
        }
        RecordsCommand::Import { access, file } => match reach(access, "the import")? {
            Reach::Offline(store, records, dir) => import_offline(&store, &records, &dir, file)?,
            Reach::Node(client) => {
                let started = std::time::Instant::now();
                let r = rt.block_on(import_through(&client, file))?;
                for w in &r.warnings {
                    eprintln!("warning: {w}");
                }
                if !r.bad_rows.is_empty() {
                    return Err(RecordsError::BadRows {
                        file: file.display().to_string(),
                        errors: r
                            .bad_rows
                            .into_iter()
                            .map(|b| RowError {
                                line: b.line,
                                field: (!b.field.is_empty()).then_some(b.field),
                                reason: b.reason,
                            })
                            .collect(),
                    }
                    .into());
                }
                println!(
                    "Imported {} rows from {} through {} in {:.1}s: {} new, {} updated, {} passport copies. The records now hold {} persons; peers find them from now on.",
                    r.rows,
                    file.display(),
                    client.describe(),
                    started.elapsed().as_secs_f64(),
                    r.created,
                    r.updated,
                    r.copies,
                    r.persons
                );
            }
        },
        RecordsCommand::Delete { access, record_ids } => {
            let (deleted, unknown, persons) = match reach(access, "the deletion")? {
                Reach::Offline(store, records, dir) => {
                    let unknown: Vec<String> = record_ids
                        .iter()
                        .filter(|id| matches!(records.get_by_record_id(id), Ok(None)))
                        .cloned()
                        .collect();
                    let applied = records.delete(record_ids)?;
                    puente_node::records::prepare_start(&store, &records, &dir).map_err(|e| {
                        anyhow!("after the deletion (the persons are deleted): {e}")
                    })?;
                    records.flush()?;
                    store.restrict_files()?;
                    (applied.deleted, unknown, records.len() as u64)
                }
                Reach::Node(client) => {
                    let r = rt
                        .block_on(client.delete_records(record_ids.clone()))
                        .map_err(|e| node_error(&client, e))?;
                    (r.deleted, r.unknown_record_ids, r.persons)
                }
            };
            println!("Deleted {deleted} person(s). The records now hold {persons} persons.");
            if !unknown.is_empty() {
                println!("Not held (nothing to delete): {}", unknown.join(", "));
            }
        }
        RecordsCommand::Search {
            access,
            terms,
            max,
            output,
        } => match reach(access, "the search")? {
            Reach::Offline(_store, records, _) => search(&records, terms, *max, *output)?,
            Reach::Node(client) => {
                let r = rt
                    .block_on(client.search_records(pb::SearchRecordsRequest {
                        query: Some(crate::officer::identity_query(terms)?),
                        max_results: u32::try_from(*max).unwrap_or(u32::MAX),
                    }))
                    .map_err(|e| node_error(&client, e))?;
                print_results(
                    r.matches.iter().map(Hit::from).collect(),
                    r.persons,
                    *output,
                )?;
            }
        },
        RecordsCommand::Generate {
            count,
            seed,
            out,
            copy_every,
            holder,
            config,
        } => {
            let holder = generated_holder(holder.as_deref(), config.as_deref())?;
            let started = std::time::Instant::now();
            let report = puente_synth::generate::write(
                out,
                *count,
                *seed,
                *copy_every,
                holder.as_str(),
                &mut |done| {
                    eprintln!("  generated {done}/{count} persons");
                },
            )?;
            println!(
                "Wrote {} synthetic persons ({} passport copies marked SPECIMEN) to {} in {:.1}s.\nImport them with: puente records import --config {} {}",
                report.persons,
                report.copies,
                report.csv.display(),
                started.elapsed().as_secs_f64(),
                config
                    .as_deref()
                    .map(|c| c.display().to_string())
                    .unwrap_or_else(|| "DIR/puente.toml".into()),
                report.csv.display()
            );
        }
    }
    Ok(())
}

/// `records import` on the data directory (no node holds it).
fn import_offline(
    store: &Store,
    records: &RecordStore,
    data_dir: &Path,
    file: &Path,
) -> Result<()> {
    // The absolute path is what the store remembers of an import cut short, so that the
    // same file is recognised from any directory, however it was spelled.
    let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let file = absolute.as_path();
    if let Some(previous) = records.interrupted_import()? {
        let this = file.display().to_string();
        if previous == this {
            eprintln!(
                "note: the earlier import of {previous} was interrupted; importing it again converges."
            );
        } else if Path::new(&previous).exists() {
            // Importing another file over it would clear the mark and leave the half
            // import invisible.
            return Err(crate::officer::UsageError(format!(
                "an earlier import of {previous} was interrupted part way: some of its rows are in the store and some are not. Import {previous} again first (it converges), then {this}"
            ))
            .into());
        } else {
            eprintln!(
                "warning: an earlier import of {previous} was interrupted part way and that file is gone: the store may hold part of it. Importing {this} now; check the store with `puente records search`."
            );
        }
    }
    let today = time::OffsetDateTime::now_utc().date();
    let started = std::time::Instant::now();
    let report = puente_records::import::import(records, file, today, &mut |done, total| {
        eprintln!(
            "  imported {done}/{total} rows ({:.0}%)",
            done as f64 * 100.0 / total.max(1) as f64
        );
    })?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "Imported {} rows from {} in {:.1}s: {} new, {} updated, {} passport copies. The store now holds {} persons.",
        report.rows,
        file.display(),
        started.elapsed().as_secs_f64(),
        report.created,
        report.updated,
        report.copies,
        records.len()
    );
    // What the node would otherwise do before it serves (minutes at a million persons),
    // done now while nobody waits on it.
    let started = std::time::Instant::now();
    eprintln!("  preparing the node's next start: flow counts and the match-key snapshot…");
    puente_node::records::prepare_start(store, records, data_dir)
        .map_err(|e| anyhow!("after the import (the records are imported): {e}"))?;
    eprintln!("  prepared in {:.1}s", started.elapsed().as_secs_f64());
    // sled's files (its blobs: the passport copies) are made with the umask's mode:
    // narrow them to 0600 now that the import wrote them.
    records.flush()?;
    store.restrict_files()?;
    Ok(())
}

/// Bytes per import message.
const CHUNK: usize = 1024 * 1024;

/// Sends `file` and the passport copies it names to the node behind `client`.
pub async fn import_through(client: &NodeClient, file: &Path) -> Result<pb::ImportRecordsResponse> {
    use pb::import_records_request::Part;
    let format = RowFormat::of(file)?;
    let bytes = std::fs::read(file).map_err(|e| RecordsError::File {
        file: file.display().to_string(),
        reason: e.to_string(),
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut messages = vec![pb::ImportRecordsRequest {
        part: Some(Part::Header(pb::ImportRecordsHeader {
            file_name: file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            format: match format {
                RowFormat::Csv => pb::RecordsFormat::Csv,
                RowFormat::JsonLines => pb::RecordsFormat::JsonLines,
            } as i32,
        })),
    }];
    for c in bytes.chunks(CHUNK) {
        messages.push(pb::ImportRecordsRequest {
            part: Some(Part::Rows(c.to_vec())),
        });
    }
    // A copy that cannot be read is not sent: the node names its row.
    for name in
        puente_records::import::copy_names(&file.display().to_string(), bytes.as_slice(), format)?
    {
        let Ok(copy) = std::fs::read(base.join(&name)) else {
            continue;
        };
        for c in copy.chunks(CHUNK) {
            messages.push(pb::ImportRecordsRequest {
                part: Some(Part::Copy(pb::PassportCopyChunk {
                    name: name.clone(),
                    chunk: c.to_vec(),
                })),
            });
        }
    }
    client
        .import_records(messages)
        .await
        .map_err(|e| node_error(client, e))
}

/// One search result, from the store or from the node.
struct Hit {
    score: f64,
    why: String,
    record_id: String,
    given_names: String,
    surnames: String,
    date_of_birth: String,
    sex: String,
    nationality: String,
    document: Option<(String, String)>,
    protection_status: String,
}

impl From<&pb::RecordMatch> for Hit {
    fn from(m: &pb::RecordMatch) -> Self {
        Self {
            score: m.score,
            why: m.explanation.clone(),
            record_id: m.record_id.clone(),
            given_names: m.given_names.clone(),
            surnames: m.surnames.clone(),
            date_of_birth: m.date_of_birth.clone(),
            sex: m.sex.clone(),
            nationality: m.nationality.clone(),
            document: (!m.document_number.is_empty())
                .then(|| (m.document_number.clone(), m.issuing_state.clone())),
            protection_status: m.protection_status.clone(),
        }
    }
}

impl Hit {
    fn of(score: f64, why: String, r: puente_records::PersonRecord) -> Self {
        Self {
            score,
            why,
            date_of_birth: r.date_of_birth.to_string(),
            sex: format!("{:?}", r.sex),
            document: r.document.map(|d| (d.number, d.issuing_state)),
            record_id: r.record_id,
            given_names: r.given_names,
            surnames: r.surnames,
            nationality: r.nationality,
            protection_status: r.protection_status,
        }
    }
}

fn search(records: &RecordStore, t: &PersonTerms, max: usize, output: Output) -> Result<()> {
    let results: Vec<(f64, String, puente_records::PersonRecord)> =
        if let (Some(number), Some(issuer)) = (&t.document, &t.issuer) {
            records
                .by_document(issuer, number)?
                .into_iter()
                .map(|s| {
                    (
                        1.0,
                        "document number and issuing state".to_string(),
                        s.record,
                    )
                })
                .collect()
        } else if let Some(lines) = &t.mrz {
            let [l1, l2] = lines.as_slice() else {
                bail!(UsageError("--mrz takes two lines".into()))
            };
            let m = puente_records::mrz::parse_td3(l1, l2)
                .map_err(|e| UsageError(format!("--mrz: {e}")))?;
            records
                .by_document(&m.issuing_state, &m.document_number)?
                .into_iter()
                .map(|s| (1.0, "MRZ document number".to_string(), s.record))
                .collect()
        } else {
            let birth = t.birth_date.as_deref().ok_or_else(|| {
                UsageError("a name search needs --birth-date (YYYY-MM-DD, YYYY-MM or YYYY)".into())
            })?;
            let date_of_birth =
                PartialDate::parse(birth).map_err(|e| UsageError(format!("--birth-date: {e}")))?;
            let query = NameQuery {
                given_names: t.given_names.clone().unwrap_or_default(),
                surnames: t.surnames.clone().unwrap_or_default(),
                full_name: t.name.clone(),
                date_of_birth,
                nationality: t.nationality.as_ref().map(|n| n.to_ascii_uppercase()),
                sex: t.sex.as_deref().and_then(Sex::parse),
            };
            matcher::search(records, &query, matcher::DEFAULT_THRESHOLD, max)?
                .into_iter()
                .map(|m| (m.score, m.explanation, m.stored.record))
                .collect()
        };
    let hits = results
        .into_iter()
        .take(max)
        .map(|(score, why, r)| Hit::of(score, why, r))
        .collect();
    print_results(hits, records.len() as u64, output)
}

fn print_results(results: Vec<Hit>, persons: u64, output: Output) -> Result<()> {
    match output {
        Output::Json => {
            let v: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    json!({
                        "record_id": r.record_id,
                        "score": (r.score * 1000.0).round() / 1000.0,
                        "explanation": r.why,
                        "given_names": r.given_names,
                        "surnames": r.surnames,
                        "date_of_birth": r.date_of_birth,
                        "sex": r.sex,
                        "nationality": r.nationality,
                        "document": r.document.as_ref().map(|(number, issuer)| json!({"number": number, "issuing_state": issuer})),
                        "protection_status": r.protection_status,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Table => {
            if results.is_empty() {
                println!("No match in {persons} persons.");
            }
            for (i, r) in results.iter().enumerate() {
                println!(
                    "#{} {:.2}  {}  {} {}  born {}  {}  {}{}",
                    i + 1,
                    r.score,
                    r.record_id,
                    r.given_names,
                    r.surnames,
                    r.date_of_birth,
                    r.nationality,
                    r.document
                        .as_ref()
                        .map(|(number, issuer)| format!("{issuer} {number}"))
                        .unwrap_or_default(),
                    if r.protection_status != "none" {
                        format!("  [{}]", r.protection_status)
                    } else {
                        String::new()
                    }
                );
                println!("      {}", r.why);
            }
        }
    }
    Ok(())
}

/// Whose synthetic records `records generate` writes: `--holder`, or the country of the
/// node of `--config`; one of them is needed (a default country would hand, say, GTM's
/// operator a file of MEX encounters that its node then imports as its own).
fn generated_holder(
    holder: Option<&str>,
    config: Option<&Path>,
) -> Result<puente_pki::CountryCode> {
    let of_config = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let node = puente_node::NodeConfig::parse(&text, path)?;
            Some(
                puente_pki::CountryCode::parse(&node.node.country)
                    .with_context(|| format!("{}: node.country", path.display()))?,
            )
        }
        None => None,
    };
    match (holder, of_config) {
        (Some(h), of_config) => {
            let h = puente_pki::CountryCode::parse(h)
                .map_err(|e| anyhow::anyhow!(crate::officer::UsageError(format!("--holder: {e}"))))?;
            if let Some(c) = of_config.filter(|c| *c != h) {
                return Err(anyhow::anyhow!(crate::officer::UsageError(format!(
                    "--holder {h} differs from the country of --config ({c}): give one of them"
                ))));
            }
            Ok(h)
        }
        (None, Some(c)) => Ok(c),
        (None, None) => Err(anyhow::anyhow!(crate::officer::UsageError(
            "say whose records to generate: --config DIR/puente.toml (that node's country holds them) or --holder XXX".into()
        ))),
    }
}
