//! Who a certificate says it is: country, role and name, carried in one URI SAN
//! `urn:puente:<COUNTRY>:<role>:<name>`.
//!
//! A [`PeerIdentity`] is only meaningful after the certificate chain verified against the
//! CA of the country it claims (see [`crate::tls`]); parsing alone proves nothing.

use std::fmt;
use std::str::FromStr;

use crate::country;
use crate::error::{PkiError, Result};

/// An ISO 3166-1 alpha-3 country code, validated on construction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 3]);

impl CountryCode {
    /// Validates `code` as an ISO 3166-1 alpha-3 code (upper case, as ICAO writes it).
    pub fn parse(code: &str) -> Result<Self> {
        if country::is_iso_alpha3(code) {
            let b = code.as_bytes();
            return Ok(Self([b[0], b[1], b[2]]));
        }
        let hint = if let Some(what) = country::icao_only_description(code) {
            format!("; it is an ICAO 9303 code ({what}), which cannot name a node")
        } else if country::is_iso_alpha3(&code.to_ascii_uppercase()) {
            format!("; write it in upper case: {}", code.to_ascii_uppercase())
        } else {
            String::new()
        };
        Err(PkiError::InvalidCountry {
            code: code.to_string(),
            hint,
        })
    }

    /// The code as text, e.g. `"MEX"`.
    pub fn as_str(&self) -> &str {
        // Constructed only from validated ASCII.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The ISO short name, e.g. "Mexico".
    pub fn name(&self) -> &'static str {
        country::country_name(self.as_str()).unwrap_or("")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// What a certificate holder may do; roles gate gRPC services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A country's node: calls peers' `Exchange` and serves TLS.
    Node,
    /// An officer of the country: calls its own node's `Local`.
    Operator,
    /// An auditor of the country: reads its own node's `Audit`.
    Auditor,
    /// A carrier (airline, bus company) of the country: submits manifests to its own
    /// node's `Manifest` service, nothing else.
    Carrier,
}

impl Role {
    /// The role's name as written in URNs and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Carrier => "carrier",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "node" => Ok(Role::Node),
            "operator" => Ok(Role::Operator),
            "auditor" => Ok(Role::Auditor),
            "carrier" => Ok(Role::Carrier),
            other => Err(PkiError::InvalidRole {
                role: other.to_string(),
            }),
        }
    }
}

/// Checks a certificate holder name: 1-63 of `a-z 0-9 . _ -`, starting alphanumeric.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// The verified identity of a caller or a peer server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    /// The country whose CA issued the certificate.
    pub country: CountryCode,
    /// What the holder may do.
    pub role: Role,
    /// The holder's name within its country and role (e.g. `mex-1`, `ana.lopez`).
    pub name: String,
}

/// The URN scheme prefix of identities.
pub const URN_PREFIX: &str = "urn:puente:";

impl PeerIdentity {
    /// Builds an identity, validating the name.
    pub fn new(country: CountryCode, role: Role, name: &str) -> Result<Self> {
        validate_name(name)?;
        Ok(Self {
            country,
            role,
            name: name.to_string(),
        })
    }

    /// The URI SAN form: `urn:puente:MEX:node:mex-1`.
    pub fn urn(&self) -> String {
        format!("{URN_PREFIX}{}:{}:{}", self.country, self.role, self.name)
    }

    /// Parses the URI SAN form.
    pub fn parse_urn(urn: &str) -> Result<Self> {
        let bad = |reason: &str| PkiError::InvalidUrn {
            urn: urn.to_string(),
            reason: reason.to_string(),
        };
        let rest = urn
            .strip_prefix(URN_PREFIX)
            .ok_or_else(|| bad("does not start with urn:puente:"))?;
        let mut parts = rest.split(':');
        let (Some(country), Some(role), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected exactly three parts after urn:puente:"));
        };
        let country = CountryCode::parse(country).map_err(|e| bad(&e.to_string()))?;
        let role = role.parse::<Role>().map_err(|e| bad(&e.to_string()))?;
        validate_name(name).map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            country,
            role,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.country, self.role, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_round_trips() {
        let id = PeerIdentity::parse_urn("urn:puente:MEX:node:mex-1").unwrap();
        assert_eq!(id.country.as_str(), "MEX");
        assert_eq!(id.role, Role::Node);
        assert_eq!(id.name, "mex-1");
        assert_eq!(id.urn(), "urn:puente:MEX:node:mex-1");
    }

    #[test]
    fn bad_urns_are_refused() {
        for urn in [
            "urn:puente:MEX:node",
            "urn:puente:MEX:node:a:b",
            "urn:puente:XXA:node:x",
            "urn:puente:mex:node:x",
            "urn:puente:MEX:admin:x",
            "urn:puente:MEX:node:",
            "urn:puente:MEX:node:Bad",
            "urn:other:MEX:node:x",
            "",
        ] {
            assert!(PeerIdentity::parse_urn(urn).is_err(), "{urn} accepted");
        }
    }

    #[test]
    fn country_errors_explain_icao_codes() {
        let err = CountryCode::parse("XXA").unwrap_err().to_string();
        assert!(err.contains("ICAO"), "{err}");
        let err = CountryCode::parse("D").unwrap_err().to_string();
        assert!(err.contains("ICAO"), "{err}");
        let err = CountryCode::parse("mex").unwrap_err().to_string();
        assert!(err.contains("MEX"), "{err}");
    }

    #[test]
    fn names_are_validated() {
        for ok in ["mex-1", "ana.lopez", "a", "x_9"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-a", "A", "a b", "a:b", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad} accepted");
        }
    }
}
