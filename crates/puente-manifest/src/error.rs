//! [`ManifestError`]: why a manifest is refused, naming the place (segment index and tag,
//! or row, and the field).

/// Why a manifest was refused. Every variant names where the problem is; none holds a
/// passenger's name or document number beyond the field being reported (the messages go
/// back to the carrier that sent the manifest, never to logs or audit entries).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// The manifest is bigger than the node accepts.
    #[error("the manifest is {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More passengers than one manifest may carry.
    #[error("{place}: more than {max} passengers; a manifest carries at most {max}")]
    TooManyPassengers {
        /// Where the limit was crossed (`segment 812 (NAD)`, `row 10002`).
        place: String,
        /// The limit.
        max: usize,
    },
    /// A PAXLST segment is wrong.
    #[error("segment {index} ({tag}), {field}: {reason}")]
    Segment {
        /// Its position in the interchange, from 1 (UNA not counted).
        index: usize,
        /// Its tag (`NAD`, `DOC`, …), or `?` when none could be read.
        tag: String,
        /// The data element (`element 2 (document number)`) or `segment`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The interchange ends before its UNZ, or in the middle of a segment.
    #[error("truncated interchange: {0}")]
    Truncated(String),
    /// A bus manifest row (CSV) or passenger (JSON) is wrong.
    #[error("{place}, field {field}: {reason}")]
    Field {
        /// `row 4` (CSV, the file's line), `passengers[3]` (JSON) or `manifest`.
        place: String,
        /// The field's name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The file is not the format it claims (not UTF-8, not JSON, no header row…).
    #[error("{0}")]
    Format(String),
}

impl ManifestError {
    /// A segment problem.
    pub fn segment(
        index: usize,
        tag: &str,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Segment {
            index,
            tag: tag.chars().take(3).collect(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A bus manifest field problem.
    pub fn field(
        place: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Field {
            place: place.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
