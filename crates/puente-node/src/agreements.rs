//! The agreements a node enforces: every `*.toml` in its agreements directory, parsed and
//! verified against the parties' keys (its own signing key, peers' keys from the trust
//! bundle), plus the last good copies it kept ([`memory`]). Only agreements that verify
//! are enforced, and of each id only the version that applies now
//! ([`puente_policy::agreement::current_versions`]): an older copy never wins, whatever
//! its file is called. A file that does not verify is reported as an error, and the node
//! keeps enforcing the last good version of that id it had. The set is swapped
//! atomically on reload, so calls in flight finish under the set they started with and no
//! connection is dropped.

pub mod memory;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use puente_pki::trust::TrustBundle;
use puente_pki::{CountryCode, VerifyingKey};
use puente_policy::agreement::current_versions;
use puente_policy::Agreement;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use memory::{Kept, Memory};

/// One agreement file (or kept copy) and what became of it.
#[derive(Clone, Debug)]
pub struct LoadedAgreement {
    /// The file (for a kept copy: the file it came from).
    pub file: PathBuf,
    /// The agreement, when it parsed.
    pub agreement: Option<Agreement>,
    /// Why it is not enforced (`None`: it verified).
    pub refused: Option<String>,
    /// The file is broken (unreadable, malformed, a signature missing or not verifying,
    /// two texts under one version): an error for the operator, not a mere note.
    pub broken: bool,
    /// A verified copy the node kept from an earlier load; the file no longer holds it.
    pub kept: bool,
}

/// The agreements of one load.
#[derive(Clone, Debug, Default)]
pub struct AgreementSet {
    /// Every file in name order, then the kept copies still in use.
    pub files: Vec<LoadedAgreement>,
    /// Every verified copy this node is a party to, several versions of one id included;
    /// [`AgreementSet::enforced`] says which applies (evaluation picks the same way).
    pub verified: Vec<Agreement>,
    fingerprint: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

enum Read {
    Unparsed(String),
    Parsed(Agreement, Option<String>, bool),
}
impl AgreementSet {
    /// Loads and verifies every agreement in `dir`, with no kept copies (`node check`).
    pub fn load(dir: &Path, own: CountryCode, own_key: &VerifyingKey, trust: &TrustBundle) -> Self {
        Self::load_with(
            dir,
            own,
            own_key,
            trust,
            &mut Memory::volatile(),
            OffsetDateTime::now_utc(),
        )
    }

    /// Loads and verifies every agreement in `dir`, falling back on the copies in
    /// `memory` for an id whose installed file is broken, and updates `memory`; `now`
    /// says which version the messages name as enforced.
    pub fn load_with(
        dir: &Path,
        own: CountryCode,
        own_key: &VerifyingKey,
        trust: &TrustBundle,
        memory: &mut Memory,
        now: OffsetDateTime,
    ) -> Self {
        let key_of = |c: CountryCode| {
            if c == own {
                Some(own_key.clone())
            } else {
                trust.peer(c).map(|p| p.signing_key.clone())
            }
        };
        let fingerprint = fingerprint(dir);
        let mut set = Self {
            fingerprint: fingerprint.clone(),
            ..Self::default()
        };
        for (file, _, _) in &fingerprint {
            let origin = file.display().to_string();
            let read = match std::fs::read_to_string(file) {
                Err(e) => Read::Unparsed(format!("{origin}: cannot read: {e}")),
                Ok(text) => match Agreement::parse(&text, &origin) {
                    Err(e) => Read::Unparsed(e.to_string()),
                    Ok(a) if !a.is_party(own) => {
                        let why = format!("agreement {}: {own} is not a party", a.id);
                        Read::Parsed(a, Some(why), false)
                    }
                    Ok(a) => {
                        let problem = a
                            .verify(key_of)
                            .err()
                            .map(|e| format!("{origin}: version {} of {e}", a.version));
                        let problem = problem.or_else(|| conflict(&set.verified, &a, &set.files));
                        let broken = problem.is_some();
                        Read::Parsed(a, problem, broken)
                    }
                },
            };
            let loaded = match read {
                Read::Unparsed(why) => LoadedAgreement {
                    file: file.clone(),
                    agreement: None,
                    refused: Some(why),
                    broken: true,
                    kept: false,
                },
                Read::Parsed(a, refused, broken) => {
                    if refused.is_none() {
                        set.verified.push(a.clone());
                    }
                    LoadedAgreement {
                        file: file.clone(),
                        agreement: Some(a),
                        refused,
                        broken,
                        kept: false,
                    }
                }
            };
            set.files.push(loaded);
        }
        set.add_kept(memory, key_of);
        set.explain_and_log(memory.persistent(), now);
        set
    }

