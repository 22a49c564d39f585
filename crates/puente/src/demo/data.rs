//! The demo federation's data: its agreements (each pair grants different things) and the
//! records each country imports (synthetic, plus the people the story follows).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The demo federation's agreements, each with different grants.
pub fn demo_agreements(today: time::Date) -> Vec<(&'static str, &'static str, String)> {
    let from = today - time::Duration::days(30);
    let until = today + time::Duration::days(365);
    let head = |id: &str, a: &str, b: &str, title: &str| {
        format!("# {title}\nformat = \"puente-agreement/1\"\nid = \"{id}\"\ntitle = \"{title}\"\nparties = [\"{a}\", \"{b}\"]\nvalid_from = \"{from}\"\nvalid_until = \"{until}\"\n")
    };
    let full_fields = r#"["given_names", "surnames", "date_of_birth", "sex", "nationality", "document_type", "document_number", "issuing_state", "document_expiry", "last_encounter_date", "last_encounter_place", "route"]"#;
    let identity_and_copies = |p: &str, r: &str| {
        format!("\n[[grant]]\nprovider = \"{p}\"\nreceiver = \"{r}\"\nservices = [\"identity_query\", \"passport_copy\", \"flow_counts\", \"alerts\", \"manifest_check\"]\npurposes = [\"identification\", \"return\", \"statistics\", \"early_warning\"]\nlegal_basis = \"Regional migration conference, working group on extra-regional migrants: information exchange memorandum, art. 3-5\"\nfields = {full_fields}\nqueries_per_day = 500\ncopies_per_day = 50\ntravellers_per_day = 5000\nmax_batch = 500\nmax_matches = 5\nretention_days = 90\nsmall_cell_threshold = 5\nsecondary_suppression = true\n")
    };
    let mex_gtm = format!(
        "{}{}{}",
        head(
            "MEX-GTM-DEMO-01",
            "MEX",
            "GTM",
            "Mexico and Guatemala: identity, passport copies, statistics and alerts"
        ),
        identity_and_copies("MEX", "GTM"),
        identity_and_copies("GTM", "MEX")
    );
    let mex_cri = format!(
        "{}\n[[grant]]\nprovider = \"MEX\"\nreceiver = \"CRI\"\nservices = [\"identity_query\", \"flow_counts\"]\npurposes = [\"identification\", \"protection_referral\", \"statistics\"]\nlegal_basis = \"Bilateral protocol MEX-CRI on migrant identification, art. 2\"\nfields = [\"nationality\"]\nmodes = {{ identity_query = \"hit_no_hit\" }}\nqueries_per_day = 200\nmax_matches = 3\nretention_days = 30\nsmall_cell_threshold = 10\n\n[[grant]]\nprovider = \"CRI\"\nreceiver = \"MEX\"\nservices = [\"identity_query\", \"passport_copy\"]\npurposes = [\"identification\", \"return\"]\nlegal_basis = \"Bilateral protocol MEX-CRI on migrant identification, art. 3\"\nfields = {full_fields}\nqueries_per_day = 200\ncopies_per_day = 20\nretention_days = 60\n",
        head("MEX-CRI-DEMO-01", "MEX", "CRI", "Mexico and Costa Rica: hit/no-hit towards Costa Rica, full towards Mexico")
    );
    let flows = |p: &str, r: &str| {
        format!("\n[[grant]]\nprovider = \"{p}\"\nreceiver = \"{r}\"\nservices = [\"flow_counts\", \"alerts\"]\npurposes = [\"statistics\", \"early_warning\"]\nlegal_basis = \"Regional statistics commitment of the working group\"\nretention_days = 365\nsmall_cell_threshold = 5\nsecondary_suppression = true\n")
    };
    let gtm_cri = format!(
        "{}{}{}",
        head(
            "GTM-CRI-DEMO-01",
            "GTM",
            "CRI",
            "Guatemala and Costa Rica: flow statistics and early warnings only"
        ),
        flows("GTM", "CRI"),
        flows("CRI", "GTM")
    );
    vec![
        ("MEX", "GTM", mex_gtm),
        ("MEX", "CRI", mex_cri),
        ("GTM", "CRI", gtm_cri),
    ]
}

/// The people the demo follows, appended to MEX's synthetic records.
pub const STORY_ROWS: &[&str] = &[
    // A Bangladeshi migrant detected at Tapachula, with a passport copy.
    "MEX-STORY-1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,copies/story-1.png",
    // A Guatemalan who asked for asylum in Mexico: never disclosed to Guatemala.
    "MEX-STORY-2,JOSÉ LUIS,PÉREZ GARCÍA,1988-05-05,M,GTM,passport,GT5551234,GTM,2029-01-01,,,asylum_seeker,,,2026-02-10,Tapachula,asylum_claim,GTM,",
    // A Haitian woman, known only by name and year of birth elsewhere.
    "MEX-STORY-3,MARIE-CLAUDE,JEAN-BAPTISTE,1994-09-03,F,HTI,passport,HT0412345,HTI,2031-02-01,,,none,,pregnant,2026-04-22,Ciudad Hidalgo,entry,GTM,",
];

/// Writes a country's import file: `count` synthetic persons, plus the story rows for MEX.
pub fn write_records(dir: &Path, country: &str, count: u64, seed: u64) -> Result<PathBuf> {
    let report = puente_synth::generate::write(dir, count, seed, 25, country, &mut |_| {})
        .with_context(|| format!("generating {country}'s synthetic records"))?;
    if country == "MEX" {
        let png = puente_synth::specimen::specimen_png(7).map_err(anyhow::Error::msg)?;
        std::fs::write(dir.join("copies/story-1.png"), png)?;
        let mut text = std::fs::read_to_string(&report.csv)?;
        for row in STORY_ROWS {
            text.push_str(row);
            text.push('\n');
        }
        std::fs::write(&report.csv, text)?;
    }
    Ok(report.csv)
}
