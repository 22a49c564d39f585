//! The agreements a node enforces: every `*.toml` in its agreements directory, parsed and
//! verified against the parties' keys (its own signing key, peers' keys from the trust
//! bundle). Only agreements that verify are enforced; the others are kept with the reason
//! so `puente agreements` can say why. The set is swapped atomically on reload, so calls
//! in flight finish under the set they started with and no connection is dropped.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use puente_pki::trust::TrustBundle;
use puente_pki::{CountryCode, VerifyingKey};
use puente_policy::Agreement;
use tracing::{info, warn};

/// One agreement file and what became of it.
#[derive(Clone, Debug)]
pub struct LoadedAgreement {
    /// The file.
    pub file: PathBuf,
    /// The agreement, when it parsed.
    pub agreement: Option<Agreement>,
    /// Why it is not enforced (`None`: it verified).
    pub refused: Option<String>,
}

/// The agreements of one load.
#[derive(Clone, Debug, Default)]
pub struct AgreementSet {
    /// Every file, in name order.
    pub files: Vec<LoadedAgreement>,
    /// The verified agreements this node is a party to (validity windows are checked at
    /// evaluation time).
    pub verified: Vec<Agreement>,
    fingerprint: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

impl AgreementSet {
    /// Loads and verifies every agreement in `dir`.
    pub fn load(dir: &Path, own: CountryCode, own_key: &VerifyingKey, trust: &TrustBundle) -> Self {
        let fingerprint = fingerprint(dir);
        let mut set = Self {
            fingerprint: fingerprint.clone(),
            ..Self::default()
        };
        for (file, _, _) in fingerprint {
            let origin = file.display().to_string();
            let loaded = match std::fs::read_to_string(&file) {
                Err(e) => LoadedAgreement {
                    file,
                    agreement: None,
                    refused: Some(format!("{origin}: cannot read: {e}")),
                },
                Ok(text) => match Agreement::parse(&text, &origin) {
                    Err(e) => LoadedAgreement {
                        file,
                        agreement: None,
                        refused: Some(e.to_string()),
                    },
                    Ok(a) => {
                        let refused = if !a.is_party(own) {
                            Some(format!("agreement {}: {own} is not a party", a.id))
                        } else if set.verified.iter().any(|v| v.id == a.id) {
                            Some(format!(
                                "agreement {}: another file already holds this id",
                                a.id
                            ))
                        } else {
                            a.verify(|c| {
                                if c == own {
                                    Some(own_key.clone())
                                } else {
                                    trust.peer(c).map(|p| p.signing_key.clone())
                                }
                            })
                            .err()
                            .map(|e| e.to_string())
                        };
                        if refused.is_none() {
                            set.verified.push(a.clone());
                        }
                        LoadedAgreement {
                            file,
                            agreement: Some(a),
                            refused,
                        }
                    }
                },
            };
            match &loaded.refused {
                Some(reason) => {
                    warn!(file = %loaded.file.display(), "agreement not enforced: {reason}")
                }
                None => info!(
                    file = %loaded.file.display(),
                    id = loaded.agreement.as_ref().map(|a| a.id.as_str()).unwrap_or(""),
                    "agreement verified"
                ),
            }
            set.files.push(loaded);
        }
        set
    }

    /// Whether the directory changed since this set was loaded.
    pub fn is_stale(&self, dir: &Path) -> bool {
        fingerprint(dir) != self.fingerprint
    }
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
#[derive(Debug)]
pub struct Agreements {
    dir: PathBuf,
    own: CountryCode,
    own_key: VerifyingKey,
    trust: ArcSwap<TrustBundle>,
    current: ArcSwap<AgreementSet>,
    /// One load at a time, so a load against an older trust bundle never lands last.
    loading: Mutex<()>,
}

impl Agreements {
    /// Loads the set for the first time.
    pub fn new(dir: PathBuf, own: CountryCode, own_key: VerifyingKey, trust: TrustBundle) -> Self {
        let set = AgreementSet::load(&dir, own, &own_key, &trust);
        Self {
            dir,
            own,
            own_key,
            trust: ArcSwap::from_pointee(trust),
            current: ArcSwap::from_pointee(set),
            loading: Mutex::new(()),
        }
    }

    /// The current set.
    pub fn current(&self) -> Arc<AgreementSet> {
        self.current.load_full()
    }

    /// Reloads from disk (SIGHUP, or a change seen by the watcher).
    pub fn reload(&self) -> Arc<AgreementSet> {
        let _one = self.loading.lock().unwrap_or_else(|p| p.into_inner());
        let set = Arc::new(AgreementSet::load(
            &self.dir,
            self.own,
            &self.own_key,
            &self.trust.load(),
        ));
        info!(
            verified = set.verified.len(),
            refused = set.files.iter().filter(|f| f.refused.is_some()).count(),
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
