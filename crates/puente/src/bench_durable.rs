//! The durable two-hop relay of `puente bench query`: the physical limit of "audit before
//! answer on both sides" on this disk. Each hop appends a small record to its own file
//! and `fdatasync`s it (group commit: every record waiting when a sync starts goes into
//! it) before it answers, and does nothing else: the far hop before answering the relay,
//! the relay after the far hop answered, as a node writes its outgoing entry once the
//! peer's answer is in. At concurrency 1 two syncs in sequence set the latency; no
//! design that makes both entries durable before the officer sees the answer beats it.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use anyhow::{Context, Result};
use puente_proto::bench::echo_client::EchoClient;
use puente_proto::bench::echo_server::Echo;
use puente_proto::bench::EchoMessage;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

type Waiter = oneshot::Sender<Result<(), String>>;

/// An append-only file with group commit on a writer thread.
#[derive(Debug)]
pub struct GroupLog {
    tx: mpsc::Sender<(Vec<u8>, Waiter)>,
    sequence: AtomicU64,
}

impl GroupLog {
    /// Creates `path` (it must not exist) and starts its writer.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        let (tx, rx) = mpsc::channel::<(Vec<u8>, Waiter)>();
        std::thread::Builder::new()
            .name("bench-durable-log".into())
            .spawn(move || write_batches(file, &rx))
            .context("starting the durable log's writer")?;
        Ok(Self {
            tx,
            sequence: AtomicU64::new(0),
        })
    }

    /// Appends a record about `payload` (its sequence number and first bytes, 40 bytes in
    /// all) and returns once a sync covered it.
    pub async fn append(&self, payload: &[u8]) -> Result<(), String> {
        let mut record = self
            .sequence
            .fetch_add(1, Ordering::Relaxed)
            .to_be_bytes()
            .to_vec();
        record.extend(payload.iter().take(32));
        record.resize(40, 0);
        let (done, wait) = oneshot::channel();
        self.tx
            .send((record, done))
            .map_err(|_| "the durable log's writer stopped".to_string())?;
        wait.await
            .map_err(|_| "the durable log's writer stopped".to_string())?
    }
}

/// The writer: takes every record waiting, writes them in one call, syncs once, then
/// answers each; stops when every appender is gone.
fn write_batches(mut file: File, rx: &mpsc::Receiver<(Vec<u8>, Waiter)>) {
    let mut buf = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        buf.clear();
        for (record, _) in &batch {
            buf.extend_from_slice(record);
        }
        let result = file
            .write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| e.to_string());
        for (_, done) in batch {
            let _ = done.send(result.clone());
        }
    }
}

/// The far hop: durable record, then the echo.
#[derive(Debug)]
pub struct DurableEcho {
    /// Its log.
    pub log: Arc<GroupLog>,
}

#[tonic::async_trait]
impl Echo for DurableEcho {
    async fn echo(&self, r: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        let m = r.into_inner();
        self.log
            .append(&m.payload)
            .await
            .map_err(Status::internal)?;
        Ok(Response::new(m))
    }
}

/// The near hop: forwards, then makes its own record durable before answering.
#[derive(Debug)]
pub struct DurableRelay {
    /// The far hop.
    pub next: EchoClient<Channel>,
    /// Its log.
    pub log: Arc<GroupLog>,
}

#[tonic::async_trait]
impl Echo for DurableRelay {
    async fn echo(&self, r: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        let answer = self.next.clone().echo(r.into_inner()).await?;
        self.log
            .append(&answer.get_ref().payload)
            .await
            .map_err(Status::internal)?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_append_is_in_the_file_once_its_call_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = Arc::new(GroupLog::create(&path).unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..50u8 {
            let log = log.clone();
            tasks.spawn(async move { log.append(&[i; 3]).await });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 50 * 40);
        let mut sequences: Vec<u64> = bytes
            .chunks(40)
            .map(|c| u64::from_be_bytes(c[..8].try_into().unwrap()))
            .collect();
        sequences.sort_unstable();
        assert_eq!(sequences, (0..50).collect::<Vec<_>>());
        assert!(
            GroupLog::create(&path).is_err(),
            "an existing file is refused"
        );
    }
}
