//! A real `puente node run` for tests of the binary: started on port 0, its addresses read
//! from its JSON log.

use std::path::Path;
use std::process::Command;

use super::{p, puente, text};

/// `puente init` of MEX in `dir` for [`LoggedNode`]: port 0 for the node and its
/// metrics, and a placeholder advertised until the node says where it listens. Returns
/// the config's path.
pub fn init_on_port_zero(dir: &Path) -> std::path::PathBuf {
    let out = puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(dir),
        "--listen",
        "127.0.0.1:0",
        "--advertise",
        "127.0.0.1:1",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    dir.join("puente.toml")
}

/// A `puente node run` whose config listens on port 0 for the node and its metrics and
/// advertises the placeholder `127.0.0.1:1`: the addresses it got are read from its JSON
/// log, and the config then advertises the real one (the officer's CLI dials it).
pub struct LoggedNode {
    /// The node's process.
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
    /// What it logged until it was serving.
    pub log: String,
    /// The node's address, as logged.
    pub addr: String,
    /// Its metrics listener's address, as logged.
    pub metrics_addr: String,
}

impl LoggedNode {
    /// Starts the node of `config` and waits until it serves.
    pub fn start(config: &Path) -> Self {
        use std::io::BufRead;
        use std::time::{Duration, Instant};
        // JSON logs, read line by line as they come.
        let mut child = Command::new(env!("CARGO_BIN_EXE_puente"))
            .args(["--log-format", "json", "node", "run", "--config", p(config)])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = lines_tx.send(line);
            }
        });
        let mut log = String::new();
        let (mut node_addr, mut metrics_addr) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while node_addr.is_none() || metrics_addr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("node did not start ({e}): {log}"));
            let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let fields = &json["fields"];
            let message = fields["message"].as_str().unwrap_or_default();
            if message == "node serving" {
                // `Some(127.0.0.1:PORT)`
                let addr = fields["addr"].as_str().unwrap();
                node_addr = Some(
                    addr.trim_start_matches("Some(")
                        .trim_end_matches(')')
                        .to_string(),
                );
            } else if message.starts_with("metrics at http://") {
                metrics_addr = Some(fields["addr"].as_str().unwrap().to_string());
            }
            log.push_str(&line);
            log.push('\n');
        }
        let (addr, metrics_addr) = (node_addr.unwrap(), metrics_addr.unwrap());
        let toml = std::fs::read_to_string(config).unwrap();
        assert!(toml.contains("advertise = \"127.0.0.1:1\""), "{toml}");
        std::fs::write(
            config,
            toml.replace(
                "advertise = \"127.0.0.1:1\"",
                &format!("advertise = \"{addr}\""),
            ),
        )
        .unwrap();
        Self {
            child,
            lines,
            reader,
            log,
            addr,
            metrics_addr,
        }
    }

    /// The whole log, once the node has exited.
    pub fn rest_of_log(self) -> String {
        let Self {
            lines,
            reader,
            mut log,
            ..
        } = self;
        reader.join().unwrap();
        for line in lines.try_iter() {
            log.push_str(&line);
            log.push('\n');
        }
        log
    }
}
