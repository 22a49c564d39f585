//! The demo's advance passenger information: a bus company at the Ciudad Hidalgo border
//! crossing and an airline's PAXLST flight send their manifests to MEX's node with
//! carrier certificates; the expected-arrival cells they produce; and one batch check of
//! the bus's travellers with GTM (`manifest_check`), hit/no-hit per traveller.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use puente_client::NodeClient;
use puente_manifest::{Format, LocalTime, Manifest, Passenger, Stop};
use puente_node::LoadedNode;
use puente_pki::{CountryCa, IssueOptions, Role};
use puente_proto::v1 as pb;
use puente_records::model::{DocumentType, PartialDate, Sex, TravelDocument};

/// A carrier of `node`'s country: its certificate issued with that country's CA.
fn carrier(node: &LoadedNode, name: &str) -> Result<puente_pki::tls::TlsIdentity> {
    let pki = node
        .config
        .tls
        .ca
        .parent()
        .ok_or_else(|| anyhow!("the CA has no directory"))?;
    let ca = CountryCa::open(pki)?;
    let issued = ca.issue(
        Role::Carrier,
        name,
        &IssueOptions::valid_for_days(time::OffsetDateTime::now_utc(), 30),
    )?;
    println!(
        "  {} issues carrier {} (puente pki issue --role carrier --name {name})",
        node.country(),
        issued.identity.urn()
    );
    Ok(puente_pki::tls::TlsIdentity {
        chain: puente_pki::files::load_certs(&issued.cert_path)?,
        key: puente_pki::files::load_private_key(&issued.key_path)?,
    })
}

/// A carrier's client of `node` (which need not be its own country's).
fn connect(node: &LoadedNode, identity: &puente_pki::tls::TlsIdentity) -> Result<NodeClient> {
    Ok(NodeClient::connect(
        &node.advertise,
        identity,
        &node.own_anchor,
        Role::Carrier,
        Some(&node.identity.name),
    )?)
}

/// Passengers from GTM's own import file (GTM will know them) and a few it does not.
fn passengers(gtm_import: &Path, known: usize) -> Result<Vec<Passenger>> {
    let csv = std::fs::read_dir(gtm_import)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "csv"))
        .ok_or_else(|| anyhow!("GTM's import file is missing"))?;
    let mut reader = csv::Reader::from_path(&csv)?;
    let headers = reader.headers()?.clone();
    let col = |row: &csv::StringRecord, name: &str| -> String {
        headers
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i))
            .unwrap_or("")
            .to_string()
    };
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row?;
        let Some(kind) = DocumentType::parse(&col(&row, "document_type")) else {
            continue;
        };
        let (Ok(dob), Some(sex)) = (
            PartialDate::parse(&col(&row, "date_of_birth")),
            Sex::parse(&col(&row, "sex")),
        ) else {
            continue;
        };
        out.push(Passenger {
            given_names: col(&row, "given_names"),
            surnames: col(&row, "surnames"),
            date_of_birth: dob,
            sex,
            nationality: col(&row, "nationality"),
            document: Some(TravelDocument {
                document_type: kind,
                number: col(&row, "document_number"),
                issuing_state: col(&row, "issuing_state"),
                expiry: None,
                mrz: None,
            }),
            embarkation: None,
            debarkation: None,
        });
        if out.len() == known {
            break;
        }
    }
    for (i, (given, surname, nat)) in [
        ("Wilner", "Joseph", "HTI"),
        ("Kwame", "Mensah", "GHA"),
        ("Anjali", "Sharma", "IND"),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(Passenger {
            given_names: given.into(),
            surnames: surname.into(),
            date_of_birth: PartialDate::parse(&format!("199{i}-0{}-1{i}", i + 3))
                .map_err(|e| anyhow!(e))?,
            sex: if i == 2 { Sex::F } else { Sex::M },
            nationality: nat.into(),
            document: Some(TravelDocument {
                document_type: DocumentType::Passport,
                number: format!("DEMO{i}0{i}77"),
                issuing_state: nat.into(),
                expiry: None,
                mrz: None,
            }),
            embarkation: None,
            debarkation: None,
        });
    }
    Ok(out)
}

fn stop(place: &str, country: Option<&str>) -> Stop {
    Stop {
        place: place.into(),
        country: country.map(str::to_string),
        border_crossing: false,
    }
}