    /// Adds the kept copies the directory still speaks of, and remembers every verified
    /// copy for next time.
    fn add_kept(
        &mut self,
        memory: &mut Memory,
        key_of: impl Fn(CountryCode) -> Option<VerifyingKey>,
    ) {
        let mut next = Kept::new();
        for ((id, version), (source, text)) in memory.kept() {
            if self
                .verified
                .iter()
                .any(|v| &v.id == id && v.version == *version)
            {
                continue;
            }
            let spoken_of = self
                .files
                .iter()
                .any(|f| f.file == *source || f.agreement.as_ref().is_some_and(|a| &a.id == id));
            if !spoken_of {
                info!(
                    id,
                    version, "agreement no longer in the directory: its kept copy is forgotten"
                );
                continue;
            }
            let Ok(a) = Agreement::parse(text, &source.display().to_string()) else {
                continue;
            };
            if a.verify(&key_of).is_err() {
                continue;
            }
            next.insert((id.clone(), *version), (source.clone(), text.clone()));
            self.verified.push(a.clone());
            self.files.push(LoadedAgreement {
                file: source.clone(),
                agreement: Some(a),
                refused: None,
                broken: false,
                kept: true,
            });
        }
        for f in self.files.iter().filter(|f| f.refused.is_none() && !f.kept) {
            if let Some(a) = &f.agreement {
                next.insert((a.id.clone(), a.version), (f.file.clone(), a.to_text()));
            }
        }
        memory.replace(next);
    }

    /// Says, on each broken file, what the node enforces instead, and logs every file:
    /// a broken one as an error.
    fn explain_and_log(&mut self, persistent: bool, now: OffsetDateTime) {
        let enforced: Vec<(String, u32, PathBuf)> = current_versions(&self.verified, now)
            .into_iter()
            .map(|a| {
                let file = self
                    .files
                    .iter()
                    .find(|f| f.refused.is_none() && f.agreement.as_ref() == Some(a))
                    .map(|f| f.file.clone())
                    .unwrap_or_default();
                (a.id.clone(), a.version, file)
            })
            .collect();
        for f in &mut self.files {
            let id = f.agreement.as_ref().map(|a| a.id.as_str()).unwrap_or("");
            let version = f.agreement.as_ref().map(|a| a.version).unwrap_or(0);
            match &mut f.refused {
                Some(reason) if f.broken => {
                    match enforced.iter().find(|(i, _, _)| i == id) {
                        Some((_, v, from)) => reason.push_str(&format!(
                            "; the node keeps enforcing version {v} of {id} (from {})",
                            from.display()
                        )),
                        None if !id.is_empty() && persistent => {
                            reason.push_str(&format!("; no version of {id} is enforced"))
                        }
                        None if !id.is_empty() => reason.push_str(&format!(
                            "; no other verified version of {id} is in this directory (a running node also keeps the last good copy it had)"
                        )),
                        None => {}
                    }
                    error!(file = %f.file.display(), "agreement file not enforced: {reason}");
                }
                Some(reason) => warn!(file = %f.file.display(), "agreement not enforced: {reason}"),
                None if f.kept => warn!(
                    file = %f.file.display(), id, version,
                    "agreement file no longer holds this verified version: the node keeps its last good copy"
                ),
                None => info!(file = %f.file.display(), id, version, "agreement verified"),
            }
        }
    }

