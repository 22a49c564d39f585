//! Dialling a node over mutual TLS: a tonic [`Channel`] whose connector does TCP and a
//! rustls handshake with our own client configuration, so the server is checked by
//! [`puente_pki::tls::PeerServerVerifier`] (right country's CA, a node of that country)
//! rather than by host name. Channels are lazy, pooled by tonic (HTTP/2 multiplexing), and
//! reconnect on demand: a node is dialled once, not per request. Nodes dial their peers
//! with it, officers and auditors their own node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use puente_pki::inspect;
use puente_pki::tls::{self, CountryAnchor, TlsIdentity};
use puente_pki::PeerIdentity;
use rustls::pki_types::ServerName;
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

/// What the last successful handshake showed of the server.
#[derive(Clone, Debug)]
pub struct SeenServer {
    /// The identity its verified certificate carries.
    pub identity: PeerIdentity,
    /// When its certificate expires.
    pub not_after: OffsetDateTime,
}

/// A channel to one node, with what its last handshake showed.
#[derive(Clone, Debug)]
pub struct NodeChannel {
    /// The tonic channel (lazy, reconnecting).
    pub channel: Channel,
    /// Filled after each successful handshake.
    pub seen: Arc<Mutex<Option<SeenServer>>>,
}

/// Builds a lazy mTLS channel to the node of `expected.country` at `address`, presenting
/// `identity`.
pub fn node_channel(
    address: &str,
    identity: &TlsIdentity,
    expected: &CountryAnchor,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
) -> Result<NodeChannel, String> {
    let config = Arc::new(tls::client_config(identity, expected)?);
    channel_with_config(
        address,
        config,
        tls::peer_server_name(expected.country),
        connect_timeout,
        request_timeout,
    )
}

/// Builds a lazy channel to `address` with any rustls client configuration (its ALPN
/// must offer `h2`). [`node_channel`] is the normal way; tests use this to present
/// unusual certificates, or none.
pub fn channel_with_config(
    address: &str,
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
) -> Result<NodeChannel, String> {
    let mut endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| format!("{address:?} is not a usable address: {e}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    if let Some(t) = request_timeout {
        // A connection that stalls (the peer or a middlebox stops forwarding without
        // closing) is found dead by its pings within two call timeouts, instead of
        // holding every call to that peer until TCP gives up.
        endpoint = endpoint
            .timeout(t)
            .http2_keep_alive_interval(t.min(Duration::from_secs(30)))
            .keep_alive_timeout(t);
    }
    let seen = Arc::new(Mutex::new(None));
    let seen_in = seen.clone();
    let target = address.to_string();
    let connector = tower::service_fn(move |_uri: Uri| {
        let config = config.clone();
        let server_name = server_name.clone();
        let seen = seen_in.clone();
        let target = target.clone();
        async move {
            let tcp = TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let tls = TlsConnector::from(config).connect(server_name, tcp).await?;
            if let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                if let Ok(info) = inspect::inspect(leaf, std::path::Path::new("peer certificate")) {
                    if let (Some(identity), Ok(mut slot)) = (info.identity, seen.lock()) {
                        *slot = Some(SeenServer {
                            identity,
                            not_after: info.not_after,
                        });
                    }
                }
            }
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(NodeChannel {
        channel: endpoint.connect_with_connector_lazy(connector),
        seen,
    })
}
