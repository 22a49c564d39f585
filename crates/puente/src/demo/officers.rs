//! The officers' part of the demo: the queries and fetches an immigration officer makes,
//! each checked against what the agreements and the protection rule require.

use std::path::Path;

use anyhow::Result;
use puente_node::LoadedNode;
use puente_proto::v1 as pb;

use crate::cli::PersonTerms;
use crate::officer::{render_answer, send_fetch, send_query};

fn terms() -> PersonTerms {
    PersonTerms {
        document: None,
        issuer: None,
        document_type: "passport".into(),
        mrz: None,
        given_names: None,
        surnames: None,
        name: None,
        birth_date: None,
        nationality: None,
        sex: None,
    }
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("    {line}");
    }
}

async fn show(
    label: &str,
    node: &LoadedNode,
    peer: &str,
    purpose: &str,
    t: &PersonTerms,
    expect: Expect,
    failures: &mut Vec<String>,
) -> Option<pb::QueryResponse> {
    println!();
    println!("  {label}");
    match send_query(node, peer, purpose, "DEMO-CASE-1", 0, t).await {
        Ok(r) => {
            print_indented(&render_answer(&r));
            let hit = r.outcome == pb::MatchOutcome::Match as i32;
            let ok = match expect {
                Expect::Full => hit && r.matches.iter().all(|m| m.person.is_some()),
                Expect::HitOnly => hit && r.matches.iter().all(|m| m.person.is_none()),
                Expect::NoMatch => !hit,
                Expect::Refused => false,
            };
            if !ok {
                failures.push(format!("{label}: unexpected answer"));
            }
            Some(r)
        }
        Err(e) => {
            println!("    REFUSED — {e}");
            if expect != Expect::Refused {
                failures.push(format!("{label}: {e}"));
            }
            None
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Full,
    HitOnly,
    NoMatch,
    Refused,
}

/// Runs the officers' story against the running federation.
pub async fn story(base: &Path, nodes: &[LoadedNode], failures: &mut Vec<String>) -> Result<()> {
    let (mex, gtm, cri) = (&nodes[0], &nodes[1], &nodes[2]);

    let mut by_doc = terms();
    by_doc.document = Some("BX1234567".into());
    by_doc.issuer = Some("BGD".into());
    let first = show(
        "a) A GTM officer asks MEX about Bangladeshi passport BX1234567 (full answer, granted fields only):",
        gtm, "MEX", "identification", &by_doc, Expect::Full, failures,
    )
    .await;

    let mut misspelled = terms();
    misspelled.given_names = Some("Muhammad Abdul".into());
    misspelled.surnames = Some("Husain".into());
    misspelled.birth_date = Some("1990-04-12".into());
    show(
        "b) The same person by a misspelled, differently transliterated name (Muhammad Abdul HUSAIN, born 1990-04-12):",
        gtm, "MEX", "identification", &misspelled, Expect::Full, failures,
    )
    .await;

    if let Some(reference) = first
        .as_ref()
        .and_then(|r| r.matches.first())
        .map(|m| m.reference.clone())
    {
        println!();
        println!("  c) The GTM officer fetches the passport copy with the reference MEX gave:");
        match send_fetch(gtm, "MEX", &reference, "identification", "DEMO-CASE-1").await {
            Ok((header, bytes, trailer)) => {
                let out = base.join("GTM").join("passport-copy-BX1234567.png");
                puente_pki::files::write_private(&out, &bytes)?;
                println!(
                    "    {} bytes of {} — SHA-256 {}{}; saved as {}",
                    bytes.len(),
                    header.media_type,
                    &hex::encode(&header.sha256)[..16],
                    if trailer.sha256_verified {
                        " (verified)"
                    } else {
                        ""
                    },
                    out.display()
                );
            }
            Err(e) => {
                println!("    FAILED — {e}");
                failures.push(format!("passport copy fetch: {e}"));
            }
        }
    }

    show(
        "d) A CRI officer asks MEX the same (their agreement gives CRI hit/no-hit only):",
        cri,
        "MEX",
        "identification",
        &by_doc,
        Expect::HitOnly,
        failures,
    )
    .await;

    let mut protected = terms();
    protected.document = Some("GT5551234".into());
    protected.issuer = Some("GTM".into());
    show(
        "e) A GTM officer asks MEX about a Guatemalan who asked for asylum in Mexico (the protection rule: it looks like no match):",
        gtm, "MEX", "return", &protected, Expect::NoMatch, failures,
    )
    .await;
    show(
        "f) The same question from CRI, which the rule does not bar:",
        cri,
        "MEX",
        "protection_referral",
        &protected,
        Expect::HitOnly,
        failures,
    )
    .await;

    let mut by_name = terms();
    by_name.name = Some("Jean Baptiste Marie Claude".into());
    by_name.birth_date = Some("1994".into());
    show(
        "g) A CRI officer asks GTM by name (their agreement covers statistics and alerts only):",
        cri,
        "GTM",
        "identification",
        &by_name,
        Expect::Refused,
        failures,
    )
    .await;
    show(
        "h) A MEX officer asks GTM about a name it does not hold:",
        mex,
        "GTM",
        "identification",
        &by_name,
        Expect::NoMatch,
        failures,
    )
    .await;
    Ok(())
}
