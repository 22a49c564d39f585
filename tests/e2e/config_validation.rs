//! A configuration is validated completely before anything binds a port, and every
//! problem is reported with its key path and the file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::Federation;
use puente_node::{ConfigError, NodeConfig};

fn problems(path: &std::path::Path) -> String {
    match NodeConfig::load(path) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test]
async fn init_writes_a_config_that_validates() {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    let node = fed.country("MEX").load();
    assert_eq!(node.identity.urn(), "urn:puente:MEX:node:mex-1");
    assert_eq!(node.trust.peers.len(), 1);
}

#[tokio::test]
async fn every_problem_is_named_with_its_key() {
    let fed = Federation::new(&["MEX"]).await;
    let config = &fed.country("MEX").config;
    edit(config, "country = \"MEX\"", "country = \"XXA\"");
    edit(config, "listen = \"127.0.0.1", "listen = \"nowhere");
    edit(
        config,
        "key = \"pki/node-mex-1.key\"",
        "key = \"pki/missing.key\"",
    );
    let text = problems(config);
    assert!(text.contains(&config.display().to_string()), "{text}");
    assert!(
        text.contains("node.country") && text.contains("ICAO"),
        "{text}"
    );
    assert!(text.contains("node.listen"), "{text}");
    assert!(
        text.contains("tls.key") && text.contains("missing.key"),
        "{text}"
    );
    // The cert names MEX, the config now says XXA: the mismatch is reported too.
    assert!(text.contains("tls.cert"), "{text}");
}

#[tokio::test]
async fn a_certificate_of_another_node_is_refused() {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    let config = &fed.country("MEX").config;
    edit(
        config,
        "cert = \"pki/node-mex-1.pem\"",
        "cert = \"pki/operator-officer.pem\"",
    );
    let text = problems(config);
    assert!(
        text.contains("tls.cert") && text.contains("urn:puente:MEX:operator:officer"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_keys_and_bad_toml_are_parse_errors_with_a_line() {
    let fed = Federation::new(&["MEX"]).await;
    let config = &fed.country("MEX").config;
    edit(config, "[server]", "[server]\nhandshake_timout_secs = 3");
    match NodeConfig::load(config) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(message.contains("handshake_timout_secs"), "{message}");
            assert!(message.contains("line"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tampered_trust_file_is_refused_with_the_peer_entry() {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    let trust = fed.country("MEX").dir.join("trust.toml");
    // Flip one character inside GTM's signing key.
    let text = std::fs::read_to_string(&trust).unwrap();
    let start = text.find("signing_key = \"").unwrap() + "signing_key = \"gtm-2026+".len() + 10;
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    std::fs::write(&trust, bytes).unwrap();
    let text = problems(&fed.country("MEX").config);
    assert!(
        text.contains("trust.file") && text.contains("peer[0]"),
        "{text}"
    );
}

#[tokio::test]
async fn own_country_in_the_trust_file_is_refused() {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    let gtm_trust = std::fs::read_to_string(fed.country("GTM").dir.join("trust.toml")).unwrap();
    // Give MEX a trust file that lists MEX (taken from GTM's).
    std::fs::write(fed.country("MEX").dir.join("trust.toml"), gtm_trust).unwrap();
    let text = problems(&fed.country("MEX").config);
    assert!(text.contains("own country MEX"), "{text}");
}

#[test]
fn the_example_configs_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for name in ["mex", "gtm", "cri"] {
        let path = root.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let config = NodeConfig::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.node.country, name.to_uppercase());
        let trust = root.join("trust").join(format!("{name}.toml"));
        let bundle = puente_pki::trust::TrustBundle::load(&trust).unwrap();
        assert!(bundle.peers.is_empty());
    }
}