/// The story: submissions, cells, one batch check.
pub async fn story(base: &Path, loaded: &[LoadedNode], failures: &mut Vec<String>) -> Result<()> {
    let mex = &loaded[0];
    let today = time::OffsetDateTime::now_utc().date();
    let (y, m, d) = (today.year(), today.month() as u8, today.day());
    let at = |h| LocalTime::new(y, m, d, Some((h, 30))).map_err(|e| anyhow!(e));

    let bus = connect(mex, &carrier(mex, "transportes-del-sur")?)?;
    let mut route = vec![
        stop("Ciudad de Guatemala", Some("GTM")),
        stop("Tecún Umán", Some("GTM")),
        stop("Ciudad Hidalgo", Some("MEX")),
        stop("Tapachula", Some("MEX")),
    ];
    route[2].border_crossing = true;
    let trip = Manifest {
        format: Format::BusJson,
        carrier: "Transportes del Sur".into(),
        trip: "TDS-0412".into(),
        route,
        departure: Some(at(5)?),
        arrival: Some(at(13)?),
        passengers: passengers(&base.join("GTM").join("import"), 9)?,
    };
    let json = puente_manifest::write::bus_json(&trip);
    let submitted = crate::manifest::submit_with(&bus, json.into_bytes(), None)
        .await
        .context("the bus company submitting its manifest")?;
    println!("  The bus company (puente manifest submit --profile carrier.toml TDS-0412.json):");
    for line in crate::manifest::render_submitted(&submitted).lines() {
        println!("    {line}");
    }

    let airline = connect(mex, &carrier(mex, "aerolinea-demo")?)?;
    let mut flight = puente_manifest::parse(
        include_bytes!("../../../puente-manifest/testdata/flight.edi"),
        Format::Paxlst,
        today,
    )?;
    flight.departure = Some(at(12)?);
    flight.arrival = Some(at(16)?);
    let paxlst = puente_manifest::write::paxlst(&flight, "DEMO1");
    let flown = crate::manifest::submit_with(&airline, paxlst.into_bytes(), None)
        .await
        .context("the airline submitting its PAXLST")?;
    println!("  The airline (a UN/EDIFACT PAXLST interchange):");
    for line in crate::manifest::render_submitted(&flown).lines() {
        println!("    {line}");
    }
    // A carrier of another country is refused at the gate.
    let foreign = connect(mex, &carrier(&loaded[1], "litegua")?)?;
    match crate::manifest::submit_with(&foreign, b"{}".to_vec(), None).await {
        Err(e) if e.to_string().contains("role.manifest_requires_own_carrier") => println!(
            "  A Guatemalan carrier sending to MEX's node is refused: role.manifest_requires_own_carrier"
        ),
        other => failures.push(format!(
            "a GTM carrier submitting to MEX was not refused by the role gate: {other:?}"
        )),
    }

    // The cells the manifests produced.
    let officer = crate::access::node_client(mex, Role::Operator)?;
    let cells = officer
        .list_cells(pb::ListCellsRequest {
            period: today.to_string(),
            reporting_countries: vec!["MEX".into()],
        })
        .await
        .map_err(|e| anyhow!("listing MEX's cells: {e}"))?;
    let mut expected: Vec<(String, String, String, String)> = Vec::new();
    for c in &cells {
        let (k, v, _) = puente_stats::CellKey::from_proto(c)?;
        if k.event == pb::EncounterEvent::ExpectedArrival {
            expected.push((
                k.entry_point.clone(),
                k.nationality.clone(),
                format!(
                    "{} {}",
                    puente_stats::cell::sex_name(k.sex),
                    puente_stats::cell::age_name(k.age)
                ),
                match v {
                    puente_stats::Value::Count(n) => n.to_string(),
                    other => format!("{other:?}"),
                },
            ));
        }
    }
    println!(
        "  Expected arrivals today in MEX's flow statistics (event expected_arrival), {} cells:",
        expected.len()
    );
    for (ep, nat, who, n) in expected.iter().take(8) {
        println!("    {ep:<16} {nat}  {who:<9} {n}");
    }
    let total: usize = submitted
        .summary
        .as_ref()
        .map(|s| s.passengers as usize)
        .unwrap_or(0)
        + flown
            .summary
            .as_ref()
            .map(|s| s.passengers as usize)
            .unwrap_or(0);
    let counted: u64 = expected
        .iter()
        .filter_map(|(_, _, _, n)| n.parse::<u64>().ok())
        .sum();
    if counted as usize != total {
        failures.push(format!(
            "the expected-arrival cells of today count {counted}, the manifests list {total}"
        ));
    }

    // One batch check with GTM.
    let checked = crate::manifest::check_with(
        &officer,
        pb::CheckWithPeerRequest {
            peer_country: "GTM".into(),
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                case_reference: "APIS-TDS-0412".into(),
                ..Default::default()
            }),
            manifest: None,
            manifest_id: submitted.manifest_id.clone(),
        },
    )
    .await
    .context("checking the bus manifest with GTM")?;
    println!("  An officer of MEX checks the bus's travellers with GTM in one call (puente manifest check --peer GTM --id …):");
    for line in crate::manifest::render_check("GTM", &checked).lines() {
        println!("    {line}");
    }
    let hits = checked
        .travellers
        .iter()
        .filter(|t| t.outcome == pb::MatchOutcome::Match as i32)
        .count();
    if hits != 9 {
        failures.push(format!(
            "GTM should know the 9 travellers taken from its records, it answered {hits} matches"
        ));
    }
    Ok(())
}
