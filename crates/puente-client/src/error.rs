//! Errors of the client side: a profile that cannot be used, a node that cannot be
//! dialled, a call the node refused. Each names the file, key or node concerned.

use std::path::PathBuf;

/// One problem of a profile, by its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileProblem {
    /// The key in `puente-client.toml` (e.g. `cert`).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

/// Why a client profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No file at the path given.
    #[error("{}: no such client profile; an administrator makes one on the node's host with `puente client init --config DIR/puente.toml --role operator|auditor --name NAME --out PROFILE_DIR`, and you copy PROFILE_DIR here", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("reading the client profile {}: {source}", path.display())]
    Read {
        /// The profile.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a profile (not TOML, unknown or missing keys).
    #[error("{} is not a usable client profile: {reason}", path.display())]
    Garbled {
        /// The profile.
        path: PathBuf,
        /// The parser's words, with line and column.
        reason: String,
    },
    /// The file parsed, but what it says does not hold together.
    #[error("{} has {} problem(s):{}", path.display(), problems.len(), problems.iter().map(|p| format!("\n  {}: {}", p.key, p.message)).collect::<String>())]
    Invalid {
        /// The profile.
        path: PathBuf,
        /// Every problem found, by key.
        problems: Vec<ProfileProblem>,
    },
    /// Writing a new profile failed.
    #[error("writing the client profile in {}: {reason}", dir.display())]
    Write {
        /// The profile's directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A channel to a node could not be set up (before any call was made).
#[derive(Debug, thiserror::Error)]
#[error("{node}: {reason}")]
pub struct ConnectError {
    /// The node, as [`crate::NodeClient::describe`] words it.
    pub node: String,
    /// Why.
    pub reason: String,
}

/// A call that failed: refused by the node, or the node could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("{text}{hint}")]
pub struct CallError {
    /// The gRPC code.
    pub code: tonic::Code,
    /// The status as [`crate::status::status_text`] renders it.
    pub text: String,
    /// What to do about it, starting with a space, or empty.
    pub hint: String,
}

impl CallError {
    /// Whether the node judged the request itself bad (a flag to fix, not a failure).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self.code,
            tonic::Code::InvalidArgument | tonic::Code::NotFound
        )
    }
}