    /// The copies that apply at `now`, one per id.
    pub fn enforced(&self, now: OffsetDateTime) -> Vec<&Agreement> {
        current_versions(&self.verified, now)
    }

    /// Files and kept copies that are broken (what the listing shows as errors).
    pub fn broken(&self) -> usize {
        self.files.iter().filter(|f| f.broken).count()
    }

    /// Whether the directory changed since this set was loaded.
    pub fn is_stale(&self, dir: &Path) -> bool {
        fingerprint(dir) != self.fingerprint
    }
}

/// A second verified text under a version an earlier file already holds.
fn conflict(verified: &[Agreement], a: &Agreement, files: &[LoadedAgreement]) -> Option<String> {
    let other = verified
        .iter()
        .find(|v| v.id == a.id && v.version == a.version && v.signed_bytes() != a.signed_bytes())?;
    let file = files
        .iter()
        .find(|f| f.refused.is_none() && f.agreement.as_ref() == Some(other))
        .map(|f| f.file.display().to_string())
        .unwrap_or_default();
    Some(format!(
        "agreement {}: version {} is already held by {file} with a different signed text; the parties must sign a higher version",
        a.id, a.version
    ))
}

fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map(|m| m.len()).unwrap_or(0);
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect();
    out.sort();
    out
}

/// The live agreement set, swapped on reload.
pub struct Agreements {
    dir: PathBuf,
    own: CountryCode,
    own_key: VerifyingKey,
    trust: ArcSwap<TrustBundle>,
    current: ArcSwap<AgreementSet>,
    /// One load at a time, so a load against an older trust bundle never lands last; it
    /// holds the last good copies.
    loading: Mutex<Memory>,
    clock: crate::state::Clock,
}

impl std::fmt::Debug for Agreements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agreements")
            .field("dir", &self.dir)
            .field("own", &self.own)
            .finish_non_exhaustive()
    }
}

impl Agreements {
    /// Loads the set for the first time, with the last good copies kept in `memory`, on
    /// the node's `clock`.
    pub fn new(
        dir: PathBuf,
        own: CountryCode,
        own_key: VerifyingKey,
        trust: TrustBundle,
        mut memory: Memory,
        clock: crate::state::Clock,
    ) -> Self {
        let set = AgreementSet::load_with(&dir, own, &own_key, &trust, &mut memory, clock());
        Self {
            dir,
            own,
            own_key,
            trust: ArcSwap::from_pointee(trust),
            current: ArcSwap::from_pointee(set),
            loading: Mutex::new(memory),
            clock,
        }
    }

    /// The current set.
    pub fn current(&self) -> Arc<AgreementSet> {
        self.current.load_full()
    }

    /// Reloads from disk (SIGHUP, or a change seen by the watcher).
    pub fn reload(&self) -> Arc<AgreementSet> {
        let mut memory = self.loading.lock().unwrap_or_else(|p| p.into_inner());
        let set = Arc::new(AgreementSet::load_with(
            &self.dir,
            self.own,
            &self.own_key,
            &self.trust.load(),
            &mut memory,
            (self.clock)(),
        ));
        info!(
            verified = set.verified.len(),
            refused = set.files.iter().filter(|f| f.refused.is_some()).count(),
            broken = set.broken(),
            "agreements reloaded"
        );
        self.current.store(set.clone());
        set
    }

    /// Verifies the agreements again against a new trust bundle (a peer's signing key
    /// added, changed or removed).
    pub fn retrust(&self, trust: TrustBundle) -> Arc<AgreementSet> {
        self.trust.store(Arc::new(trust));
        self.reload()
    }

    /// Reloads if the directory changed; returns whether it did.
    pub fn reload_if_changed(&self) -> bool {
        if self.current().is_stale(&self.dir) {
            self.reload();
            true
        } else {
            false
        }
    }
}
