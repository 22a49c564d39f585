//! `puente console` as a person starts it: the first line of standard output is the
//! address with a one-time token; the token opens a session once; with `--config
//! --role auditor` the pages are the node's auditor's; a second run's token is another one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::node::{init_on_port_zero, LoggedNode};
use crate::common::p;

struct Console(Child);

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the console and returns it with its first line of output.
fn start(args: &[&str]) -> (Console, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_puente"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let console = Console(child);
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the console printed its address");
    (console, line.trim_end().to_string())
}

/// A plain GET: (status, head, body).
fn get(url_path: &str, host: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut tcp = TcpStream::connect(host).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        tcp,
        "GET {url_path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    tcp.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

#[test]
fn the_first_line_is_the_address_and_its_token_opens_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let mut node = LoggedNode::start(&config);
    let args = [
        "console",
        "--config",
        p(&config),
        "--role",
        "auditor",
        "--no-open",
    ];
    let (console, url) = start(&args);
    let rest = url.strip_prefix("http://127.0.0.1:").expect(&url);
    let (port, token) = rest.split_once("/login?token=").expect(&url);
    assert!(port.parse::<u16>().is_ok(), "{url}");
    assert_eq!(token.len(), 64, "{url}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
    let host = format!("127.0.0.1:{port}");

    let (status, _, _) = get("/checkpoints", &host, None);
    assert_eq!(status, 401);
    let (status, head, page) = get(&format!("/login?token={token}"), &host, None);
    assert_eq!(status, 200, "{head}");
    let scope = page
        .split_once("url=/s/")
        .and_then(|(_, r)| r.split_once('/'))
        .map(|(s, _)| s.to_string())
        .expect(&page);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect(&head)
        .to_string();
    let (status, _, _) = get(&format!("/login?token={token}"), &host, None);
    assert_eq!(status, 401, "once only");
    let (status, _, body) = get(&format!("/s/{scope}/checkpoints"), &host, Some(&cookie));
    assert_eq!(status, 200);
    // The Audit service answered the config's auditor certificate (an operator's would
    // be refused): a fresh node's log has no checkpoint yet.
    assert!(body.contains("no checkpoint yet"), "{body}");
    assert!(!body.contains("PermissionDenied"), "{body}");

    // Another run, another token.
    let (_second, url2) = start(&args);
    assert_ne!(url2.rsplit('=').next(), Some(token));
    drop(console);
    let _ = node.child.kill();
    let _ = node.child.wait();
}
