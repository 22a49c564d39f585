//! Country codes.
//!
//! Country codes in Puente are ISO 3166-1 alpha-3 codes (e.g. `MEX`, `GTM`).
//! ICAO 9303 defines further codes that are not ISO 3166-1 countries (`D`,
//! `XXA` stateless, `XXB` and `XXC` refugee, `XXX` unspecified, `UNO`, `UNA`,
//! `UNK`, `XOM`, `XPO`, `XCC`, `XES`, `EUE`, `GBD`, `GBN`, `GBO`, `GBP`, `GBS`,
//! `RKS`). They are valid as nationalities in travel documents in some
//! contexts, but they never name a node.

/// All 249 officially assigned ISO 3166-1 alpha-3 codes with their short
/// English names, sorted by code.
pub const ISO_ALPHA3: &[(&str, &str)] = &[
    ("ABW", "Aruba"),
    ("AFG", "Afghanistan"),
    ("AGO", "Angola"),
    ("AIA", "Anguilla"),
    ("ALA", "Åland Islands"),
    ("ALB", "Albania"),
    ("AND", "Andorra"),
    ("ARE", "United Arab Emirates"),
    ("ARG", "Argentina"),
    ("ARM", "Armenia"),
    ("ASM", "American Samoa"),
    ("ATA", "Antarctica"),
    ("ATF", "French Southern Territories"),
    ("ATG", "Antigua and Barbuda"),
    ("AUS", "Australia"),
    ("AUT", "Austria"),
    ("AZE", "Azerbaijan"),
    ("BDI", "Burundi"),
    ("BEL", "Belgium"),
    ("BEN", "Benin"),
    ("BES", "Bonaire, Sint Eustatius and Saba"),
    ("BFA", "Burkina Faso"),
    ("BGD", "Bangladesh"),
    ("BGR", "Bulgaria"),
    ("BHR", "Bahrain"),
    ("BHS", "Bahamas"),
    ("BIH", "Bosnia and Herzegovina"),
    ("BLM", "Saint Barthélemy"),
    ("BLR", "Belarus"),
    ("BLZ", "Belize"),
    ("BMU", "Bermuda"),
    ("BOL", "Bolivia, Plurinational State of"),
    ("BRA", "Brazil"),
    ("BRB", "Barbados"),
    ("BRN", "Brunei Darussalam"),
    ("BTN", "Bhutan"),
    ("BVT", "Bouvet Island"),
    ("BWA", "Botswana"),
    ("CAF", "Central African Republic"),
    ("CAN", "Canada"),
    ("CCK", "Cocos (Keeling) Islands"),
    ("CHE", "Switzerland"),
    ("CHL", "Chile"),
    ("CHN", "China"),
    ("CIV", "Côte d'Ivoire"),
    ("CMR", "Cameroon"),
    ("COD", "Congo, The Democratic Republic of the"),
    ("COG", "Congo"),
    ("COK", "Cook Islands"),
    ("COL", "Colombia"),
    ("COM", "Comoros"),
    ("CPV", "Cabo Verde"),
    ("CRI", "Costa Rica"),
    ("CUB", "Cuba"),
    ("CUW", "Curaçao"),
    ("CXR", "Christmas Island"),
    ("CYM", "Cayman Islands"),
    ("CYP", "Cyprus"),
    ("CZE", "Czechia"),
    ("DEU", "Germany"),
    ("DJI", "Djibouti"),
    ("DMA", "Dominica"),
    ("DNK", "Denmark"),
    ("DOM", "Dominican Republic"),
    ("DZA", "Algeria"),
    ("ECU", "Ecuador"),
    ("EGY", "Egypt"),
    ("ERI", "Eritrea"),
    ("ESH", "Western Sahara"),
    ("ESP", "Spain"),
    ("EST", "Estonia"),
    ("ETH", "Ethiopia"),
    ("FIN", "Finland"),
    ("FJI", "Fiji"),
    ("FLK", "Falkland Islands (Malvinas)"),
    ("FRA", "France"),
    ("FRO", "Faroe Islands"),
    ("FSM", "Micronesia, Federated States of"),
    ("GAB", "Gabon"),
    ("GBR", "United Kingdom"),
    ("GEO", "Georgia"),
    ("GGY", "Guernsey"),
    ("GHA", "Ghana"),
    ("GIB", "Gibraltar"),
    ("GIN", "Guinea"),
    ("GLP", "Guadeloupe"),
    ("GMB", "Gambia"),
    ("GNB", "Guinea-Bissau"),
    ("GNQ", "Equatorial Guinea"),
    ("GRC", "Greece"),
    ("GRD", "Grenada"),
    ("GRL", "Greenland"),
    ("GTM", "Guatemala"),
    ("GUF", "French Guiana"),
    ("GUM", "Guam"),
    ("GUY", "Guyana"),
    ("HKG", "Hong Kong"),
    ("HMD", "Heard Island and McDonald Islands"),
    ("HND", "Honduras"),
    ("HRV", "Croatia"),
    ("HTI", "Haiti"),
    ("HUN", "Hungary"),
    ("IDN", "Indonesia"),
    ("IMN", "Isle of Man"),
    ("IND", "India"),
    ("IOT", "British Indian Ocean Territory"),
    ("IRL", "Ireland"),
    ("IRN", "Iran, Islamic Republic of"),
    ("IRQ", "Iraq"),
    ("ISL", "Iceland"),
    ("ISR", "Israel"),
    ("ITA", "Italy"),
    ("JAM", "Jamaica"),
    ("JEY", "Jersey"),
    ("JOR", "Jordan"),
    ("JPN", "Japan"),
    ("KAZ", "Kazakhstan"),
    ("KEN", "Kenya"),
    ("KGZ", "Kyrgyzstan"),
    ("KHM", "Cambodia"),
    ("KIR", "Kiribati"),
    ("KNA", "Saint Kitts and Nevis"),
    ("KOR", "Korea, Republic of"),
    ("KWT", "Kuwait"),
    ("LAO", "Lao People's Democratic Republic"),
    ("LBN", "Lebanon"),
    ("LBR", "Liberia"),
    ("LBY", "Libya"),
    ("LCA", "Saint Lucia"),
    ("LIE", "Liechtenstein"),
    ("LKA", "Sri Lanka"),
    ("LSO", "Lesotho"),
    ("LTU", "Lithuania"),
    ("LUX", "Luxembourg"),
    ("LVA", "Latvia"),
    ("MAC", "Macao"),
    ("MAF", "Saint Martin (French part)"),
    ("MAR", "Morocco"),
    ("MCO", "Monaco"),
    ("MDA", "Moldova, Republic of"),
    ("MDG", "Madagascar"),
    ("MDV", "Maldives"),
    ("MEX", "Mexico"),
    ("MHL", "Marshall Islands"),
    ("MKD", "North Macedonia"),
    ("MLI", "Mali"),
    ("MLT", "Malta"),
    ("MMR", "Myanmar"),
    ("MNE", "Montenegro"),
    ("MNG", "Mongolia"),
    ("MNP", "Northern Mariana Islands"),
    ("MOZ", "Mozambique"),
    ("MRT", "Mauritania"),
    ("MSR", "Montserrat"),
    ("MTQ", "Martinique"),
    ("MUS", "Mauritius"),
    ("MWI", "Malawi"),
    ("MYS", "Malaysia"),
    ("MYT", "Mayotte"),
    ("NAM", "Namibia"),
    ("NCL", "New Caledonia"),
    ("NER", "Niger"),
    ("NFK", "Norfolk Island"),
    ("NGA", "Nigeria"),
    ("NIC", "Nicaragua"),
    ("NIU", "Niue"),
    ("NLD", "Netherlands"),
    ("NOR", "Norway"),
    ("NPL", "Nepal"),
    ("NRU", "Nauru"),
    ("NZL", "New Zealand"),
    ("OMN", "Oman"),
    ("PAK", "Pakistan"),
    ("PAN", "Panama"),
    ("PCN", "Pitcairn"),
    ("PER", "Peru"),
    ("PHL", "Philippines"),
    ("PLW", "Palau"),
    ("PNG", "Papua New Guinea"),
    ("POL", "Poland"),
    ("PRI", "Puerto Rico"),
    ("PRK", "Korea, Democratic People's Republic of"),
    ("PRT", "Portugal"),
    ("PRY", "Paraguay"),
    ("PSE", "Palestine, State of"),
    ("PYF", "French Polynesia"),
    ("QAT", "Qatar"),
    ("REU", "Réunion"),
    ("ROU", "Romania"),
    ("RUS", "Russian Federation"),
    ("RWA", "Rwanda"),
    ("SAU", "Saudi Arabia"),
    ("SDN", "Sudan"),
    ("SEN", "Senegal"),
    ("SGP", "Singapore"),
    ("SGS", "South Georgia and the South Sandwich Islands"),
    ("SHN", "Saint Helena, Ascension and Tristan da Cunha"),
    ("SJM", "Svalbard and Jan Mayen"),
    ("SLB", "Solomon Islands"),
    ("SLE", "Sierra Leone"),
    ("SLV", "El Salvador"),
    ("SMR", "San Marino"),
    ("SOM", "Somalia"),
    ("SPM", "Saint Pierre and Miquelon"),
    ("SRB", "Serbia"),
    ("SSD", "South Sudan"),
    ("STP", "Sao Tome and Principe"),
    ("SUR", "Suriname"),
    ("SVK", "Slovakia"),
    ("SVN", "Slovenia"),
    ("SWE", "Sweden"),
    ("SWZ", "Eswatini"),
    ("SXM", "Sint Maarten (Dutch part)"),
    ("SYC", "Seychelles"),
    ("SYR", "Syrian Arab Republic"),
    ("TCA", "Turks and Caicos Islands"),
    ("TCD", "Chad"),
    ("TGO", "Togo"),
    ("THA", "Thailand"),
    ("TJK", "Tajikistan"),
    ("TKL", "Tokelau"),
    ("TKM", "Turkmenistan"),
    ("TLS", "Timor-Leste"),
    ("TON", "Tonga"),
    ("TTO", "Trinidad and Tobago"),
    ("TUN", "Tunisia"),
    ("TUR", "Türkiye"),
    ("TUV", "Tuvalu"),
    ("TWN", "Taiwan, Province of China"),
    ("TZA", "Tanzania, United Republic of"),
    ("UGA", "Uganda"),
    ("UKR", "Ukraine"),
    ("UMI", "United States Minor Outlying Islands"),
    ("URY", "Uruguay"),
    ("USA", "United States"),
    ("UZB", "Uzbekistan"),
    ("VAT", "Holy See (Vatican City State)"),
    ("VCT", "Saint Vincent and the Grenadines"),
    ("VEN", "Venezuela, Bolivarian Republic of"),
    ("VGB", "Virgin Islands, British"),
    ("VIR", "Virgin Islands, U.S."),
    ("VNM", "Viet Nam"),
    ("VUT", "Vanuatu"),
    ("WLF", "Wallis and Futuna"),
    ("WSM", "Samoa"),
    ("YEM", "Yemen"),
    ("ZAF", "South Africa"),
    ("ZMB", "Zambia"),
    ("ZWE", "Zimbabwe"),
];

