//! Protection overrides every agreement (non-refoulement). A person who asked for asylum,
//! is a refugee or holds complementary protection is never disclosed to their country of
//! nationality, and nobody is disclosed to a country recorded as one they are protected
//! against, whatever an agreement grants. The identity and document paths call
//! [`screen`] on every candidate record; a withheld record must leave the answer exactly
//! as if it did not exist ("no match"), and only the audit log records why.

use puente_pki::CountryCode;

/// A person's protection status, as the country's own records hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ProtectionStatus {
    /// No protection recorded.
    #[default]
    None,
    /// Has asked for asylum; the claim is pending.
    AsylumSeeker,
    /// Recognised refugee.
    Refugee,
    /// Complementary or subsidiary protection.
    Complementary,
    /// Stateless person.
    Stateless,
}

impl ProtectionStatus {
    /// Parses the records' spelling (`none`, `asylum_seeker`, `refugee`, `complementary`,
    /// `stateless`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" | "" => Self::None,
            "asylum_seeker" => Self::AsylumSeeker,
            "refugee" => Self::Refugee,
            "complementary" => Self::Complementary,
            "stateless" => Self::Stateless,
            _ => return None,
        })
    }

    /// The records' spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::AsylumSeeker => "asylum_seeker",
            Self::Refugee => "refugee",
            Self::Complementary => "complementary",
            Self::Stateless => "stateless",
        }
    }

    /// Whether this status protects against the person's country of nationality.
    pub fn protects_from_nationality(self) -> bool {
        matches!(
            self,
            Self::AsylumSeeker | Self::Refugee | Self::Complementary
        )
    }
}

/// What the records say about a person's protection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protection {
    /// The status.
    pub status: ProtectionStatus,
    /// Countries the person is protected against (e.g. a country they fled that is not
    /// their nationality).
    pub protected_against: Vec<CountryCode>,
}

/// Why a record was withheld (audit log only; never on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withheld {
    /// The asker is the person's country of nationality and the person is protected.
    CountryOfNationality,
    /// The asker is a country the person is recorded as protected against.
    ProtectedAgainst,
}

impl Withheld {
    /// The rule name recorded in the audit log.
    pub fn rule(self) -> &'static str {
        match self {
            Withheld::CountryOfNationality => "protection.country_of_nationality",
            Withheld::ProtectedAgainst => "protection.protected_against",
        }
    }
}

/// Whether a record may be disclosed to `receiver`. `nationalities` are the person's
/// nationality codes as recorded (ICAO codes such as `XXA` simply never equal a node's
/// country).
pub fn screen(
    nationalities: &[&str],
    protection: &Protection,
    receiver: CountryCode,
) -> Result<(), Withheld> {
    if protection.protected_against.contains(&receiver) {
        return Err(Withheld::ProtectedAgainst);
    }
    if protection.status.protects_from_nationality()
        && nationalities
            .iter()
            .any(|n| n.eq_ignore_ascii_case(receiver.as_str()))
    {
        return Err(Withheld::CountryOfNationality);
    }
    Ok(())
}

/// Every country `screen` refuses this person to: the countries they are protected
/// against and, when the status protects from it, their country of nationality. Held
/// with a person's match key, so a query can set the person aside before any ranking,
/// cut-off or cap (a person withheld must leave every answer as if absent).
pub fn shielded_from(nationalities: &[&str], protection: &Protection) -> Vec<CountryCode> {
    let mut out = protection.protected_against.clone();
    if protection.status.protects_from_nationality() {
        out.extend(
            nationalities
                .iter()
                .filter_map(|n| CountryCode::parse(&n.to_ascii_uppercase()).ok()),
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}
