//! Lifecycle of a running node: health turns NOT_SERVING before the drain closes the
//! listener; a node certificate rotated on disk, CRLs and trust bundle changed on disk
//! take effect for new connections without a restart, old connections keep going unless
//! the certificate that opened them is revoked, expired or no longer trusted; a
//! broken reload changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use puente_e2e::{Federation, TestNode};
use puente_node::client::channel_with_config;
use puente_node::lifecycle::Reload;
use puente_node::server::SERVICE_NAMES;
use puente_pki::inspect;
use puente_pki::tls::{self, CountryAnchor, PeerServerVerifier, TlsIdentity};
use puente_pki::{IssueOptions, Role};
use puente_proto::v1::local_client::LocalClient;
use puente_proto::v1::ListPeersRequest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use time::OffsetDateTime;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Verifies a server as a node does and records the serial of every certificate it was
/// shown: one entry per full handshake.
#[derive(Debug)]
struct Recording {
    inner: PeerServerVerifier,
    serials: Arc<Mutex<Vec<String>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let info = inspect::inspect(end_entity, Path::new("server certificate")).unwrap();
        self.serials.lock().unwrap().push(info.serial);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A channel to `addr` presenting `identity`, expecting a node of `anchor.country`, with
/// the serials of the server certificates its handshakes saw. A fresh client
/// configuration each time, so no session is resumed.
pub(crate) fn recording_channel(
    addr: &str,
    identity: &TlsIdentity,
    anchor: &CountryAnchor,
) -> (Channel, Arc<Mutex<Vec<String>>>) {
    let serials = Arc::new(Mutex::new(Vec::new()));
    let verifier = Recording {
        inner: PeerServerVerifier::new(anchor).unwrap(),
        serials: serials.clone(),
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let ch = channel_with_config(
        addr,
        Arc::new(cfg),
        tls::peer_server_name(anchor.country),
        Duration::from_secs(5),
        Some(Duration::from_secs(20)),
    )
    .unwrap();
    (ch.channel, serials)
}

async fn list_peers(
    ch: Channel,
    check: bool,
) -> Result<puente_proto::v1::ListPeersResponse, tonic::Status> {
    LocalClient::new(ch)
        .list_peers(ListPeersRequest {
            check_reachability: check,
        })
        .await
        .map(|r| r.into_inner())
}

async fn health(ch: Channel) -> Result<i32, tonic::Status> {
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status)
}

pub(crate) fn serial_of(cert: &Path) -> String {
    let der = puente_pki::files::load_certs(cert).unwrap().remove(0);
    inspect::inspect(&der, cert).unwrap().serial
}

pub(crate) fn set_reload_interval(fed: &Federation, code: &str, secs: u64) {
    let config = &fed.country(code).config;
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains("reload_interval_secs = 5"), "{text}");
    std::fs::write(
        config,
        text.replace(
            "reload_interval_secs = 5",
            &format!("reload_interval_secs = {secs}"),
        ),
    )
    .unwrap();
}

/// Moves `pki/<stem>.pem` and `.key` aside (as `<stem>.<suffix>.pem`/`.key`), so the CA
/// can issue `<stem>` again; returns the moved paths.
fn move_aside(pki: &Path, stem: &str, suffix: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = pki.join(format!("{stem}.{suffix}.pem"));
    let key = pki.join(format!("{stem}.{suffix}.key"));
    std::fs::rename(pki.join(format!("{stem}.pem")), &cert).unwrap();
    std::fs::rename(pki.join(format!("{stem}.key")), &key).unwrap();
    (cert, key)
}

fn days(from: i64, to: i64) -> IssueOptions {
    let now = OffsetDateTime::now_utc();
    IssueOptions {
        not_before: now + time::Duration::days(from),
        not_after: now + time::Duration::days(to),
        hosts: vec![],
    }
}

pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn health_turns_not_serving_before_the_drain_closes_the_listener() {
    let mut fed = Federation::new(&["MEX"]).await;
    let mut mex = fed.start("MEX").await;
    let officer = fed.country("MEX").identity("operator-officer");
    let ch = fed.channel("MEX", &officer);

    let mut streams = Vec::new();
    for name in std::iter::once("").chain(SERVICE_NAMES) {
        let mut stream = HealthClient::new(ch.clone())
            .watch(HealthCheckRequest {
                service: name.to_string(),
            })
            .await
            .expect("watch")
            .into_inner();
        let first = stream.message().await.expect("first status").expect("open");
        assert_eq!(first.status, ServingStatus::Serving as i32, "{name:?}");
        streams.push((name, stream));
    }

    mex.begin_shutdown();
    for (name, stream) in &mut streams {
        let next = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("a status change during the drain")
            .expect("stream still open while draining")
            .expect("a message");
        assert_eq!(next.status, ServingStatus::NotServing as i32, "{name:?}");
    }
    drop(streams);
    mex.stop().await;

    // Only now is the listener gone.
    let fresh = fed.channel("MEX", &officer);
    assert!(health(fresh).await.is_err(), "a stopped node still answers");
}

#[tokio::test]
async fn a_rotated_node_certificate_serves_new_connections_and_dials_peers() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let mex_addr = mex.addr.to_string();
    let pki = fed.country("MEX").pki();
    let officer = fed.country("MEX").identity("operator-officer");
    let anchor = fed.country("MEX").anchor();
    let old_serial = serial_of(&pki.join("node-mex-1.pem"));

    let (old_ch, old_seen) = recording_channel(&mex_addr, &officer, &anchor);
    let peers = list_peers(old_ch.clone(), true)
        .await
        .expect("before rotation");
    assert!(peers.peers[0].reachable, "{:?}", peers.peers[0]);
    assert_eq!(*old_seen.lock().unwrap(), vec![old_serial.clone()]);

    // The CA issues a new certificate and key, written over tls.cert / tls.key.
    let (old_cert, _) = move_aside(&pki, "node-mex-1", "old");
    let issued = fed
        .country("MEX")
        .ca()
        .issue(Role::Node, "mex-1", &days(0, 200))
        .unwrap();
    assert_ne!(issued.serial, old_serial);
    let report = mex.state.reload();
    assert!(report.is_ok(), "{report}");
    assert_eq!(mex.state.material().loaded.cert_info.serial, issued.serial);

    // New connections are served with the new certificate …
    let (new_ch, new_seen) = recording_channel(&mex_addr, &officer, &anchor);
    list_peers(new_ch, false).await.expect("after rotation");
    assert_eq!(*new_seen.lock().unwrap(), vec![issued.serial.clone()]);
    // … while the connection opened before keeps going, without a new handshake.
    list_peers(old_ch, false)
        .await
        .expect("old connection after rotation");
    assert_eq!(*old_seen.lock().unwrap(), vec![old_serial.clone()]);

    // MEX dials peers with the new certificate too: once GTM learns that the old one is
    // revoked (MEX's new CRL, in GTM's trust file), MEX still reaches GTM.
    fed.country("MEX")
        .ca()
        .revoke_file(&old_cert, "superseded", OffsetDateTime::now_utc())
        .unwrap();
    fed.trust("GTM", "MEX");
    let report = gtm.state.reload();
    assert!(report.is_ok(), "{report}");
    assert!(
        matches!(&report.material, Reload::Reloaded(what) if what.contains("peer MEX changed (CRL)")),
        "{report}"
    );
    let (ch, _) = recording_channel(&mex_addr, &officer, &anchor);
    let peers = list_peers(ch, true).await.expect("list peers");
    assert!(peers.peers[0].reachable, "{:?}", peers.peers[0]);
    // The old certificate is indeed refused by GTM now.
    let old_identity = TlsIdentity {
        chain: puente_pki::files::load_certs(&old_cert).unwrap(),
        key: puente_pki::files::load_private_key(&pki.join("node-mex-1.old.key")).unwrap(),
    };
    assert!(health(fed.channel("GTM", &old_identity)).await.is_err());
    gtm.expect_refusal("evoked").await;
    mex.stop().await;
    gtm.stop().await;
}