/// ICAO 9303 codes that are not ISO 3166-1 countries, with a short
/// description, sorted by code.
pub const ICAO_ONLY_CODES: &[(&str, &str)] = &[
    ("D", "Germany (ICAO single-letter code)"),
    ("EUE", "European Union"),
    ("GBD", "British Overseas Territories Citizen"),
    ("GBN", "British National (Overseas)"),
    ("GBO", "British Overseas Citizen"),
    ("GBP", "British Protected Person"),
    ("GBS", "British Subject"),
    ("RKS", "Kosovo"),
    ("UNA", "specialized agency of the United Nations"),
    (
        "UNK",
        "United Nations Interim Administration Mission in Kosovo",
    ),
    ("UNO", "United Nations Organization"),
    ("XCC", "Caribbean Community"),
    ("XES", "Organisation of Eastern Caribbean States"),
    ("XOM", "Sovereign Military Order of Malta"),
    ("XPO", "International Criminal Police Organization"),
    ("XXA", "stateless"),
    ("XXB", "refugee (1951 Convention)"),
    ("XXC", "refugee (other)"),
    ("XXX", "unspecified nationality"),
];

fn lookup(table: &'static [(&'static str, &'static str)], code: &str) -> Option<&'static str> {
    table
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| table[i].1)
}

