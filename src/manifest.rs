//! `manifest.json`: provenance for every stage's output directory.
//!
//! Each stage writes one next to its output: the stage name, crate version,
//! seed, config, fingerprints of its inputs and outputs, and summary figures.
//! The next stage reads it and checks that the files it is about to consume
//! are the ones the manifest describes ([`Manifest::check_output`]).
//!
//! Fingerprints are xxh3-64 over the whole file plus its length; that is fast
//! enough (several GB/s) to run on every stage boundary.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{io_err, json_err, Error, Result};

/// File name used by every stage.
pub const FILE_NAME: &str = "manifest.json";

/// The fingerprint of one file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fingerprint {
    /// The path as given (relative paths stay relative).
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-64 of the content, hex.
    pub xxh3: String,
}

/// Provenance of one stage's output.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Which stage wrote this ("prep", "vocab", "pairs", "train", ...).
    pub stage: String,
    /// `w2v` crate version.
    pub version: String,
    /// The master seed.
    pub seed: u64,
    /// The stage's full config.
    pub config: serde_json::Value,
    /// Fingerprints of the files read.
    pub inputs: Vec<Fingerprint>,
    /// Fingerprints of the files written.
    pub outputs: Vec<Fingerprint>,
    /// Stage-specific figures (counts, timings).
    pub summary: serde_json::Value,
    /// Seconds since the Unix epoch when written.
    pub created_unix: u64,
}

impl Manifest {
    /// A manifest for `stage` with no files yet.
    pub fn new(stage: &str, seed: u64, config: &impl Serialize) -> Self {
        Manifest {
            stage: stage.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            seed,
            config: serde_json::to_value(config).unwrap_or(serde_json::Value::Null),
            inputs: Vec::new(),
            outputs: Vec::new(),
            summary: serde_json::Value::Null,
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE_NAME);
        let text =
            serde_json::to_string_pretty(self).map_err(json_err(&path, "encode manifest"))?;
        write_atomic(&path, text.as_bytes())
    }

    /// Reads `dir/manifest.json` and checks it was written by `stage`.
    pub fn read(dir: &Path, stage: &str) -> Result<Manifest> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(io_err(&path, "read manifest"))?;
        let m: Manifest = serde_json::from_str(&text).map_err(json_err(&path, "parse manifest"))?;
        if m.stage != stage {
            return Err(Error::Mismatch {
                path,
                message: format!("written by stage '{}', expected '{stage}'", m.stage),
            });
        }
        Ok(m)
    }

    /// The recorded fingerprint of an output whose file name is `name`.
    pub fn output(&self, name: &str) -> Option<&Fingerprint> {
        self.outputs
            .iter()
            .find(|f| file_name(&f.path) == file_name(name))
    }

    /// Checks that `path` is byte-for-byte the output this manifest recorded
    /// under the same file name.
    pub fn check_output(&self, dir: &Path, path: &Path) -> Result<Fingerprint> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let want = self.output(name).ok_or_else(|| Error::Mismatch {
            path: dir.join(FILE_NAME),
            message: format!("does not list {name}; re-run the '{}' stage", self.stage),
        })?;
        let got = fingerprint(path)?;
        if got.bytes != want.bytes || got.xxh3 != want.xxh3 {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                message: format!(
                    "does not match {} (fingerprint {} vs {}); it changed after the '{}' stage wrote it, re-run that stage",
                    dir.join(FILE_NAME).display(),
                    got.xxh3,
                    want.xxh3,
                    self.stage
                ),
            });
        }
        Ok(got)
    }
}

fn file_name(p: &str) -> &str {
    Path::new(p)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(p)
}

/// Streams `path` through xxh3.
pub fn fingerprint(path: &Path) -> Result<Fingerprint> {
    fingerprint_unless(path, &std::sync::atomic::AtomicBool::new(false))
}

/// The fingerprint of `bytes`: what [`fingerprint`] gives for a file
/// holding exactly them (for checking data already read into memory).
pub fn fingerprint_bytes(path: &Path, bytes: &[u8]) -> Fingerprint {
    Fingerprint {
        path: path.display().to_string(),
        bytes: bytes.len() as u64,
        xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)),
    }
}

