//! Errors of the node: configuration problems (each with its key path and file), and
//! failures while serving or dialling peers.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a configuration, at a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path, e.g. `tls.cert`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Errors while loading or validating a node configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a node configuration.
    #[error("config {} is not a valid node configuration: {message}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The TOML error, with line and column.
        message: String,
    },
    /// The configuration parsed but is wrong in one or more places.
    #[error("config {} has {} problem(s):\n{}", path.display(), problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<ConfigProblem>,
    },
}

/// Errors while running the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS configuration could not be built.
    #[error("TLS setup: {0}")]
    Tls(#[from] TlsSetupError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The store could not be opened or used.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Binding or accepting on the listener failed.
    #[error("listener {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Why one exchange was refused, as the rule that decided, the gRPC code and message the
/// other side sees, and the receipt of the refusal's audit entry once it is recorded.
///
/// Every handler of `Exchange` and every asker works in these; the one
/// `From<ExchangeError> for Status` below is where they become the wire's refusals. The
/// rule travels beside the message, so the audit entry takes it from here, not from the
/// status text.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExchangeError {
    /// The deciding rule, e.g. `agreement.quota_exceeded`, `context.purpose` (a bad
    /// field is named by its path), or `status.<code>` when no rule is named.
    pub rule: String,
    /// The gRPC code the other side sees.
    pub code: tonic::Code,
    /// The message the other side sees (it starts with the rule when one is named).
    pub message: String,
    /// The receipt of this refusal's audit entry, attached once recorded.
    pub receipt: Option<Box<puente_proto::v1::Receipt>>,
    /// ASCII metadata that goes with the refusal (e.g. the witnessed size).
    pub metadata: Vec<(&'static str, String)>,
}

/// The gRPC metadata key that carries a receipt with a refusal.
pub const RECEIPT_METADATA: &str = "puente-receipt-bin";

impl ExchangeError {
    /// A refusal with `code` and `message`; its rule is the dotted name in front of the
    /// first colon (`witness.inconsistent: …`, `context.purpose: …`), else
    /// `status.<code>`.
    pub fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        let message = message.into();
        let rule = match message.split_once(':') {
            Some((rule, _)) if rule.contains('.') && !rule.contains(' ') => rule.to_string(),
            _ => format!("status.{code:?}").to_ascii_lowercase(),
        };
        Self {
            rule,
            code,
            message,
            receipt: None,
            metadata: Vec::new(),
        }
    }

    /// A refusal by a peer, read from its status: what it said and the receipt it
    /// attached (not yet verified).
    pub fn from_peer(status: &tonic::Status) -> Self {
        Self {
            receipt: receipt_of(status).map(Box::new),
            ..Self::new(status.code(), status.message())
        }
    }

    /// Attaches the receipt of the refusal's audit entry.
    pub fn with_receipt(mut self, receipt: puente_proto::v1::Receipt) -> Self {
        self.receipt = Some(Box::new(receipt));
        self
    }

    /// Adds ASCII metadata to the refusal.
    pub fn with_metadata(mut self, key: &'static str, value: String) -> Self {
        self.metadata.push((key, value));
        self
    }

    /// `INVALID_ARGUMENT`: the request is malformed.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::InvalidArgument, message)
    }

    /// `PERMISSION_DENIED`: a rule forbids it.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::PermissionDenied, message)
    }

    /// `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::NotFound, message)
    }

    /// `FAILED_PRECONDITION`.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::FailedPrecondition, message)
    }

    /// `ALREADY_EXISTS`.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::AlreadyExists, message)
    }

    /// `UNAVAILABLE`: a store or a peer cannot serve now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::Unavailable, message)
    }

    /// `RESOURCE_EXHAUSTED`: a rate limit.
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::ResourceExhausted, message)
    }

    /// `ABORTED`: a concurrent update; ask again.
    pub fn aborted(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::Aborted, message)
    }

    /// `DATA_LOSS`: a peer's answer does not hold.
    pub fn data_loss(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::DataLoss, message)
    }

    /// `INTERNAL`: this node's own state is unreadable.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(tonic::Code::Internal, message)
    }
}

