//! `puente records generate`: realistic synthetic records in the import format (CSV with
//! valid TD3 MRZs, protection and vulnerability cases, encounters at the holder country's
//! entry points) and small SPECIMEN passport copies. Deterministic for a seed.

use std::path::{Path, PathBuf};

use puente_records::import::COLUMNS;
use puente_records::model::{
    DocumentType, Encounter, PartialDate, PersonRecord, Sex, TravelDocument,
};
use puente_records::mrz::{build_td3, MrzDate};
use puente_records::RecordsError;

use crate::error::SynthError;
use crate::person::{random_person, SynthPerson};
use crate::rng::Rng;
use crate::specimen::specimen_png;

/// What was written.
#[derive(Clone, Debug)]
pub struct GenerateReport {
    /// Persons written.
    pub persons: u64,
    /// Passport copies written.
    pub copies: u64,
    /// The CSV file.
    pub csv: PathBuf,
}

fn entry_points(holder: &str) -> &'static [&'static str] {
    match holder {
        "MEX" => &[
            "Tapachula",
            "Ciudad Hidalgo",
            "Tenosique",
            "Ciudad Juárez",
            "AICM Mexico City",
        ],
        "GTM" => &[
            "Tecún Umán",
            "El Ceibo",
            "Agua Caliente",
            "La Aurora airport",
            "Pedro de Alvarado",
        ],
        "CRI" => &[
            "Paso Canoas",
            "Peñas Blancas",
            "Los Chiles",
            "Juan Santamaría airport",
        ],
        "PAN" => &["Lajas Blancas", "San Vicente", "Tocumen airport"],
        _ => &["Land border post", "International airport", "Seaport"],
    }
}

fn previous_countries(holder: &str) -> &'static [&'static str] {
    match holder {
        "MEX" => &["GTM", "GTM", "GTM", "BLZ"],
        "GTM" => &["HND", "SLV", "HND", "MEX"],
        "CRI" => &["PAN", "PAN", "NIC"],
        "PAN" => &["COL", "COL", "CRI"],
        _ => &["PAN", "COL"],
    }
}

/// One synthetic person as a CSV row (column order of [`COLUMNS`]) and whether it has a copy.
pub fn row(
    rng: &mut Rng,
    index: u64,
    seed: u64,
    holder: &str,
    with_copy: bool,
) -> Result<(Vec<String>, SynthPerson), SynthError> {
    let p = random_person(rng);
    let record_id = format!("{holder}-{seed}-{index:08}");
    let letters = b"ABCDEFGHJKLMNPRSTUVWXYZ";
    let l1 = letters[(rng.below(letters.len() as u64)) as usize] as char;
    let l2 = letters[(rng.below(letters.len() as u64)) as usize] as char;
    let number = format!("{l1}{l2}{:07}", rng.below(10_000_000));
    let expiry_year = 2027 + rng.below(9) as i32;
    let expiry = MrzDate {
        yy: (expiry_year % 100) as u8,
        mm: 1 + rng.below(12) as u8,
        dd: 1 + rng.below(28) as u8,
    };
    let birth = MrzDate {
        yy: (p.birth_year % 100) as u8,
        mm: p.birth_month,
        dd: p.birth_day,
    };
    let (mrz1, mrz2) = build_td3(
        "P",
        &p.nationality,
        &p.surnames,
        &p.given_names,
        &number,
        &p.nationality,
        birth,
        Some(p.sex),
        expiry,
        "",
    )
    .map_err(|e| SynthError::Build {
        record_id: record_id.clone(),
        reason: format!("its MRZ: {e}"),
    })?;
    let age = 2026 - p.birth_year;
    let roll = rng.below(1000);
    let (status, against) = match roll {
        0..=39 => ("asylum_seeker", String::new()),
        40..=54 => ("refugee", p.nationality.clone()),
        55..=59 => ("complementary", String::new()),
        60..=62 => ("stateless", String::new()),
        _ => ("none", String::new()),
    };
    let mut vulnerabilities = Vec::new();
    if age < 18 && rng.chance(0.3) {
        vulnerabilities.push(if rng.chance(0.6) {
            "unaccompanied_child"
        } else {
            "separated_child"
        });
    }
    if rng.chance(0.01) {
        vulnerabilities.push("trafficking_victim");
    }
    if rng.chance(0.01) {
        vulnerabilities.push("serious_illness");
    }
    if p.sex == 'F' && (18..45).contains(&age) && rng.chance(0.02) {
        vulnerabilities.push("pregnant");
    }
    if age >= 65 {
        vulnerabilities.push("elderly");
    }
    let event = if status == "asylum_seeker" && rng.chance(0.7) {
        "asylum_claim"
    } else {
        match rng.below(20) {
            0..=7 => "entry",
            8..=14 => "detection",
            15..=17 => "return",
            _ => "departure",
        }
    };
    let places = entry_points(holder);
    let prev = previous_countries(holder);
    // From January 2025 to November 2026: never in the future (December 2026 is folded
    // onto December 2025, with the same draws, so seeded data stays as it was elsewhere).
    let (year, month, day) = (2025 + rng.below(2), 1 + rng.below(12), 1 + rng.below(28));
    let year = if (year, month) == (2026, 12) {
        2025
    } else {
        year
    };
    let encounter_date = format!("{year}-{month:02}-{day:02}");
    let fields = vec![
        record_id.clone(),
        p.given_names.clone(),
        p.surnames.clone(),
        format!(
            "{:04}-{:02}-{:02}",
            p.birth_year, p.birth_month, p.birth_day
        ),
        p.sex.to_string(),
        p.nationality.clone(),
        "passport".into(),
        number,
        p.nationality.clone(),
        format!("{expiry_year:04}-{:02}-{:02}", expiry.mm, expiry.dd),
        mrz1,
        mrz2,
        status.into(),
        against,
        vulnerabilities.join(";"),
        encounter_date,
        places[rng.below(places.len() as u64) as usize].to_string(),
        event.into(),
        prev[rng.below(prev.len() as u64) as usize].to_string(),
        if with_copy {
            format!("copies/{record_id}.png")
        } else {
            String::new()
        },
    ];
    Ok((fields, p))
}

