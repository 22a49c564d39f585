//! The backup archive: a self-describing container that a restore checks in full before
//! it writes anything.
//!
//! ```text
//! "puente-backup/1\n"
//! section*:  'S' ‖ name length u16 ‖ name ‖ (length u32 ‖ bytes)* ‖ 0 u32
//! manifest:  'M' ‖ length u32 ‖ manifest (JSON) ‖ SHA-256 of every byte before it
//! ```
//!
//! Sections are framed so that they can be streamed without knowing their size first;
//! the manifest, written last, lists each section with its size and SHA-256, so a
//! damaged section is named, and the closing SHA-256 covers the whole archive, so a
//! truncated or altered one is refused.

use std::io::{self, Read, Write};

use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

use crate::error::BackupError;

/// The archive's first bytes.
pub const MAGIC: &[u8; 16] = b"puente-backup/1\n";
const FRAME: usize = 64 * 1024;
const MAX_MANIFEST: u32 = 16 * 1024 * 1024;

/// One section as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionInfo {
    /// Its name (`store`, `audit/log`, `audit-head`, `quota`, `keys/…`).
    pub name: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// What the archive holds and where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MAGIC`] without its newline.
    pub format: String,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// The node's country.
    pub country: String,
    /// The node's name.
    pub node: String,
    /// `running node` (streamed by `Local.Backup`) or `stopped node` (read from disk).
    pub taken_from: String,
    /// Audit entries in the snapshot.
    pub audit_entries: u64,
    /// Name of the node's signing key, which signed every checkpoint in the log.
    pub signing_key: String,
    /// The signing key's public half (hex): a restore checks the key it will run with.
    pub signing_public: String,
    /// A value derived from the data key that seals the records (not the key): a
    /// restore without keys checks the data key it finds against it.
    pub data_key_check: String,
    /// Whether the key files are in the archive.
    pub with_keys: bool,
    /// The sections, in order.
    pub sections: Vec<SectionInfo>,
}

fn hex32(d: ring::digest::Digest) -> String {
    hex::encode(d.as_ref())
}

/// Writes an archive to `out`, section by section.
pub struct ArchiveWriter<W: Write> {
    out: W,
    whole: Context,
    sections: Vec<SectionInfo>,
    open: Option<(String, Context, u64, Vec<u8>)>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        let mut whole = Context::new(&SHA256);
        whole.update(MAGIC);
        Ok(Self {
            out,
            whole,
            sections: Vec::new(),
            open: None,
        })
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.whole.update(b);
        self.out.write_all(b)
    }

    /// Opens a section (closing the one open).
    pub fn begin(&mut self, name: &str) -> io::Result<()> {
        self.end()?;
        let n = name.as_bytes();
        let mut head = vec![b'S'];
        head.extend_from_slice(&(n.len() as u16).to_be_bytes());
        head.extend_from_slice(n);
        self.put(&head)?;
        self.open = Some((name.to_string(), Context::new(&SHA256), 0, Vec::new()));
        Ok(())
    }

    fn flush_frame(&mut self) -> io::Result<()> {
        let Some((_, _, _, buf)) = self.open.as_mut() else {
            return Ok(());
        };
        if buf.is_empty() {
            return Ok(());
        }
        let frame = std::mem::take(buf);
        self.put(&(frame.len() as u32).to_be_bytes())?;
        self.put(&frame)
    }

    /// Adds bytes to the open section.
    pub fn data(&mut self, mut b: &[u8]) -> io::Result<()> {
        while !b.is_empty() {
            let Some((_, ctx, len, buf)) = self.open.as_mut() else {
                return Err(io::Error::other("no section is open"));
            };
            let n = (FRAME - buf.len()).min(b.len());
            ctx.update(&b[..n]);
            *len += n as u64;
            buf.extend_from_slice(&b[..n]);
            b = &b[n..];
            if buf.len() == FRAME {
                self.flush_frame()?;
            }
        }
        Ok(())
    }

    /// Closes the open section, if any.
    pub fn end(&mut self) -> io::Result<()> {
        self.flush_frame()?;
        if let Some((name, ctx, bytes, _)) = self.open.take() {
            self.put(&0u32.to_be_bytes())?;
            self.sections.push(SectionInfo {
                name,
                bytes,
                sha256: hex32(ctx.finish()),
            });
        }
        Ok(())
    }

    /// Writes one whole section.
    pub fn section(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.begin(name)?;
        self.data(bytes)?;
        self.end()
    }

    /// Writes the manifest (its `sections` filled in here) and the closing checksum.
    pub fn finish(mut self, mut manifest: Manifest) -> io::Result<W> {
        self.end()?;
        manifest.format = "puente-backup/1".into();
        manifest.sections = std::mem::take(&mut self.sections);
        let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
        let mut head = vec![b'M'];
        head.extend_from_slice(&(json.len() as u32).to_be_bytes());
        self.put(&head)?;
        self.put(&json)?;
        let sum = self.whole.clone().finish();
        self.out.write_all(sum.as_ref())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads `from` through, counting and hashing every byte.
struct Counted<R> {
    inner: R,
    at: u64,
    whole: Context,
}

impl<R: Read> Counted<R> {
    fn exact(&mut self, buf: &mut [u8], what: &str, origin: &str) -> Result<(), BackupError> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                BackupError::Damaged {
                    origin: origin.to_string(),
                    problem: format!(
                        "it ends near byte {} inside {what}: the backup is truncated",
                        self.at
                    ),
                }
            } else {
                BackupError::Io {
                    what: format!("reading {what}"),
                    path: origin.to_string(),
                    source: e,
                }
            }
        })?;
        self.whole.update(buf);
        self.at += buf.len() as u64;
        Ok(())
    }
}