impl From<ExchangeError> for tonic::Status {
    fn from(e: ExchangeError) -> Self {
        let mut status = tonic::Status::new(e.code, e.message);
        for (key, value) in e.metadata {
            if let Ok(v) = tonic::metadata::MetadataValue::try_from(value) {
                status.metadata_mut().insert(key, v);
            }
        }
        if let Some(r) = e.receipt {
            status.metadata_mut().insert_bin(
                RECEIPT_METADATA,
                tonic::metadata::MetadataValue::from_bytes(&prost::Message::encode_to_vec(
                    r.as_ref(),
                )),
            );
        }
        status
    }
}

impl From<puente_policy::Refusal> for ExchangeError {
    fn from(r: puente_policy::Refusal) -> Self {
        let code = if r.rule.is_bad_request() {
            tonic::Code::InvalidArgument
        } else {
            tonic::Code::PermissionDenied
        };
        Self {
            rule: r.rule.name().to_string(),
            code,
            message: r.to_string(),
            receipt: None,
            metadata: Vec::new(),
        }
    }
}

/// The receipt attached to a refusal, if any.
pub fn receipt_of(status: &tonic::Status) -> Option<puente_proto::v1::Receipt> {
    let v = status.metadata().get_bin(RECEIPT_METADATA)?;
    let bytes = v.to_bytes().ok()?;
    prost::Message::decode(bytes.as_ref()).ok()
}

/// A `[stats]` schedule setting that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `stats.sync_at` is not `HH:MM`.
    #[error("{0:?} is not a time of day HH:MM (e.g. \"02:00\")")]
    SyncAt(String),
    /// `stats.utc_offset` is not `+HH:MM` or `-HH:MM`.
    #[error("{0:?} is not a UTC offset +HH:MM or -HH:MM (e.g. \"-06:00\")")]
    UtcOffset(String),
}

/// The data directory is below its free-space reserve, or its free space is unknown: no
/// exchange is served that might not be recorded.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DiskError {
    /// Less than `server.min_free_mb` is free.
    #[error("storage.disk_full: the data directory {} has {free_kib} KiB free, below the reserve of {reserve_kib} KiB (server.min_free_mb); exchanges are refused until space is freed", dir.display())]
    Full {
        /// The data directory.
        dir: PathBuf,
        /// KiB free.
        free_kib: u64,
        /// KiB to keep free.
        reserve_kib: u64,
    },
    /// The free space cannot be read.
    #[error("storage.unavailable: the free space of the data directory {} cannot be read ({reason}); exchanges are refused", dir.display())]
    Unreadable {
        /// The data directory.
        dir: PathBuf,
        /// The system's error.
        reason: String,
    },
}

impl From<DiskError> for ExchangeError {
    fn from(e: DiskError) -> Self {
        Self::unavailable(e.to_string())
    }
}

/// Why the node's TLS material could not be put to use.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The verifier of callers' certificates (own and peers' CAs, CRLs).
    #[error("{0}")]
    Verifier(String),
    /// The server configuration (certificate and key).
    #[error("{0}")]
    Server(String),
    /// The channel to one peer.
    #[error("peer {country}: {reason}")]
    PeerChannel {
        /// The peer.
        country: puente_pki::CountryCode,
        /// Why.
        reason: String,
    },
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(String),
}

