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
    Tls(String),
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