/// Returns true if `code` is exactly three uppercase ASCII letters and an
/// officially assigned ISO 3166-1 alpha-3 code.
pub fn is_iso_alpha3(code: &str) -> bool {
    country_name(code).is_some()
}

/// Returns the short English name of an ISO 3166-1 alpha-3 code.
pub fn country_name(code: &str) -> Option<&'static str> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    lookup(ISO_ALPHA3, code)
}

/// Returns true if `code` is an ICAO 9303 code that is not an ISO 3166-1
/// country (e.g. `XXA`, stateless).
pub fn is_icao_only_code(code: &str) -> bool {
    icao_only_description(code).is_some()
}

/// Returns a short description of an ICAO-only code, for error messages such
/// as "XXA is an ICAO 9303 code (stateless), not an ISO 3166-1 country".
pub fn icao_only_description(code: &str) -> Option<&'static str> {
    lookup(ICAO_ONLY_CODES, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_249() {
        assert_eq!(ISO_ALPHA3.len(), 249);
    }

    #[test]
    fn tables_sorted_strictly_ascending() {
        assert!(ISO_ALPHA3.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(ICAO_ONLY_CODES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn entries_are_three_uppercase_letters() {
        for (code, name) in ISO_ALPHA3 {
            assert_eq!(code.len(), 3, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            assert!(!name.is_empty(), "{code}");
        }
    }

    #[test]
    fn icao_only_codes_are_not_iso() {
        for (code, _) in ICAO_ONLY_CODES {
            assert!(is_icao_only_code(code), "{code}");
            assert!(!is_iso_alpha3(code), "{code}");
        }
        assert!(!is_icao_only_code("MEX"));
        assert!(!is_icao_only_code("xxa"));
        assert_eq!(icao_only_description("XXA"), Some("stateless"));
    }

    #[test]
    fn spot_checks() {
        for code in [
            "MEX", "GTM", "CRI", "BGD", "NPL", "COD", "ERI", "HTI", "VEN",
        ] {
            assert!(is_iso_alpha3(code), "{code}");
        }
        for code in ["D", "XXA", "mex", "MEXX", "", "XKX", "MéX"] {
            assert!(!is_iso_alpha3(code), "{code}");
        }
        assert_eq!(country_name("GTM"), Some("Guatemala"));
        assert_eq!(country_name("XKX"), None);
        for code in [
            "ALA", "ATA", "BES", "BVT", "CUW", "SXM", "SSD", "UMI", "ESH", "PSE",
        ] {
            assert!(is_iso_alpha3(code), "{code}");
        }
    }
}
