//! Bus manifests, the APIS-like feed for bus companies: JSON (one object) or CSV (one
//! passenger a row, the trip's columns repeated or left empty after the first row). The
//! route is a list of stops with their countries; a change of country between stops is
//! a border crossing. Each passenger has the same identity and document fields as a
//! record's import row. Errors name the row (CSV: the line in the file) or
//! `passengers[i]` (JSON) and the field.

use serde::Deserialize;

use crate::error::ManifestError;
use crate::model::{mark_crossings, Format, LocalTime, Manifest, Passenger, Stop};
use crate::passenger as check;

/// The CSV columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "carrier",
    "trip",
    "route",
    "departure",
    "arrival",
    "given_names",
    "surnames",
    "date_of_birth",
    "sex",
    "nationality",
    "document_type",
    "document_number",
    "issuing_state",
    "document_expiry",
];

/// Most stops on a route.
pub const MAX_STOPS: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    carrier: String,
    trip: String,
    route: Vec<RawStop>,
    #[serde(default)]
    departure: Option<String>,
    #[serde(default)]
    arrival: Option<String>,
    passengers: Vec<RawPassenger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStop {
    place: String,
    country: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPassenger {
    #[serde(default)]
    given_names: String,
    #[serde(default)]
    surnames: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    nationality: String,
    #[serde(default)]
    document_type: String,
    #[serde(default)]
    document_number: String,
    #[serde(default)]
    issuing_state: String,
    #[serde(default)]
    document_expiry: String,
}

/// Parses a JSON bus manifest.
pub fn parse_json(text: &str, today: time::Date) -> Result<Manifest, ManifestError> {
    let raw: RawManifest = serde_json::from_str(text).map_err(|e| {
        ManifestError::Format(format!(
            "not a bus manifest in JSON (line {}, column {}): {}",
            e.line(),
            e.column(),
            e.to_string().split(" at line").next().unwrap_or("")
        ))
    })?;
    if raw.passengers.len() > crate::MAX_PASSENGERS {
        return Err(ManifestError::TooManyPassengers {
            place: format!("passengers[{}]", crate::MAX_PASSENGERS),
            max: crate::MAX_PASSENGERS,
        });
    }
    let route = raw
        .route
        .iter()
        .enumerate()
        .map(|(i, s)| stop(&format!("route[{i}]"), &s.place, &s.country))
        .collect::<Result<Vec<_>, _>>()?;
    let mut passengers = Vec::with_capacity(raw.passengers.len());
    for (i, p) in raw.passengers.iter().enumerate() {
        passengers.push(passenger(&format!("passengers[{i}]"), p, today)?);
    }
    trip(
        Format::BusJson,
        "manifest",
        &raw.carrier,
        &raw.trip,
        route,
        raw.departure.as_deref().unwrap_or(""),
        raw.arrival.as_deref().unwrap_or(""),
        passengers,
    )
}

/// Parses a CSV bus manifest.
pub fn parse_csv(text: &str, today: time::Date) -> Result<Manifest, ManifestError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ManifestError::Format(format!("the CSV header row: {e}")))?
        .clone();
    for (i, h) in headers.iter().enumerate() {
        if !CSV_COLUMNS.contains(&h) {
            return Err(ManifestError::field(
                "row 1",
                format!("column {}", i + 1),
                format!(
                    "{:?} is not a bus manifest column ({})",
                    h.chars().take(24).collect::<String>(),
                    CSV_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for c in ["carrier", "trip", "route", "given_names", "surnames"] {
        if !headers.iter().any(|h| h == c) {
            return Err(ManifestError::field("row 1", c, "the column is missing"));
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let cols: Vec<Option<usize>> = CSV_COLUMNS.iter().map(|c| col(c)).collect();
    let mut header_values: Option<(usize, [String; 5])> = None;
    let mut passengers = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ManifestError::Format(format!("row {line}: not valid CSV: {e}"))
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let place = format!("row {line}");
        if passengers.len() >= crate::MAX_PASSENGERS {
            return Err(ManifestError::TooManyPassengers {
                place,
                max: crate::MAX_PASSENGERS,
            });
        }
        let get = |i: usize| -> String {
            cols[i]
                .and_then(|c| record.get(c))
                .unwrap_or("")
                .to_string()
        };
        let trip_values = [get(0), get(1), get(2), get(3), get(4)];
        match &header_values {
            None => header_values = Some((line, trip_values)),
            Some((_, first)) => {
                for (i, v) in trip_values.iter().enumerate() {
                    if !v.is_empty() && v != &first[i] {
                        return Err(ManifestError::field(
                            &place,
                            CSV_COLUMNS[i],
                            "differs from the first row: one file is one trip",
                        ));
                    }
                }
            }
        }
        let p = RawPassenger {
            given_names: get(5),
            surnames: get(6),
            date_of_birth: get(7),
            sex: get(8),
            nationality: get(9),
            document_type: get(10),
            document_number: get(11),
            issuing_state: get(12),
            document_expiry: get(13),
        };
        passengers.push(passenger(&place, &p, today)?);
    }
    let Some((line, [carrier, trip_id, route, departure, arrival])) = header_values else {
        return Err(ManifestError::Format(
            "the CSV has a header row and no passenger".into(),
        ));
    };
    let place = format!("row {line}");
    let stops = route
        .split('>')
        .map(str::trim)
        .enumerate()
        .map(|(i, s)| {
            let (country, name) = s.split_once(':').ok_or_else(|| {
                ManifestError::field(
                    &place,
                    "route",
                    format!("stop {} is not COUNTRY:PLACE (e.g. GTM:Tecún Umán)", i + 1),
                )
            })?;
            stop(&place, name, country)
        })
        .collect::<Result<Vec<_>, _>>()?;
    trip(
        Format::BusCsv,
        &place,
        &carrier,
        &trip_id,
        stops,
        &departure,
        &arrival,
        passengers,
    )
}

fn stop(place: &str, name: &str, country: &str) -> Result<Stop, ManifestError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ManifestError::field(
            place,
            "route",
            "a stop's place is 1-64 printable characters",
        ));
    }
    let country = check::country_code("country", country)
        .map_err(|(_, r)| ManifestError::field(place, "route", r))?;
    Ok(Stop {
        place: name.to_string(),
        country: Some(country),
        border_crossing: false,
    })
}

fn passenger(place: &str, p: &RawPassenger, today: time::Date) -> Result<Passenger, ManifestError> {
    let e = |(f, r): check::FieldProblem| ManifestError::field(place, f, r);
    let (given_names, surnames) = check::names(&p.given_names, &p.surnames).map_err(e)?;
    Ok(Passenger {
        given_names,
        surnames,
        date_of_birth: check::birth(&p.date_of_birth, today).map_err(e)?,
        sex: check::sex(&p.sex).map_err(e)?,
        nationality: check::country_code("nationality", &p.nationality).map_err(e)?,
        document: check::document(
            &p.document_type,
            &p.document_number,
            &p.issuing_state,
            &p.document_expiry,
        )
        .map_err(e)?,
        embarkation: None,
        debarkation: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn trip(
    format: Format,
    place: &str,
    carrier: &str,
    trip: &str,
    mut route: Vec<Stop>,
    departure: &str,
    arrival: &str,
    passengers: Vec<Passenger>,
) -> Result<Manifest, ManifestError> {
    let text = |field: &str, v: &str| -> Result<String, ManifestError> {
        let v = v.trim();
        if v.is_empty() || v.chars().count() > 64 || v.chars().any(char::is_control) {
            return Err(ManifestError::field(
                place,
                field,
                "must be 1-64 printable characters",
            ));
        }
        Ok(v.to_string())
    };
    let carrier = text("carrier", carrier)?;
    let trip = text("trip", trip)?;
    if route.len() < 2 || route.len() > MAX_STOPS {
        return Err(ManifestError::field(
            place,
            "route",
            format!("a route has 2-{MAX_STOPS} stops, departure first, arrival last"),
        ));
    }
    mark_crossings(&mut route);
    let time = |field: &str, v: &str| -> Result<Option<LocalTime>, ManifestError> {
        match v.trim() {
            "" => Ok(None),
            v => LocalTime::parse(v)
                .map(Some)
                .map_err(|r| ManifestError::field(place, field, r)),
        }
    };
    let departure = time("departure", departure)?;
    let arrival = time("arrival", arrival)?;
    if let (Some(d), Some(a)) = (departure, arrival) {
        if a < d {
            return Err(ManifestError::field(
                place,
                "arrival",
                "is before the departure",
            ));
        }
    }
    if passengers.is_empty() {
        return Err(ManifestError::field(place, "passengers", "none listed"));
    }
    Ok(Manifest {
        format,
        carrier,
        trip,
        route,
        departure,
        arrival,
        passengers,
    })
}