/// [`fingerprint`], giving up with [`Error::Cancelled`] once `stop` is set
/// (checked every MiB).
pub fn fingerprint_unless(
    path: &Path,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Fingerprint> {
    let mut f = std::fs::File::open(path).map_err(io_err(path, "open for fingerprint"))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(io_err(path, "read for fingerprint"))?;
        if n == 0 {
            break;
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    Ok(Fingerprint {
        path: path.display().to_string(),
        bytes,
        xxh3: format!("{:016x}", h.digest()),
    })
}

/// Writes `bytes` to `path` through a temp file in the same directory and a
/// rename, so a crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut w = AtomicFile::create(path)?;
    std::io::Write::write_all(&mut w, bytes).map_err(io_err(path, "write"))?;
    w.commit()
}

/// A file written under a temp name and renamed into place on [`commit`].
/// Dropped without commit, the temp file is removed.
///
/// [`commit`]: AtomicFile::commit
pub struct AtomicFile {
    tmp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
    buf: Option<std::io::BufWriter<std::fs::File>>,
    /// Bytes written since the background writeback was last asked for.
    unsynced: u64,
    /// Large files are written back by a helper thread as they grow, so
    /// that the `fsync` at [`AtomicFile::commit`] has little left to wait for.
    syncer: Option<Syncer>,
}

/// A thread that runs `sync_data` on a file whenever asked.
struct Syncer {
    ask: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// Bytes between background writebacks of an [`AtomicFile`].
const SYNC_EVERY: u64 = 16 << 20;

impl AtomicFile {
    /// Opens a temp file next to `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io_err(&dir, "create directory"))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io_err(path, "create temp file for"))?;
        let file = tmp.reopen().map_err(io_err(path, "open temp file for"))?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            path: path.to_path_buf(),
            buf: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            unsynced: 0,
            syncer: None,
        })
    }

    /// Asks for a background writeback of what is written so far (at most
    /// one in flight; errors surface at the final sync).
    fn writeback(&mut self) {
        let Some(file) = self.buf.as_ref().map(|b| b.get_ref()) else {
            return;
        };
        if self.syncer.is_none() {
            let Ok(file) = file.try_clone() else {
                return;
            };
            let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
            let thread = std::thread::spawn(move || {
                for () in asked {
                    let _ = file.sync_data();
                }
            });
            self.syncer = Some(Syncer { ask, thread });
        }
        if let Some(s) = &self.syncer {
            let _ = s.ask.try_send(());
        }
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<()> {
        if let Some(s) = self.syncer.take() {
            drop(s.ask);
            let _ = s.thread.join();
        }
        let buf = self.buf.take().expect("AtomicFile used after commit");
        let file = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .map_err(io_err(&self.path, "flush"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Temp files are created 0600; outputs are ordinary files.
            file.set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(io_err(&self.path, "set permissions on"))?;
        }
        file.sync_all().map_err(io_err(&self.path, "sync"))?;
        let tmp = self.tmp.take().expect("AtomicFile used after commit");
        tmp.persist(&self.path)
            .map_err(|e| e.error)
            .map_err(io_err(&self.path, "rename into place"))?;
        Ok(())
    }
}

impl std::io::Write for AtomicFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self
            .buf
            .as_mut()
            .expect("AtomicFile used after commit")
            .write(data)?;
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.unsynced = 0;
            self.writeback();
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.buf
            .as_mut()
            .expect("AtomicFile used after commit")
            .flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fingerprint_of_bytes_equals_that_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.txt");
        let text = "ёлка\nелка\n".repeat(1000);
        std::fs::write(&p, &text).unwrap();
        assert_eq!(
            fingerprint(&p).unwrap(),
            fingerprint_bytes(&p, text.as_bytes())
        );
    }

    #[test]
    fn atomic_file_with_background_writeback_commits_everything_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // 40 MiB crosses SYNC_EVERY twice: the writeback thread runs.
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let write = |path: &Path| {
            let mut f = AtomicFile::create(path).unwrap();
            for _ in 0..40 {
                f.write_all(&chunk).unwrap();
            }
            assert!(f.syncer.is_some());
            f
        };
        let done = dir.path().join("done.bin");
        write(&done).commit().unwrap();
        let back = std::fs::read(&done).unwrap();
        assert_eq!(back.len(), 40 << 20);
        assert!(back.chunks(1 << 20).all(|c| c == chunk.as_slice()));
        // Dropped before commit: no output, and no temp file left behind.
        drop(write(&dir.path().join("dropped.bin")));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("done.bin")]);
    }
}
