//! A start that fails leaves the data directory as it found it. Settings are checked and the
//! listeners bound before this runs; what can still fail after (the store, the root of trust,
//! the first initialisation) is undone here: the directory is created if needed and locked,
//! and if it held nothing (beyond a lock file) when locked, everything this start put in it
//! is removed on failure, with a root key file it created elsewhere. On a shared PostgreSQL
//! store a root key file is never removed (the store may already name it): only the lock
//! file and the directory, if this start created them and nothing else is left.

use std::fs;
use std::path::{Path, PathBuf};

use crate::dir_lock::{DirLock, LOCK_FILE};
use crate::serve::ServeError;

/// The locked data directory of a start that has not succeeded yet.
pub struct Claim {
    dir: PathBuf,
    lock: Option<DirLock>,
    created_dir: bool,
    created_lock: bool,
    /// The directory held nothing but perhaps a lock file when locked.
    fresh: bool,
    /// The root key file outside the directory, if it did not exist before.
    new_root_key_outside: Option<PathBuf>,
}

impl Claim {
    /// Creates (owner-only) and locks `dir`, noting what was there.
    pub fn take(dir: &Path, root_key_file: &Path) -> Result<Self, ServeError> {
        let created_dir = !dir.exists();
        crate::serve::create_private_dir(dir)?;
        let lock_path = dir.join(LOCK_FILE);
        let created_lock = !lock_path.exists();
        let lock = match DirLock::acquire(dir) {
            Ok(l) => l,
            Err(e) => {
                if created_lock {
                    let _ = fs::remove_file(&lock_path);
                }
                if created_dir {
                    let _ = fs::remove_dir(dir);
                }
                return Err(e.into());
            }
        };
        tracing::debug!(lock = %lock.path().display(), "data directory locked");
        let fresh = entries(dir).is_ok_and(|names| names.iter().all(|n| n == LOCK_FILE));
        let outside = !root_key_file.starts_with(dir) && !root_key_file.exists();
        Ok(Self {
            dir: dir.to_owned(),
            lock: Some(lock),
            created_dir,
            created_lock,
            fresh,
            new_root_key_outside: outside.then(|| root_key_file.to_owned()),
        })
    }

    /// The start succeeded: the lock is held until the process exits.
    pub fn keep(mut self) {
        if let Some(lock) = self.lock.take() {
            // Released by the kernel at exit, however the process ends.
            std::mem::forget(lock);
        }
    }

    /// The start failed: removes what it created (see the module doc). `whole_install` says
    /// the directory holds the whole installation (SQLite), so a fresh one can be emptied.
    pub fn roll_back(mut self, whole_install: bool) {
        if self.fresh && whole_install {
            for name in entries(&self.dir).unwrap_or_default() {
                if name == LOCK_FILE {
                    continue;
                }
                let path = self.dir.join(&name);
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                if let Err(e) = removed {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove what the failed start created");
                }
            }
            if let Some(path) = &self.new_root_key_outside {
                if path.exists() {
                    let _ = fs::remove_file(path);
                }
            }
        }
        if self.created_lock {
            let _ = fs::remove_file(self.dir.join(LOCK_FILE));
        }
        drop(self.lock.take());
        if self.created_dir {
            // Only if empty: anything else left there is not ours to remove.
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

fn entries(dir: &Path) -> std::io::Result<Vec<String>> {
    fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_start_in_a_fresh_directory_leaves_it_as_found() {
        let parent = tempfile::tempdir().unwrap();
        // Absent before: removed again.
        let dir = parent.path().join("data");
        let claim = Claim::take(&dir, &dir.join("root.key")).unwrap();
        fs::write(dir.join("openkms.db"), b"x").unwrap();
        fs::create_dir(dir.join("nonces")).unwrap();
        claim.roll_back(true);
        assert!(!dir.exists());
        // Present and empty before: emptied, kept.
        fs::create_dir(&dir).unwrap();
        let claim = Claim::take(&dir, &dir.join("root.key")).unwrap();
        fs::write(dir.join("root.key"), b"x").unwrap();
        claim.roll_back(true);
        assert_eq!(entries(&dir).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_failed_start_never_removes_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("openkms.db"), b"old").unwrap();
        let claim = Claim::take(dir.path(), &dir.path().join("root.key")).unwrap();
        fs::write(dir.path().join("root.key"), b"x").unwrap();
        claim.roll_back(true);
        let mut names = entries(dir.path()).unwrap();
        names.sort();
        // Not fresh: only the lock file this start made is removed.
        assert_eq!(names, vec!["openkms.db".to_owned(), "root.key".to_owned()]);
        // PostgreSQL: a fresh directory keeps a root key the shared store may name.
        let fresh = tempfile::tempdir().unwrap();
        let claim = Claim::take(fresh.path(), &fresh.path().join("root.key")).unwrap();
        fs::write(fresh.path().join("root.key"), b"x").unwrap();
        claim.roll_back(false);
        assert_eq!(entries(fresh.path()).unwrap(), vec!["root.key".to_owned()]);
    }
}
