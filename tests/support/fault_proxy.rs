//! A TCP proxy in front of a node that cuts or stalls one connection after a budget of
//! bytes or TLS records, for the fault tests (`tests/e2e/faults.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a [`FaultProxy`] does once its budget is spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Closes both sides of the connection (a peer dropping mid-answer).
    Cut,
    /// Stops forwarding but keeps both sides open (a peer that stalls mid-answer).
    Stall,
}

/// How much a [`FaultProxy`] lets through from the node once armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// This many bytes.
    Bytes(u64),
    /// This many whole TLS records (what the client can decrypt is deterministic).
    Records(u64),
}

/// A TCP proxy in front of a node, forwarding bytes both ways; once armed, it lets a
/// budget flow from the node to the client and then cuts or stalls that connection,
/// once; later connections pass untouched. TLS runs end to end through it.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    task: JoinHandle<()>,
}

struct ProxyState {
    plan: std::sync::Mutex<Option<(Fault, Budget)>>,
    fired: std::sync::atomic::AtomicU64,
    target: std::sync::Mutex<SocketAddr>,
}

impl FaultProxy {
    /// A proxy to `target`, passing everything until armed.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(ProxyState {
            plan: std::sync::Mutex::new(None),
            fired: std::sync::atomic::AtomicU64::new(0),
            target: std::sync::Mutex::new(target),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let st = st.clone();
                let target = *st.target.lock().expect("target");
                tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(target).await {
                        // No Nagle delay on either leg: the proxy adds only the faults.
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        proxy_connection(client, server, st).await;
                    }
                });
            }
        });
        Self { addr, state, task }
    }

    /// From now on, once `budget` more has come from the node, applies `fault` (once).
    pub fn arm(&self, fault: Fault, budget: Budget) {
        *self.state.plan.lock().expect("plan") = Some((fault, budget));
    }

    /// Sends later connections to `target` (a node restarted on another port).
    pub fn retarget(&self, target: SocketAddr) {
        *self.state.target.lock().expect("target") = target;
    }

    /// How many times the fault was applied.
    pub fn fired(&self) -> u64 {
        self.state.fired.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Follows TLS record boundaries in one direction of a connection.
#[derive(Default)]
struct Records {
    header: Vec<u8>,
    remaining: usize,
}

impl Records {
    /// Offsets in `data` just after each record that ends in it.
    fn ends(&mut self, data: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < data.len() {
            if self.remaining > 0 {
                let take = self.remaining.min(data.len() - i);
                self.remaining -= take;
                i += take;
                if self.remaining == 0 {
                    out.push(i);
                }
            } else {
                self.header.push(data[i]);
                i += 1;
                if self.header.len() == 5 {
                    self.remaining =
                        usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                    self.header.clear();
                    if self.remaining == 0 {
                        out.push(i);
                    }
                }
            }
        }
        out
    }
}

async fn proxy_connection(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    st: Arc<ProxyState>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
        (cr, sw)
    });
    let mut records = Records::default();
    let mut buf = vec![0u8; 16 * 1024];
    let fault = loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break None,
            Ok(n) => n,
        };
        let ends = records.ends(&buf[..n]);
        // Take from the budget, if armed.
        let (pass, fault) = {
            let mut plan = st.plan.lock().expect("plan");
            match plan.as_mut() {
                None => (n, None),
                Some((f, Budget::Bytes(left))) => {
                    if (*left as usize) >= n {
                        *left -= n as u64;
                        (n, None)
                    } else {
                        let r = (*left as usize, Some(*f));
                        *plan = None;
                        r
                    }
                }
                Some((f, Budget::Records(left))) => {
                    if (*left as usize) > ends.len() {
                        *left -= ends.len() as u64;
                        (n, None)
                    } else {
                        let r = (ends[*left as usize - 1], Some(*f));
                        *plan = None;
                        r
                    }
                }
            }
        };
        if cw.write_all(&buf[..pass]).await.is_err() {
            break None;
        }
        if fault.is_some() {
            st.fired.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            break fault;
        }
    };
    match fault {
        Some(Fault::Stall) => {
            // Keep both connections open, forwarding nothing more to the client, until
            // the test's runtime ends.
            let _held = (cw, sr, up);
            std::future::pending::<()>().await;
        }
        Some(Fault::Cut) | None => {
            // Dropping every half closes both connections.
            up.abort();
        }
    }
}
