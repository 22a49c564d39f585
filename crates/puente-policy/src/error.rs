//! Errors of agreements: every message names the agreement (or file) and the rule or key
//! that failed, e.g. "agreement MEX-GTM-2026-01: signature of GTM does not verify against
//! key gtm-2026".

/// Why an agreement is not enforced, or cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementError {
    /// The document does not parse or breaks the format's rules.
    #[error("{origin}: not a valid agreement:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// File (or label) it came from.
        origin: String,
        /// Every problem, each with its key path.
        problems: Vec<String>,
    },
    /// A party has not signed.
    #[error("agreement {id}: missing signature of {country}")]
    MissingSignature {
        /// Agreement id.
        id: String,
        /// The party that has not signed.
        country: String,
    },
    /// A party's key is not known (own key missing, or peer not in the trust bundle).
    #[error("agreement {id}: party {country} is not in the trust bundle, so its signature cannot be checked")]
    UnknownParty {
        /// Agreement id.
        id: String,
        /// The party.
        country: String,
    },
    /// A signature names a key that is not the party's key.
    #[error("agreement {id}: {country} signed with key {key}, but {country}'s key is {expected}")]
    WrongKey {
        /// Agreement id.
        id: String,
        /// The party.
        country: String,
        /// The key the signature names.
        key: String,
        /// The party's key in the trust bundle.
        expected: String,
    },
    /// A signature does not verify.
    #[error("agreement {id}: signature of {country} does not verify against key {key}")]
    BadSignature {
        /// Agreement id.
        id: String,
        /// The party.
        country: String,
        /// The key used.
        key: String,
    },
    /// Someone who is not a party signed, or a party signed twice.
    #[error("agreement {id}: {reason}")]
    StraySignature {
        /// Agreement id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Signing was asked of a country that is not a party.
    #[error("agreement {id}: {country} is not a party ({parties}); it cannot sign")]
    NotAParty {
        /// Agreement id.
        id: String,
        /// Who tried to sign.
        country: String,
        /// The parties.
        parties: String,
    },
}
