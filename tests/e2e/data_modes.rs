//! A running node keeps its data directory to its own user, whatever the umask: every
//! directory 0700 while it runs, and every file 0600 once it has stopped (sled's own files
//! included, which sled creates with the umask's mode and the node narrows).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use puente_e2e::{document_query, Federation};
use puente_proto::v1::exchange_client::ExchangeClient;

/// Paths under `root` (itself included) wider than 0700 (directories) or, with `files`,
/// 0600 (files), with their modes; and how many files there are.
fn wider_than_private(root: &Path, files: bool) -> (Vec<String>, usize) {
    let (mut wide, mut count) = (Vec::new(), 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            if mode != 0o700 {
                wide.push(format!("{} {mode:o}", path.display()));
            }
        } else {
            count += 1;
            if files && mode != 0o600 {
                wide.push(format!("{} {mode:o}", path.display()));
            }
        }
    }
    (wide, count)
}

#[tokio::test]
async fn a_node_keeps_its_data_directory_private() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let data = mex.data_dir.clone();
    // Exchanges (refused here: no agreement) are audited: the log and the store grow.
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    for i in 0..5 {
        let _ = ExchangeClient::new(fed.channel("MEX", &gtm_node))
            .query_identity(document_query(&format!("C-{i}"), "BX1234567"))
            .await;
    }
    let (wide, _) = wider_than_private(&data, false);
    assert_eq!(wide, Vec::<String>::new(), "directories others can enter");
    mex.stop().await;
    let (wide, files) = wider_than_private(&data, true);
    assert!(
        files >= 5,
        "the node wrote its store and log: {files} files"
    );
    assert_eq!(wide, Vec::<String>::new(), "group or others can read these");
}