/// A connection outlives the handshake that checked its certificate (HTTP/2 keeps it
/// open for hours): once the operator's certificate is revoked, calls on the connection
/// it opened before are refused too, with no new handshake, while an officer's old
/// connection goes on.
#[tokio::test]
async fn a_revoked_certificate_is_refused_on_the_connection_it_opened_before() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex_ca = fed.country("MEX").ca();
    mex_ca
        .issue(Role::Operator, "leaver", &days(0, 30))
        .unwrap();
    let mex = fed.start("MEX").await;
    let mex_addr = mex.addr.to_string();
    let anchor = fed.country("MEX").anchor();
    let leaver = fed.country("MEX").identity("operator-leaver");
    let officer = fed.country("MEX").identity("operator-officer");
    let (leaver_ch, leaver_handshakes) = recording_channel(&mex_addr, &leaver, &anchor);
    let (officer_ch, officer_handshakes) = recording_channel(&mex_addr, &officer, &anchor);
    list_peers(leaver_ch.clone(), false)
        .await
        .expect("leaver before revocation");
    list_peers(officer_ch.clone(), false)
        .await
        .expect("officer before revocation");

    mex_ca
        .revoke_file(
            &fed.country("MEX").pki().join("operator-leaver.pem"),
            "affiliation_changed",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let report = mex.state.reload();
    assert!(report.is_ok(), "{report}");

    let err = list_peers(leaver_ch.clone(), false)
        .await
        .expect_err("a revoked operator on its old connection");
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    assert!(
        err.message()
            .starts_with("tls.certificate_no_longer_valid: the certificate of urn:puente:MEX:operator:leaver no longer verifies")
            && err.message().contains("Revoked"),
        "{}",
        err.message()
    );
    // Refused on the same connection: no second handshake happened.
    assert_eq!(leaver_handshakes.lock().unwrap().len(), 1);
    mex.expect_refusal("certificate_no_longer_valid").await;
    // It stays refused (not cached as good after the first refusal).
    assert!(list_peers(leaver_ch, false).await.is_err());

    list_peers(officer_ch, false)
        .await
        .expect("officer on its old connection");
    assert_eq!(officer_handshakes.lock().unwrap().len(), 1);
    mex.stop().await;
}

#[tokio::test]
async fn crls_changed_on_disk_refuse_new_connections_without_a_restart() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    set_reload_interval(&fed, "MEX", 1);
    let mex_ca = fed.country("MEX").ca();
    mex_ca
        .issue(Role::Operator, "leaver", &days(0, 30))
        .unwrap();
    let mex = fed.start("MEX").await;

    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let leaver = fed.country("MEX").identity("operator-leaver");
    let officer = fed.country("MEX").identity("operator-officer");
    assert_eq!(
        health(fed.channel("MEX", &gtm_node))
            .await
            .expect("GTM node"),
        ServingStatus::Serving as i32
    );
    list_peers(fed.channel("MEX", &leaver), false)
        .await
        .expect("operator before revocation");

    // GTM revokes its node certificate and MEX's trust file gets GTM's new CRL; MEX
    // revokes an operator in its own CRL (tls.crl). No signal: the watcher sees the files.
    let now = OffsetDateTime::now_utc();
    fed.country("GTM")
        .ca()
        .revoke_file(
            &fed.country("GTM").pki().join("node-gtm-1.pem"),
            "key_compromise",
            now,
        )
        .unwrap();
    fed.trust("MEX", "GTM");
    mex_ca
        .revoke_file(
            &fed.country("MEX").pki().join("operator-leaver.pem"),
            "affiliation_changed",
            now,
        )
        .unwrap();

    eventually("GTM's revoked node refused", || async {
        health(fed.channel("MEX", &gtm_node)).await.is_err()
    })
    .await;
    eventually("the revoked operator refused", || async {
        list_peers(fed.channel("MEX", &leaver), false)
            .await
            .is_err()
    })
    .await;
    eventually("both refusals logged as revocations", || async {
        mex.refusals_matching("evoked").len() >= 2
    })
    .await;

    // Everyone else still gets in.
    list_peers(fed.channel("MEX", &officer), false)
        .await
        .expect("unrevoked operator");
    let material = mex.state.material();
    assert_eq!(material.loaded.own_anchor.crls.len(), 1);
    assert!(!material.loaded.trust.peers[0].crls.is_empty());
    mex.stop().await;
}

