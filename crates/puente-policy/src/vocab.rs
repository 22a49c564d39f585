//! The vocabulary agreements are written in: services, purposes, disclosable fields and
//! modes. The closed lists are the proto enums themselves (`puente.v1.Service`,
//! `Purpose`, `DisclosableField`, `Mode`), so an agreement's `given_names` and the wire's
//! `DISCLOSABLE_FIELD_GIVEN_NAMES` are one definition: the agreement name is the proto
//! value name without its prefix, in lower case.

pub use puente_proto::v1::{DisclosableField as Field, Mode, Purpose, Service};

/// A proto enum usable as agreement vocabulary.
pub trait Term: Copy + Ord + Sized + std::fmt::Debug + 'static {
    /// The proto value-name prefix (`"SERVICE_"`).
    const PREFIX: &'static str;
    /// What the term is called in error messages.
    const KIND: &'static str;
    /// The proto value name (`"SERVICE_IDENTITY_QUERY"`).
    fn proto_name(self) -> &'static str;
    /// Parses a proto value name.
    fn from_proto_name(name: &str) -> Option<Self>;
    /// From the wire number.
    fn from_number(n: i32) -> Option<Self>;

    /// The agreement name (`"identity_query"`).
    fn name(self) -> String {
        self.proto_name()
            .strip_prefix(Self::PREFIX)
            .unwrap_or(self.proto_name())
            .to_ascii_lowercase()
    }

    /// Parses an agreement name; `UNSPECIFIED` is never a term.
    fn parse(name: &str) -> Option<Self> {
        if name.is_empty()
            || name.eq_ignore_ascii_case("unspecified")
            || name != name.to_ascii_lowercase()
        {
            return None;
        }
        Self::from_proto_name(&format!("{}{}", Self::PREFIX, name.to_ascii_uppercase()))
    }

    /// Every term, in wire order, without `UNSPECIFIED`.
    fn all() -> Vec<Self> {
        (1..).map_while(Self::from_number).collect()
    }

    /// The agreement names of every term, for error messages.
    fn names() -> String {
        Self::all()
            .into_iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

macro_rules! term {
    ($t:ty, $prefix:literal, $kind:literal) => {
        impl Term for $t {
            const PREFIX: &'static str = $prefix;
            const KIND: &'static str = $kind;
            fn proto_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_proto_name(name: &str) -> Option<Self> {
                Self::from_str_name(name)
            }
            fn from_number(n: i32) -> Option<Self> {
                Self::try_from(n).ok()
            }
        }
    };
}

term!(Service, "SERVICE_", "service");
term!(Purpose, "PURPOSE_", "purpose");
term!(Field, "DISCLOSABLE_FIELD_", "field");
term!(Mode, "MODE_", "mode");

/// Services an agreement may grant (witnessing audit logs needs no agreement; a
/// carrier's manifest submission is not an exchange with a peer).
pub fn grantable_services() -> Vec<Service> {
    Service::all()
        .into_iter()
        .filter(|s| !matches!(s, Service::AuditWitness | Service::ManifestSubmit))
        .collect()
}

/// Plain words for a service, as `agreement show` prints them.
pub fn service_words(s: Service) -> &'static str {
    match s {
        Service::IdentityQuery => "identity queries",
        Service::PassportCopy => "passport copies",
        Service::FlowCounts => "flow counts",
        Service::Alerts => "early-warning alerts",
        Service::AuditWitness => "audit witnessing",
        Service::ManifestCheck => "manifest checks (batches of travellers, hit/no-hit)",
        Service::ManifestSubmit => "carriers' manifest submissions",
        Service::Unspecified => "nothing",
    }
}

/// Plain words for any term: its name with spaces.
pub fn words<T: Term>(t: T) -> String {
    t.name().replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_cover_the_proto() {
        for f in Field::all() {
            assert_eq!(Field::parse(&f.name()), Some(f));
        }
        assert_eq!(Field::all().len(), 15);
        assert_eq!(Field::parse("given_names"), Some(Field::GivenNames));
        assert_eq!(
            Service::parse("identity_query"),
            Some(Service::IdentityQuery)
        );
        assert_eq!(
            Purpose::parse("protection_referral"),
            Some(Purpose::ProtectionReferral)
        );
        assert_eq!(Mode::parse("hit_no_hit"), Some(Mode::HitNoHit));
    }

    #[test]
    fn unspecified_and_odd_spellings_are_not_terms() {
        for bad in [
            "unspecified",
            "UNSPECIFIED",
            "",
            "GIVEN_NAMES",
            "given names",
            "religion",
        ] {
            assert_eq!(Field::parse(bad), None, "{bad}");
        }
        assert_eq!(Service::parse("unspecified"), None);
    }
}
