//! The nonce journal of a single-node (SQLite) installation: every accepted request's
//! fingerprint, appended to a segment file in `<data-dir>/nonces/` before its action runs.
//! A `write(2)` that returned is in the kernel's page cache, so it survives the process being
//! killed; after a power loss the last moments may be lost (documented in docs/postgres.md's
//! sibling, README "Replay protection").
//!
//! Segments are 32-byte records (fingerprint, key tag, expiry, little-endian). A new segment
//! starts every [`SEGMENT_SECS`]; a segment is deleted once every record in it has expired, so
//! the journal holds about one window of requests. A torn last record is ignored on reading.

use parking_lot::Mutex;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::Seen;

/// How long one segment file is appended to.
pub const SEGMENT_SECS: i64 = 300;
const RECORD: usize = 32;

/// Why the journal could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("nonce journal {path}: {source}")]
pub struct JournalError {
    path: String,
    source: std::io::Error,
}

/// The journal directory, open for appending.
pub struct NonceJournal {
    dir: PathBuf,
    created: bool,
    loaded: Vec<Seen>,
    state: Mutex<State>,
}

struct State {
    current: Option<Segment>,
    /// Closed segments and the latest expiry each holds.
    closed: Vec<(PathBuf, i64)>,
}

struct Segment {
    file: File,
    path: PathBuf,
    started: i64,
    max_expiry: i64,
}

impl NonceJournal {
    /// Opens (creating if needed, owner-only) the journal in `dir`, reading what it remembers
    /// that is still live at `now`.
    pub fn open(dir: &Path, now: i64) -> Result<Self, JournalError> {
        let err = |source| JournalError {
            path: dir.display().to_string(),
            source,
        };
        let created = !dir.is_dir();
        if created {
            let mut b = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir).map_err(err)?;
        }
        let mut loaded = Vec::new();
        let mut closed = Vec::new();
        for entry in fs::read_dir(dir).map_err(err)? {
            let path = entry.map_err(err)?.path();
            if path.extension().is_none_or(|e| e != "log") {
                continue;
            }
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(err)?;
            let mut max_expiry = i64::MIN;
            for rec in bytes.chunks_exact(RECORD) {
                let s = decode(rec);
                max_expiry = max_expiry.max(s.expires_at);
                if s.expires_at >= now {
                    loaded.push(s);
                }
            }
            if max_expiry < now {
                fs::remove_file(&path).map_err(err)?;
            } else {
                closed.push((path, max_expiry));
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            created,
            loaded,
            state: Mutex::new(State {
                current: None,
                closed,
            }),
        })
    }

    /// Whether the directory did not exist before this open (nothing was remembered).
    pub fn created(&self) -> bool {
        self.created
    }

    /// The entries still live when the journal was opened.
    pub fn live_entries(&self) -> impl Iterator<Item = Seen> + '_ {
        self.loaded.iter().copied()
    }

    /// Appends one entry; returns once the record is written (in the page cache).
    pub fn append(&self, s: &Seen, now: i64) -> std::io::Result<()> {
        let mut st = self.state.lock();
        let rotate = st
            .current
            .as_ref()
            .is_none_or(|seg| now - seg.started >= SEGMENT_SECS);
        if rotate {
            self.rotate(&mut st, now)?;
        }
        let seg = st
            .current
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no nonce journal segment"))?;
        seg.file.write_all(&encode(s))?;
        seg.max_expiry = seg.max_expiry.max(s.expires_at);
        Ok(())
    }

    /// Closes the current segment, deletes segments whose records all expired, opens a new one.
    fn rotate(&self, st: &mut State, now: i64) -> std::io::Result<()> {
        if let Some(seg) = st.current.take() {
            st.closed.push((seg.path, seg.max_expiry));
        }
        let mut kept = Vec::with_capacity(st.closed.len());
        for (path, max_expiry) in st.closed.drain(..) {
            if max_expiry < now {
                fs::remove_file(&path)?;
            } else {
                kept.push((path, max_expiry));
            }
        }
        st.closed = kept;
        let path = self.dir.join(format!("{now}-{}.log", std::process::id()));
        let mut opts = OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path)?;
        st.current = Some(Segment {
            file,
            path,
            started: now,
            max_expiry: i64::MIN,
        });
        Ok(())
    }
}

fn encode(s: &Seen) -> [u8; RECORD] {
    let mut out = [0u8; RECORD];
    let (fp, rest) = out.split_at_mut(16);
    fp.copy_from_slice(&s.fingerprint.to_le_bytes());
    let (tag, exp) = rest.split_at_mut(8);
    tag.copy_from_slice(&s.key_tag.to_le_bytes());
    exp.copy_from_slice(&s.expires_at.to_le_bytes());
    out
}

fn decode(rec: &[u8]) -> Seen {
    let mut fp = [0u8; 16];
    let mut tag = [0u8; 8];
    let mut exp = [0u8; 8];
    fp.copy_from_slice(rec.get(..16).unwrap_or(&[0; 16]));
    tag.copy_from_slice(rec.get(16..24).unwrap_or(&[0; 8]));
    exp.copy_from_slice(rec.get(24..32).unwrap_or(&[0; 8]));
    Seen {
        fingerprint: u128::from_le_bytes(fp),
        key_tag: u64::from_le_bytes(tag),
        expires_at: i64::from_le_bytes(exp),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ReplayGuard, Staleness};
    use super::*;

    #[test]
    fn a_nonce_accepted_before_a_restart_is_refused_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nonces");
        let j = NonceJournal::open(&path, 1000).unwrap();
        assert!(j.created());
        let g = ReplayGuard::with_journal(1000, j, 1000);
        assert_eq!(g.fence(), 1000, "a new journal fences what came before it");
        g.check("ak", "n1", 1000, 1000).unwrap();
        drop(g);

        let j = NonceJournal::open(&path, 1010).unwrap();
        assert!(!j.created());
        let g = ReplayGuard::with_journal(1000, j, 1010);
        assert_eq!(
            g.fence(),
            i64::MIN,
            "a journal that was there adds no fence"
        );
        assert_eq!(g.check("ak", "n1", 1000, 1010), Err(Staleness::Replayed));
        assert_eq!(g.check("ak", "n2", 1000, 1010), Ok(()));
    }

    #[test]
    fn expired_segments_are_deleted_and_a_torn_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nonces");
        let j = NonceJournal::open(&path, 0).unwrap();
        j.append(&Seen::of("ak", "old", 0), 0).unwrap();
        let segs = || fs::read_dir(&path).unwrap().count();
        assert_eq!(segs(), 1);
        // A new segment after SEGMENT_SECS; the first one's records expired at 900, so it goes.
        j.append(&Seen::of("ak", "new", 2000), 2000).unwrap();
        drop(j);
        assert_eq!(segs(), 1, "the expired segment is gone");
        // Tear the newest segment's record in half, as a crash mid-write could.
        let newest = fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .max()
            .unwrap();
        let mut bytes = fs::read(&newest).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        fs::write(&newest, bytes).unwrap();
        let j = NonceJournal::open(&path, 2001).unwrap();
        let live: Vec<_> = j.live_entries().collect();
        assert_eq!(live, vec![Seen::of("ak", "new", 2000)]);
    }
}