/// Reloads (as SIGHUP does) and expects a refusal naming `key` and `needle`, with the
/// node still serving its original certificate.
async fn expect_refused(mex: &TestNode, fed: &Federation, serial: &str, key: &str, needle: &str) {
    let report = mex.state.reload();
    let Reload::Refused(why) = &report.material else {
        panic!("reload was not refused: {report}");
    };
    assert!(why.contains(key) && why.contains(needle), "{why}");
    // `puente node check` finds the same problem.
    let check = puente::operate::check_node(&fed.country("MEX").config)
        .expect_err("node check passes a broken config");
    let text = format!("{check:#}");
    assert!(text.contains(key) && text.contains(needle), "{text}");
    // Nothing changed: new connections get the old certificate and are served.
    assert_eq!(mex.state.material().loaded.cert_info.serial, serial);
    let officer = fed.country("MEX").identity("operator-officer");
    let (ch, seen) = recording_channel(
        &mex.addr.to_string(),
        &officer,
        &fed.country("MEX").anchor(),
    );
    list_peers(ch, false).await.expect("still serving");
    assert_eq!(*seen.lock().unwrap(), vec![serial.to_string()]);
}

#[tokio::test]
async fn a_broken_reload_changes_nothing() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    set_reload_interval(&fed, "MEX", 1);
    let mex = fed.start("MEX").await;
    let pki = fed.country("MEX").pki();
    let cert = pki.join("node-mex-1.pem");
    let key = pki.join("node-mex-1.key");
    let serial = serial_of(&cert);
    let good_cert = std::fs::read(&cert).unwrap();
    let good_key = std::fs::read(&key).unwrap();
    let cert_name = cert.display().to_string();

    // Garbage over tls.cert, left for the watcher to see (and refuse) first.
    assert!(!mex.state.lifecycle().last_reload_refused());
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    eventually("the watcher refusing the garbage", || async {
        mex.state.lifecycle().last_reload_refused()
    })
    .await;
    expect_refused(&mex, &fed, &serial, "tls.cert", &cert_name).await;

    // A key that does not fit the certificate.
    std::fs::write(&cert, &good_cert).unwrap();
    std::fs::copy(pki.join("operator-officer.key"), &key).unwrap();
    expect_refused(&mex, &fed, &serial, "tls.key", "do not fit").await;

    // The certificate of an operator, and of another country's node.
    std::fs::copy(pki.join("operator-officer.pem"), &cert).unwrap();
    expect_refused(
        &mex,
        &fed,
        &serial,
        "tls.cert",
        "urn:puente:MEX:operator:officer",
    )
    .await;
    let gtm_pki = fed.country("GTM").pki();
    std::fs::copy(gtm_pki.join("node-gtm-1.pem"), &cert).unwrap();
    std::fs::copy(gtm_pki.join("node-gtm-1.key"), &key).unwrap();
    expect_refused(&mex, &fed, &serial, "tls.cert", "urn:puente:GTM:node:gtm-1").await;

    // An expired certificate of the right node.
    std::fs::write(&cert, &good_cert).unwrap();
    std::fs::write(&key, &good_key).unwrap();
    move_aside(&pki, "node-mex-1", "good");
    fed.country("MEX")
        .ca()
        .issue(Role::Node, "mex-1", &days(-60, -1))
        .unwrap();
    expect_refused(&mex, &fed, &serial, "tls.cert", "expired").await;

    // A trust file that does not parse.
    std::fs::write(&cert, &good_cert).unwrap();
    std::fs::write(&key, &good_key).unwrap();
    let trust = fed.country("MEX").dir.join("trust.toml");
    let good_trust = std::fs::read(&trust).unwrap();
    std::fs::write(
        &trust,
        b"format = \"puente-trust/1\"\n[[peer]]\ncountry = 7\n",
    )
    .unwrap();
    expect_refused(&mex, &fed, &serial, "trust.file", "trust.toml").await;

    // Put right, the next reload takes it (same certificate: nothing to replace).
    std::fs::write(&trust, &good_trust).unwrap();
    let report = mex.state.reload();
    assert!(report.is_ok(), "{report}");
    assert_eq!(mex.state.material().loaded.cert_info.serial, serial);
    assert!(
        mex.refusals.snapshot().is_empty(),
        "{:#?}",
        mex.refusals.snapshot()
    );
    mex.stop().await;
}
