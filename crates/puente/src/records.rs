//! `puente records …`: the country's own records, read and written directly in the data
//! directory (sled admits one process: while the node runs, it holds the store).

use std::path::Path;

use anyhow::{bail, Result};
use puente_node::store::Store;
use puente_node::NodeConfig;
use puente_records::matcher::{self, NameQuery};
use puente_records::model::{PartialDate, Sex};
use puente_records::{DataKey, RecordStore};
use serde_json::json;

use crate::cli::{Output, PersonTerms, RecordsCommand};
use crate::officer::UsageError;

/// Opens the records of the node configured at `config`.
pub fn open(config: &Path) -> Result<(Store, RecordStore)> {
    let node = NodeConfig::load(config)?;
    let store = Store::open(&node.config.node.data_dir).map_err(|e| {
        anyhow::anyhow!("{e}\nThe records are in the node's store; while `puente node run` holds it, stop the node to import or search offline.")
    })?;
    let records = RecordStore::open(store.db(), node.data_key.clone())?;
    Ok((store, records))
}

/// Runs a `records` subcommand.
pub fn run(command: &RecordsCommand) -> Result<()> {
    match command {
        RecordsCommand::Keygen { out } => {
            DataKey::generate(out)?;
            println!("Wrote a new data key to {} (mode 0600). Back it up: without it, the records cannot be read.", out.display());
        }
        RecordsCommand::Import { config, file } => {
            let (store, records) = open(config)?;
            if let Some(previous) = records.interrupted_import()? {
                eprintln!("note: an earlier import of {previous} was interrupted; importing again converges.");
            }
            let today = time::OffsetDateTime::now_utc().date();
            let started = std::time::Instant::now();
            let report =
                puente_records::import::import(&records, file, today, &mut |done, total| {
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
            // sled's files (its blobs: the passport copies) are made with the umask's
            // mode: narrow them to 0600 now that the import wrote them.
            records.flush()?;
            store.restrict_files()?;
        }
        RecordsCommand::Search {
            config,
            terms,
            max,
            output,
        } => {
            let (_store, records) = open(config)?;
            search(&records, terms, *max, *output)?;
        }
        RecordsCommand::Generate {
            count,
            seed,
            out,
            copy_every,
            holder,
        } => {
            let holder = puente_pki::CountryCode::parse(holder)?;
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
                "Wrote {} synthetic persons ({} passport copies marked SPECIMEN) to {} in {:.1}s.\nImport them with: puente records import --config DIR/puente.toml {}",
                report.persons,
                report.copies,
                report.csv.display(),
                started.elapsed().as_secs_f64(),
                report.csv.display()
            );
        }
    }
    Ok(())
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
    let results: Vec<_> = results.into_iter().take(max).collect();
    match output {
        Output::Json => {
            let v: Vec<serde_json::Value> = results
                .iter()
                .map(|(score, why, r)| {
                    json!({
                        "record_id": r.record_id,
                        "score": (score * 1000.0).round() / 1000.0,
                        "explanation": why,
                        "given_names": r.given_names,
                        "surnames": r.surnames,
                        "date_of_birth": r.date_of_birth.to_string(),
                        "sex": format!("{:?}", r.sex),
                        "nationality": r.nationality,
                        "document": r.document.as_ref().map(|d| json!({"number": d.number, "issuing_state": d.issuing_state})),
                        "protection_status": r.protection_status,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Table => {
            if results.is_empty() {
                println!("No match in {} persons.", records.len());
            }
            for (i, (score, why, r)) in results.iter().enumerate() {
                println!(
                    "#{} {:.2}  {}  {} {}  born {}  {}  {}{}",
                    i + 1,
                    score,
                    r.record_id,
                    r.given_names,
                    r.surnames,
                    r.date_of_birth,
                    r.nationality,
                    r.document
                        .as_ref()
                        .map(|d| format!("{} {}", d.issuing_state, d.number))
                        .unwrap_or_default(),
                    if r.protection_status != "none" {
                        format!("  [{}]", r.protection_status)
                    } else {
                        String::new()
                    }
                );
                println!("      {why}");
            }
        }
    }
    Ok(())
}