/// Writes `count` persons to `dir/persons.csv` and their copies to `dir/copies/`.
pub fn write(
    dir: &Path,
    count: u64,
    seed: u64,
    copy_every: u64,
    holder: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<GenerateReport, SynthError> {
    crate::pools::check()?;
    let io = |e: std::io::Error| RecordsError::File {
        file: dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir.join("copies")).map_err(io)?;
    let csv_path = dir.join("persons.csv");
    if csv_path.exists() {
        return Err(RecordsError::File {
            file: csv_path.display().to_string(),
            reason: "already exists; choose an empty --out directory".into(),
        }
        .into());
    }
    let mut w = csv::Writer::from_path(&csv_path).map_err(|e| RecordsError::File {
        file: csv_path.display().to_string(),
        reason: e.to_string(),
    })?;
    w.write_record(COLUMNS).map_err(|e| RecordsError::File {
        file: csv_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut rng = Rng::new(seed);
    let mut copies = 0;
    for i in 0..count {
        let with_copy = copy_every > 0 && i.is_multiple_of(copy_every);
        let (fields, _) = row(&mut rng, i, seed, holder, with_copy)?;
        if with_copy {
            let png = specimen_png(seed.wrapping_mul(1_000_003).wrapping_add(i))?;
            std::fs::write(dir.join(&fields[19]), png).map_err(io)?;
            copies += 1;
        }
        w.write_record(&fields).map_err(|e| RecordsError::File {
            file: csv_path.display().to_string(),
            reason: e.to_string(),
        })?;
        if (i + 1).is_multiple_of(100_000) {
            progress(i + 1);
        }
    }
    w.flush().map_err(io)?;
    Ok(GenerateReport {
        persons: count,
        copies,
        csv: csv_path,
    })
}

/// One synthetic person as a record, without going through CSV (benchmarks). Returns the
/// synthetic person too, as ground truth for variants.
pub fn record(
    rng: &mut Rng,
    index: u64,
    seed: u64,
    holder: &str,
) -> Result<(PersonRecord, SynthPerson), SynthError> {
    crate::pools::check()?;
    let (f, p) = row(rng, index, seed, holder, false)?;
    let date = |s: &str| {
        PartialDate::parse(s).map_err(|e| SynthError::Build {
            record_id: f[0].clone(),
            reason: format!("date {s:?}: {e}"),
        })
    };
    let record = PersonRecord {
        record_id: f[0].clone(),
        given_names: f[1].clone(),
        surnames: f[2].clone(),
        date_of_birth: date(&f[3])?,
        sex: if p.sex == 'F' { Sex::F } else { Sex::M },
        nationality: f[5].clone(),
        document: Some(TravelDocument {
            document_type: DocumentType::Passport,
            number: f[7].clone(),
            issuing_state: f[8].clone(),
            expiry: Some(date(&f[9])?),
            mrz: Some((f[10].clone(), f[11].clone())),
        }),
        protection_status: f[12].clone(),
        protected_against: f[13]
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        vulnerabilities: f[14]
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        encounters: vec![Encounter {
            date: date(&f[15])?,
            place: f[16].clone(),
            event: f[17].clone(),
            previous_country: Some(f[18].clone()),
        }],
        passport_copy: None,
    };
    Ok((record, p))
}
