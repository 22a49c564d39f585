//! Reading a configuration file, resolving its relative paths against its directory, and
//! validating all of it before anything binds a port: every problem reported at once,
//! each with its key path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use puente_pki::{CountryCode, SigningKey};

use super::*;
use crate::error::{ConfigError, ConfigProblem};

impl NodeConfig {
    /// Parses TOML text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads, validates and loads the configuration at `path`.
    pub fn load(path: &Path) -> Result<LoadedNode, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base).validate(path)
    }

    /// Makes every relative path absolute against `base`.
    pub fn resolve(mut self, base: &Path) -> Self {
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut self.node.data_dir);
        abs(&mut self.tls.ca);
        abs(&mut self.tls.cert);
        abs(&mut self.tls.key);
        if let Some(p) = self.tls.crl.as_mut() {
            abs(p);
        }
        abs(&mut self.signing.key);
        abs(&mut self.trust.file);
        abs(&mut self.agreements.dir);
        abs(&mut self.records.data_key);
        if let Some(p) = self.records.inbox.as_mut() {
            abs(p);
        }
        for p in [
            &mut self.client.operator_cert,
            &mut self.client.operator_key,
            &mut self.client.auditor_cert,
            &mut self.client.auditor_key,
        ]
        .into_iter()
        .flatten()
        {
            abs(p);
        }
        self
    }

    /// Checks everything and loads the material; `path` names the file in errors.
    pub fn validate(self, path: &Path) -> Result<LoadedNode, ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };

        let country = CountryCode::parse(&self.node.country)
            .map_err(|e| problem("node.country", e.to_string()))
            .ok();
        if let Err(e) = puente_pki::identity::validate_name(&self.node.name) {
            problem("node.name", e.to_string());
        }
        let listen = self
            .node
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| {
                problem(
                    "node.listen",
                    format!("{:?} is not ip:port: {e}", self.node.listen),
                )
            })
            .ok();
        let advertise = self
            .node
            .advertise
            .clone()
            .unwrap_or_else(|| self.node.listen.clone());
        if let Err(e) = puente_pki::trust::validate_address(&advertise) {
            problem("node.advertise", e);
        }
        let metrics_listen = if self.metrics.enabled {
            match self.metrics.listen.parse::<SocketAddr>() {
                Ok(addr) if Some(addr) == listen && addr.port() != 0 => {
                    problem(
                        "metrics.listen",
                        format!("{addr} is node.listen too; give metrics a port of their own"),
                    );
                    None
                }
                Ok(addr) => Some(addr),
                Err(e) => {
                    problem(
                        "metrics.listen",
                        format!(
                            "{:?} is not ip:port (e.g. {DEFAULT_METRICS_LISTEN}): {e}",
                            self.metrics.listen
                        ),
                    );
                    None
                }
            }
        } else {
            None
        };
        if self.server.handshake_timeout_secs == 0 {
            problem("server.handshake_timeout_secs", "must be at least 1".into());
        }
        if self.server.max_pending_handshakes == 0 {
            problem("server.max_pending_handshakes", "must be at least 1".into());
        }
        if self.server.witness_interval_secs == 0 {
            problem("server.witness_interval_secs", "must be at least 1".into());
        }
        if self.server.reload_interval_secs == 0 {
            problem("server.reload_interval_secs", "must be at least 1".into());
        }
        if let Err(e) = self.stats.sync_time() {
            problem("stats.sync_at", e.to_string());
        }
        if let Err(e) = self.stats.offset() {
            problem("stats.utc_offset", e.to_string());
        }
        if !(1..=10_000).contains(&self.stats.page_size) {
            problem("stats.page_size", "must be between 1 and 10000".into());
        }
        if !(1..=1_000_000).contains(&self.stats.max_pages) {
            problem("stats.max_pages", "must be between 1 and 1000000".into());
        }
        if self.stats.jitter_minutes > 720 {
            problem(
                "stats.jitter_minutes",
                "must be at most 720 (12 hours)".into(),
            );
        }
        if self.stats.retry_initial_secs == 0 {
            problem("stats.retry_initial_secs", "must be at least 1".into());
        }
        if self.stats.retry_max_secs < self.stats.retry_initial_secs {
            problem(
                "stats.retry_max_secs",
                "must be at least stats.retry_initial_secs".into(),
            );
        }
        if !(1..=3650).contains(&self.manifests.retention_days) {
            problem(
                "manifests.retention_days",
                "must be between 1 and 3650 days".into(),
            );
        }
        if self.alerts.retry_secs == 0 {
            problem("alerts.retry_secs", "must be at least 1".into());
        }
        if !(1..=8760).contains(&self.alerts.default_expiry_hours) {
            problem(
                "alerts.default_expiry_hours",
                "must be between 1 and 8760".into(),
            );
        }
        if !(1..=52).contains(&self.alerts.baseline_weeks) {
            problem("alerts.baseline_weeks", "must be between 1 and 52".into());
        }
        if !(self.alerts.surge_ratio > 1.0 && self.alerts.surge_ratio.is_finite()) {
            problem("alerts.surge_ratio", "must be a number above 1".into());
        }
        if !(self.alerts.z_score >= 0.0 && self.alerts.z_score.is_finite()) {
            problem("alerts.z_score", "must be 0 or more".into());
        }
        if self.stats.tick_ms == 0 || self.stats.tick_ms > 60_000 {
            problem("stats.tick_ms", "must be between 1 and 60000".into());
        }
        if !self.agreements.dir.is_dir() {
            problem(
                "agreements.dir",
                format!("{} is not a directory", self.agreements.dir.display()),
            );
        }
        if let Some(inbox) = &self.records.inbox {
            if !inbox.is_dir() {
                problem(
                    "records.inbox",
                    format!("{} is not a directory", inbox.display()),
                );
            }
        }
        if !(50..=3_600_000).contains(&self.records.inbox_poll_ms) {
            problem(
                "records.inbox_poll_ms",
                format!("{} is outside 50-3600000", self.records.inbox_poll_ms),
            );
        }
        if self.records.reference_ttl_minutes == 0 {
            problem("records.reference_ttl_minutes", "must be at least 1".into());
        }
        if !(0.5..=1.0).contains(&self.records.match_threshold) {
            problem(
                "records.match_threshold",
                format!("{} is outside 0.5-1.0", self.records.match_threshold),
            );
        }
        let data_key = puente_records::DataKey::load(&self.records.data_key)
            .map_err(|e| {
                problem(
                    "records.data_key",
                    format!(
                        "{e}; `puente init` creates one, or `puente records keygen --out FILE`"
                    ),
                )
            })
            .ok();
        if self.server.peer_timeout_secs == 0 {
            problem("server.peer_timeout_secs", "must be at least 1".into());
        }
        if self.server.document_timeout_secs < self.server.peer_timeout_secs {
            problem(
                "server.document_timeout_secs",
                format!(
                    "{} is below server.peer_timeout_secs ({}); a transfer needs at least one call's time",
                    self.server.document_timeout_secs, self.server.peer_timeout_secs
                ),
            );
        }
        if !(1..=100_000).contains(&self.server.peer_rate_per_sec) {
            problem(
                "server.peer_rate_per_sec",
                format!("{} is outside 1-100000", self.server.peer_rate_per_sec),
            );
        }
        if !(1..=1_000_000).contains(&self.server.peer_burst) {
            problem(
                "server.peer_burst",
                format!("{} is outside 1-1000000", self.server.peer_burst),
            );
        }
        for (key, value, max) in [
            (
                "server.witness_per_minute",
                self.server.witness_per_minute,
                1_000_000,
            ),
            ("server.witness_burst", self.server.witness_burst, 1_000_000),
            (
                "server.witness_evidence_per_peer",
                self.server.witness_evidence_per_peer,
                10_000,
            ),
        ] {
            if !(1..=max).contains(&value) {
                problem(key, format!("{value} is outside 1-{max}"));
            }
        }
        if !(1..=10_000).contains(&self.server.max_concurrent_streams) {
            problem(
                "server.max_concurrent_streams",
                format!("{} is outside 1-10000", self.server.max_concurrent_streams),
            );
        }

        let material = match self.load_material() {
            Ok(m) => Some(m),
            Err(found) => {
                for p in found {
                    problem(&p.key, p.message);
                }
                None
            }
        };
        let signing = SigningKey::load(&self.signing.key)
            .map_err(|e| problem("signing.key", e.to_string()))
            .ok();
        for (key, p) in [
            ("client.operator_cert", &self.client.operator_cert),
            ("client.operator_key", &self.client.operator_key),
            ("client.auditor_cert", &self.client.auditor_cert),
            ("client.auditor_key", &self.client.auditor_key),
        ] {
            if let Some(p) = p {
                if !p.exists() {
                    problem(key, format!("{} does not exist", p.display()));
                }
            }
        }

        match (listen, material, signing, country, data_key) {
            (Some(listen), Some(material), Some(signing), Some(_), Some(data_key))
                if problems.is_empty() =>
            {
                Ok(LoadedNode {
                    path: path.to_path_buf(),
                    identity: material.identity,
                    listen,
                    advertise,
                    metrics_listen,
                    tls: material.tls,
                    cert_info: material.cert_info,
                    own_anchor: material.own_anchor,
                    trust: material.trust,
                    signing: std::sync::Arc::new(signing),
                    data_key: std::sync::Arc::new(data_key),
                    config: self,
                })
            }
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            }),
        }
    }
}