/// Why own flow counts could not be aggregated from the records.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// Reading the records failed.
    #[error(transparent)]
    Records(#[from] puente_records::RecordsError),
    /// Writing the statistics store failed.
    #[error(transparent)]
    Stats(#[from] puente_stats::error::StatsError),
}

/// Why a page of flow counts a peer sent is refused (nothing of it is stored).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The page names no next watermark, or one too long.
    #[error("the next watermark is missing or too long")]
    Watermark,
    /// A cell does not parse.
    #[error("cell {index}: {source}")]
    Cell {
        /// 1-based position in the page.
        index: usize,
        /// Why.
        #[source]
        source: puente_stats::error::StatsError,
    },
    /// A cell says another country reported it.
    #[error("cell {index}: reported by {reported:?}, not by {peer}")]
    OtherReporter {
        /// 1-based position in the page.
        index: usize,
        /// The country the cell names.
        reported: String,
        /// The peer that sent it.
        peer: puente_pki::CountryCode,
    },
    /// Versions must ascend through a page.
    #[error("cell {index}: versions are not ascending")]
    NotAscending {
        /// 1-based position in the page.
        index: usize,
    },
    /// A count below the agreement's threshold was disclosed.
    #[error("cell {index}: a count below the small-cell threshold ({threshold}) was disclosed")]
    SmallCell {
        /// 1-based position in the page.
        index: usize,
        /// The threshold that applies: the agreement's, or the page's if higher.
        threshold: u32,
    },
    /// A page says more pages follow but brings nothing new.
    #[error("the page says more follow but {why}")]
    NoProgress {
        /// What did not advance.
        why: &'static str,
    },
    /// More cells than were asked for.
    #[error("{got} cells in a page of at most {asked}")]
    TooManyCells {
        /// Cells sent.
        got: usize,
        /// The page size asked.
        asked: u32,
    },
    /// The page names an agreement other than the one in force here.
    #[error("the page names agreement {got:?}; the one in force here is {expected:?}")]
    Agreement {
        /// What the page said.
        got: String,
        /// This node's copy.
        expected: String,
    },
    /// A cell of a period that begins more than a month from now.
    #[error("cell {index}: period {period} begins more than a month from today")]
    FuturePeriod {
        /// 1-based position in the page.
        index: usize,
        /// The cell's period.
        period: String,
    },
}

/// Why a peer did not cosign this node's checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The country is not a peer of this node.
    #[error("{0} is not a peer")]
    NotAPeer(puente_pki::CountryCode),
    /// The peer's key is not in the trust bundle.
    #[error("{0} is not trusted")]
    Untrusted(puente_pki::CountryCode),
    /// This node has signed no checkpoint yet.
    #[error("nothing to witness yet")]
    NothingYet,
    /// This node's own log could not be read or written.
    #[error(transparent)]
    Audit(#[from] puente_audit::error::AuditError),
    /// The cosignature is not by the peer's key over the checkpoint sent.
    #[error("witness.bad_cosignature: {peer}'s answer for size {size}: {source}")]
    BadCosignature {
        /// The witness.
        peer: puente_pki::CountryCode,
        /// The size asked for.
        size: u64,
        /// Why it does not verify.
        #[source]
        source: puente_audit::error::AuditError,
    },
    /// The answer is about another size than the one asked.
    #[error("witness.wrong_size: {peer} says it witnessed size {said}, but was asked to cosign size {asked}")]
    WrongSize {
        /// The witness.
        peer: puente_pki::CountryCode,
        /// The size it named.
        said: u64,
        /// The size asked for.
        asked: u64,
    },
    /// The receipt with the cosignature does not hold.
    #[error(transparent)]
    Receipt(#[from] crate::ask::receipt::ReceiptProblem),
    /// The peer refused or could not be reached (its status, as text).
    #[error("{0}")]
    Peer(String),
    /// The peer refused the previous size twice.
    #[error("{0} kept refusing the previous size")]
    KeptRefusing(puente_pki::CountryCode),
    /// The answer cosigns, but not as a witness that logged it now would.
    #[error("witness.implausible: {peer}'s cosignature of size {size}: {why}")]
    Implausible {
        /// The witness.
        peer: puente_pki::CountryCode,
        /// The size it cosigned.
        size: u64,
        /// What is wrong.
        why: String,
    },
}

/// Why a backup could not be taken or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The archive is not an intact Puente backup (truncated, altered, not one at all).
    #[error("backup {origin} is refused: {problem}")]
    Damaged {
        /// The archive's file.
        origin: String,
        /// What is wrong, and where in it.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The file or directory.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The restore would not give a working node, or would overwrite something.
    #[error("restore refused: {0}")]
    Refused(String),
    /// The store or the audit log could not be read or rebuilt.
    #[error("{0}")]
    Store(String),
}

impl From<BackupError> for tonic::Status {
    fn from(e: BackupError) -> Self {
        tonic::Status::internal(format!("backup: {e}"))
    }
}
