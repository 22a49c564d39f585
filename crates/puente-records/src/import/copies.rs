//! Where an import's passport copies come from: files beside the import file (the
//! `passport_copy` column names a path relative to it), or, for an import sent to the
//! node, the bytes the client sent under those same names.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::MAX_COPY_BYTES;
use crate::media::sniff_media_type;

/// The passport copies a file's `passport_copy` column names.
#[derive(Clone, Copy, Debug)]
pub enum Copies<'a> {
    /// Paths relative to this directory (the import file's).
    Dir(&'a Path),
    /// Bytes by the name the column gives, as a client sent them.
    Sent(&'a BTreeMap<String, Vec<u8>>),
}

impl Copies<'_> {
    /// Whether the copy `name` is a PNG or JPEG of at most 16 MiB; why not otherwise.
    pub(crate) fn check(&self, name: &str) -> Result<(), String> {
        let head = match self {
            Copies::Dir(base) => {
                let path = base.join(name);
                let shown = path.display();
                match std::fs::metadata(&path) {
                    Err(e) => return Err(format!("{shown}: {e}")),
                    Ok(m) if !m.is_file() => return Err(format!("{shown} is not a regular file")),
                    Ok(m) if m.len() > MAX_COPY_BYTES => {
                        return Err(format!("{shown} is larger than 16 MiB"))
                    }
                    Ok(_) => {}
                }
                let mut head = Vec::with_capacity(8);
                std::fs::File::open(&path)
                    .and_then(|f| f.take(8).read_to_end(&mut head))
                    .map_err(|e| format!("{shown}: {e}"))?;
                head
            }
            Copies::Sent(sent) => {
                let bytes = sent
                    .get(name)
                    .ok_or_else(|| format!("{name:?} was not sent with the import"))?;
                if bytes.len() as u64 > MAX_COPY_BYTES {
                    return Err(format!("{name:?} is larger than 16 MiB"));
                }
                bytes.iter().take(8).copied().collect()
            }
        };
        if sniff_media_type(&head).is_some() {
            return Ok(());
        }
        Err(match self {
            Copies::Dir(base) => {
                format!("{} is not a PNG or JPEG image", base.join(name).display())
            }
            Copies::Sent(_) => format!("{name:?} is not a PNG or JPEG image"),
        })
    }

    /// The bytes of the copy `name`.
    pub(crate) fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        match self {
            Copies::Dir(base) => {
                let path = base.join(name);
                std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
            }
            Copies::Sent(sent) => sent
                .get(name)
                .cloned()
                .ok_or_else(|| format!("{name:?} was not sent with the import")),
        }
    }

    /// Where copies are read from, for messages.
    pub fn describe(&self) -> String {
        match self {
            Copies::Dir(base) => base.display().to_string(),
            Copies::Sent(_) => "the copies sent with the import".into(),
        }
    }
}
