//! Writing manifests: PAXLST and bus JSON/CSV from a [`Manifest`], with release
//! characters where a value holds a service character. The demo, the benchmark and the
//! tests build their files with it; parsing what it writes gives the manifest back.

use crate::model::{LocalTime, Manifest, Passenger};

fn release(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '?' | ':' | '+' | '\'') {
            out.push('?');
        }
        out.push(c);
    }
    out
}

fn edi_time(t: &LocalTime) -> String {
    let (y, m, d) = t.date;
    let (h, mi) = t.time.unwrap_or((0, 0));
    format!("{y:04}{m:02}{d:02}{h:02}{mi:02}")
}

fn doc_code(p: &Passenger) -> &'static str {
    use puente_records::model::DocumentType::*;
    match p.document.as_ref().map(|d| d.document_type) {
        Some(Passport) | None => "P",
        Some(IdentityCard) => "I",
        Some(TravelDocument) => "T",
        Some(Other) => "O",
    }
}

/// The manifest as one PAXLST interchange (one message), `reference` its control
/// reference.
pub fn paxlst(m: &Manifest, reference: &str) -> String {
    let mut body: Vec<String> = Vec::new();
    body.push(format!("UNH+{reference}+PAXLST:D:05B:UN:IATA"));
    body.push("BGM+745".into());
    body.push(format!(
        "TDT+20+{}+++{}",
        release(&m.trip),
        release(&m.carrier)
    ));
    if let Some(first) = m.route.first() {
        body.push(format!("LOC+125+{}", release(&first.place)));
        if let Some(t) = &m.departure {
            body.push(format!("DTM+189:{}:203", edi_time(t)));
        }
    }
    if let Some(last) = m.route.last().filter(|_| m.route.len() > 1) {
        body.push(format!("LOC+87+{}", release(&last.place)));
        if let Some(t) = &m.arrival {
            body.push(format!("DTM+232:{}:203", edi_time(t)));
        }
    }
    for p in &m.passengers {
        let given: Vec<String> = p.given_names.split_whitespace().map(release).collect();
        body.push(format!(
            "NAD+FL+++{}:{}",
            release(&p.surnames),
            given.join(":")
        ));
        body.push(format!("ATT+2++{:?}", p.sex));
        let b = &p.date_of_birth;
        body.push(format!(
            "DTM+329:{:04}{:02}{:02}:102",
            b.year,
            b.month.unwrap_or(1),
            b.day.unwrap_or(1)
        ));
        body.push(format!("NAT+2+{}", p.nationality));
        if let Some(d) = &p.document {
            body.push(format!(
                "DOC+{}:110:111+{}",
                doc_code(p),
                release(&d.number)
            ));
            if let Some(e) = &d.expiry {
                body.push(format!(
                    "DTM+36:{:04}{:02}{:02}:102",
                    e.year,
                    e.month.unwrap_or(12),
                    e.day.unwrap_or(1)
                ));
            }
            body.push(format!("LOC+91+{}", d.issuing_state));
        }
    }
    body.push(format!("CNT+42:{}", m.passengers.len()));
    body.push(format!("UNT+{}+{reference}", body.len() + 1));
    let mut out = String::from("UNA:+.? '\n");
    out.push_str(&format!(
        "UNB+UNOC:4+{}+PUENTE+{}+{reference}'\n",
        release(&m.carrier),
        m.departure
            .map(|t| edi_time(&t)[2..8].to_string() + ":" + &edi_time(&t)[8..12])
            .unwrap_or_else(|| "000101:0000".into())
    ));
    for s in body {
        out.push_str(&s);
        out.push_str("'\n");
    }
    out.push_str(&format!("UNZ+1+{reference}'\n"));
    out
}

fn passenger_json(p: &Passenger) -> serde_json::Value {
    let d = p.document.as_ref();
    serde_json::json!({
        "given_names": p.given_names,
        "surnames": p.surnames,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": format!("{:?}", p.sex),
        "nationality": p.nationality,
        "document_type": d.map(|d| format!("{:?}", d.document_type)).map(|t| match t.as_str() {
            "Passport" => "passport", "IdentityCard" => "identity_card",
            "TravelDocument" => "travel_document", _ => "other" }).unwrap_or(""),
        "document_number": d.map(|d| d.number.as_str()).unwrap_or(""),
        "issuing_state": d.map(|d| d.issuing_state.as_str()).unwrap_or(""),
        "document_expiry": d.and_then(|d| d.expiry).map(|e| e.to_string()).unwrap_or_default(),
    })
}

/// The manifest as a JSON bus manifest.
pub fn bus_json(m: &Manifest) -> String {
    let v = serde_json::json!({
        "carrier": m.carrier,
        "trip": m.trip,
        "route": m.route.iter().map(|s| serde_json::json!({
            "place": s.place, "country": s.country.clone().unwrap_or_default()
        })).collect::<Vec<_>>(),
        "departure": m.departure.map(|t| t.to_string()),
        "arrival": m.arrival.map(|t| t.to_string()),
        "passengers": m.passengers.iter().map(passenger_json).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The manifest as a CSV bus manifest (the trip's columns on the first row only).
pub fn bus_csv(m: &Manifest) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(crate::bus::CSV_COLUMNS);
    let route = m
        .route
        .iter()
        .map(|s| format!("{}:{}", s.country.clone().unwrap_or_default(), s.place))
        .collect::<Vec<_>>()
        .join(" > ");
    for (i, p) in m.passengers.iter().enumerate() {
        let j = passenger_json(p);
        let f = |k: &str| j[k].as_str().unwrap_or("").to_string();
        let trip: [String; 5] = if i == 0 {
            [
                m.carrier.clone(),
                m.trip.clone(),
                route.clone(),
                m.departure.map(|t| t.to_string()).unwrap_or_default(),
                m.arrival.map(|t| t.to_string()).unwrap_or_default(),
            ]
        } else {
            Default::default()
        };
        let mut row: Vec<String> = trip.to_vec();
        for k in &crate::bus::CSV_COLUMNS[5..] {
            row.push(f(k));
        }
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