/// Reads the archive in `from` (named `origin` in errors), handing each section's bytes
/// to `visit` as they come (`visit(name, chunk)`; first with an empty chunk as the
/// section begins, so an empty section is seen too), and checks every section and the
/// whole against the manifest. Returns the manifest only when everything matched: a
/// caller that writes while visiting must treat what it wrote as unchecked until then.
pub fn read(
    from: impl Read,
    origin: &str,
    mut visit: impl FnMut(&str, &[u8]) -> Result<(), BackupError>,
) -> Result<Manifest, BackupError> {
    let damaged = |problem: String| BackupError::Damaged {
        origin: origin.to_string(),
        problem,
    };
    let mut r = Counted {
        inner: io::BufReader::new(from),
        at: 0,
        whole: Context::new(&SHA256),
    };
    let mut magic = [0u8; 16];
    r.exact(&mut magic, "the format header", origin)?;
    if &magic != MAGIC {
        return Err(damaged(
            "it does not start with \"puente-backup/1\": not a Puente backup".into(),
        ));
    }
    let mut seen: Vec<SectionInfo> = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        r.exact(&mut tag, "the next section header", origin)?;
        match tag[0] {
            b'S' => {
                let mut len = [0u8; 2];
                r.exact(&mut len, "a section header", origin)?;
                let mut name = vec![0u8; u16::from_be_bytes(len) as usize];
                r.exact(&mut name, "a section name", origin)?;
                let name = String::from_utf8(name)
                    .map_err(|_| damaged(format!("a section name near byte {} is not UTF-8", r.at)))?;
                let where_ = format!("section {name:?}");
                visit(&name, &[])?;
                let mut ctx = Context::new(&SHA256);
                let mut bytes = 0u64;
                let mut buf = Vec::new();
                loop {
                    let mut n = [0u8; 4];
                    r.exact(&mut n, &where_, origin)?;
                    let n = u32::from_be_bytes(n) as usize;
                    if n == 0 {
                        break;
                    }
                    if n > FRAME {
                        return Err(damaged(format!(
                            "{where_}: a frame of {n} bytes near byte {} (at most {FRAME}): the backup is damaged",
                            r.at
                        )));
                    }
                    buf.resize(n, 0);
                    r.exact(&mut buf, &where_, origin)?;
                    ctx.update(&buf);
                    bytes += n as u64;
                    visit(&name, &buf)?;
                }
                seen.push(SectionInfo {
                    name,
                    bytes,
                    sha256: hex32(ctx.finish()),
                });
            }
            b'M' => {
                let mut len = [0u8; 4];
                r.exact(&mut len, "the manifest header", origin)?;
                let len = u32::from_be_bytes(len);
                if len > MAX_MANIFEST {
                    return Err(damaged(format!("a manifest of {len} bytes: the backup is damaged")));
                }
                let mut json = vec![0u8; len as usize];
                r.exact(&mut json, "the manifest", origin)?;
                let expected = r.whole.clone().finish();
                let mut sum = [0u8; 32];
                r.exact(&mut sum, "the closing checksum", origin)?;
                // A section that differs from its manifest line is named first.
                if let Ok(m) = serde_json::from_slice::<Manifest>(&json) {
                    check_sections(&m, &seen).map_err(damaged)?;
                }
                if sum != expected.as_ref() {
                    return Err(damaged(
                        "its closing SHA-256 does not match its content: the backup was altered or damaged".into(),
                    ));
                }
                let mut rest = [0u8; 1];
                if r.inner.read(&mut rest).map_err(|e| BackupError::Io {
                    what: "reading past the end".into(),
                    path: origin.to_string(),
                    source: e,
                })? != 0
                {
                    return Err(damaged(format!(
                        "bytes follow its end (byte {}): the backup is damaged",
                        r.at
                    )));
                }
                let manifest: Manifest = serde_json::from_slice(&json)
                    .map_err(|e| damaged(format!("its manifest does not parse: {e}")))?;
                check_sections(&manifest, &seen).map_err(damaged)?;
                return Ok(manifest);
            }
            other => {
                return Err(damaged(format!(
                    "byte {} holds {other:#04x} where a section or the manifest should start: the backup is damaged",
                    r.at - 1
                )))
            }
        }
    }
}

fn check_sections(manifest: &Manifest, seen: &[SectionInfo]) -> Result<(), String> {
    for (i, s) in seen.iter().enumerate() {
        match manifest.sections.get(i) {
            Some(m) if m == s => {}
            Some(m) if m.name == s.name => {
                return Err(format!(
                "section {:?} holds {} bytes with SHA-256 {}, the manifest says {} bytes with {}",
                s.name, s.bytes, s.sha256, m.bytes, m.sha256
            ))
            }
            _ => {
                return Err(format!(
                    "section {:?} is not the one the manifest lists at place {i}",
                    s.name
                ))
            }
        }
    }
    if manifest.sections.len() != seen.len() {
        return Err(format!(
            "the manifest lists {} sections, the backup holds {}",
            manifest.sections.len(),
            seen.len()
        ));
    }
    Ok(())
}
