//! One owner per data directory: `serve` (and `migrate --from`, which needs the server
//! stopped) hold an advisory lock on `<data-dir>/openkms.lock` for their whole life. Two
//! servers on one SQLite directory would each trust their own caches and nonce window, so one
//! would serve what the other deleted and accept what the other already saw.
//!
//! The lock is `flock`-style (`File::try_lock`): the kernel drops it when the process dies,
//! however it dies, so a crash never leaves a stale lock behind. The file holds the owner's
//! PID only to name it in the refusal; the lock, not the file's presence, is what counts.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "openkms.lock";

/// Why the directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    #[error(
        "data directory {dir} is in use by another openkms process{holder}; stop it first \
         (or give this one another --data-dir)"
    )]
    Held { dir: String, holder: String },
    #[error("could not lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The held lock; released when dropped or when the process exits.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, DirLockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| DirLockError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                // Best effort: the holder may be rewriting it; the refusal stands either way.
                let _ = file.read_to_string(&mut text);
                let pid = text.trim();
                let holder = if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                    format!(" (PID {pid})")
                } else {
                    String::new()
                };
                return Err(DirLockError::Held {
                    dir: dir.display().to_string(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file, path })
    }

    /// Where the lock lives (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("PID {}", std::process::id())),
            "{text}"
        );
        drop(first);
        // Released on drop: the directory can be taken again.
        DirLock::acquire(dir.path()).unwrap();
    }
}
