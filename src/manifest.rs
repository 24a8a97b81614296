//! Manifests (provenance for every stage's output) and the rules every
//! output goes through: atomic writes, output-path checks, directory
//! ownership, advisory locks and temp-file cleanup.
//!
//! Each stage writes a manifest with its own name next to its output: the
//! stage name, crate version, seed, config, fingerprints of its inputs and
//! outputs, and summary figures. The names:
//! - `prep`: `<corpus file name>.prep.manifest.json` beside the corpus
//!   (`data/corpus.txt.prep.manifest.json`), so two corpora share a directory;
//! - `vocab`: [`VOCAB_MANIFEST`] in the vocabulary directory;
//! - `pairs`: [`SHARDS_MANIFEST`] in the shards directory;
//! - `train` and `import`: [`MODEL_MANIFEST`] in the model directory.
//!
//! Manifests written before the names were stage-specific (`manifest.json`,
//! [`LEGACY_FILE_NAME`]) are still read. The next stage reads the manifest
//! and checks that the files it is about to consume are the ones the manifest
//! describes ([`Manifest::check_output`]).
//!
//! A directory belongs to the stage whose manifest it holds: a stage refuses
//! an output directory that holds another stage's manifest ([`claim_dir`]),
//! and takes an advisory lock on it ([`lock_dir`]) so two runs never write
//! into one directory at once. Every output file goes through [`AtomicFile`]:
//! an existing output that is not a regular file (a device, a FIFO, a
//! directory) and the name `-` are refused ([`check_writable`]), temp files
//! live in a registry that a signal handler empties
//! ([`remove_temp_files`]), and stale ones of an interrupted run are removed
//! by the next run that locks the directory ([`clean_stale_temps`]).
//!
//! Fingerprints are xxh3-64 over the whole file plus its length; that is fast
//! enough (several GB/s) to run on every stage boundary.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{io_err, json_err, Error, Result};

/// The name every stage used before manifests had stage-specific names; read
/// for backward compatibility, never written.
pub const LEGACY_FILE_NAME: &str = "manifest.json";

/// The vocabulary stage's manifest.
pub const VOCAB_MANIFEST: &str = "vocab.manifest.json";

/// The pairs stage's manifest, in the shards directory.
pub const SHARDS_MANIFEST: &str = "shards.manifest.json";

/// The manifest of a model directory (`train`, `import`).
pub const MODEL_MANIFEST: &str = "model.manifest.json";

/// What ends the name of a prep manifest.
const PREP_SUFFIX: &str = ".prep.manifest.json";

/// What ends the name of every manifest this build writes.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

/// The kind of directory a stage writes into, by the manifest it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A corpus directory (`prep`; several corpora may share it).
    Prep,
    /// A vocabulary directory (`vocab`, and `pairs` for its vocabulary).
    Vocab,
    /// A shards directory (`pairs`).
    Shards,
    /// A model directory (`train`, `import`).
    Model,
}

impl Owner {
    /// The owner of a stage's output ("prep", "vocab", "pairs", "train", "import").
    pub fn of_stage(stage: &str) -> Option<Owner> {
        match stage {
            "prep" => Some(Owner::Prep),
            "vocab" => Some(Owner::Vocab),
            "pairs" => Some(Owner::Shards),
            "train" | "import" => Some(Owner::Model),
            _ => None,
        }
    }

    /// What such a directory holds, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Owner::Prep => "a prepared corpus (`w2v prep`)",
            Owner::Vocab => "a vocabulary (`w2v vocab` or `w2v pairs`)",
            Owner::Shards => "pair shards (`w2v pairs`)",
            Owner::Model => "a model (`w2v train` or `w2v import`)",
        }
    }

    /// The manifest's file name, for the owners with one fixed name.
    fn fixed_name(self) -> Option<&'static str> {
        match self {
            Owner::Prep => None,
            Owner::Vocab => Some(VOCAB_MANIFEST),
            Owner::Shards => Some(SHARDS_MANIFEST),
            Owner::Model => Some(MODEL_MANIFEST),
        }
    }
}

/// The manifest path of `stage`'s output in `dir` (not `prep`: see
/// [`prep_manifest_path`]).
pub fn manifest_path(dir: &Path, stage: &str) -> PathBuf {
    let name = Owner::of_stage(stage)
        .and_then(Owner::fixed_name)
        .unwrap_or(LEGACY_FILE_NAME);
    dir.join(name)
}

/// The directory of an output file (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The prep manifest of `corpus`: `<corpus>.prep.manifest.json` beside it.
pub fn prep_manifest_path(corpus: &Path) -> PathBuf {
    let name = corpus
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "corpus".into());
    parent_dir(corpus).join(format!("{name}{PREP_SUFFIX}"))
}

/// True for a file name that is, or could be, a w2v manifest.
pub fn is_manifest_name(name: &str) -> bool {
    name == LEGACY_FILE_NAME || name.ends_with(MANIFEST_SUFFIX)
}

/// Whether `name` is the manifest of a stage that writes a directory of its
/// own (a vocabulary, shards, a model), not prep's (which sits beside its
/// corpus among other files).
pub fn is_stage_dir_manifest_name(name: &str) -> bool {
    is_manifest_name(name) && !name.ends_with(PREP_SUFFIX)
}

/// The stage recorded in the manifest at `path`, if it reads as one.
fn stage_in(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("stage")?.as_str().map(str::to_owned)
}

/// The owners of `dir`, each with the manifest that shows it.
pub fn owners(dir: &Path) -> Vec<(Owner, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let owner = match name.as_str() {
            VOCAB_MANIFEST => Some(Owner::Vocab),
            SHARDS_MANIFEST => Some(Owner::Shards),
            MODEL_MANIFEST => Some(Owner::Model),
            LEGACY_FILE_NAME => stage_in(&e.path()).as_deref().and_then(Owner::of_stage),
            n if n.ends_with(PREP_SUFFIX) => Some(Owner::Prep),
            _ => None,
        };
        if let Some(o) = owner {
            out.push((o, e.path()));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Refuses `dir` as the output directory of `owner` when it is `-`, is not
/// a directory, or holds another stage's manifest (a mistyped `-o vocab`
/// must never replace a vocabulary).
pub fn claim_dir(dir: &Path, owner: Owner) -> Result<()> {
    claimed(dir, owner).map(drop)
}

/// [`claim_dir`], returning the manifests `dir` holds (all `owner`'s).
fn claimed(dir: &Path, owner: Owner) -> Result<Vec<(Owner, PathBuf)>> {
    if dir.as_os_str() == "-" {
        return Err(Error::InvalidConfig(
            "`-` (stdout) names no directory; give a directory for this output".into(),
        ));
    }
    if let Ok(md) = std::fs::metadata(dir) {
        if !md.is_dir() {
            return Err(Error::InvalidInput {
                path: dir.to_path_buf(),
                message: format!("is {}, not a directory", kind_of(&md)),
            });
        }
    }
    let held = owners(dir);
    match held.iter().find(|(o, _)| *o != owner) {
        Some((other, manifest)) => Err(Error::Mismatch {
            path: manifest.clone(),
            message: format!(
                "{} holds {}, not {}; write to another directory",
                dir.display(),
                other.what(),
                owner.what()
            ),
        }),
        None => Ok(held),
    }
}

/// Refuses `dir` as a new model's directory when it holds anything but a
/// model (or one killed as its files were renamed into place), an
/// unfinished run's `checkpoints/` and w2v's temp files: `train`
/// and `import` write `words.txt`, `input.npy`, `train.jsonl`, … into it,
/// and must not replace a user's files of those names (`-o ~/notes`, `-o /`).
pub fn claim_model_dir(dir: &Path) -> Result<()> {
    if !claimed(dir, Owner::Model)?.is_empty() {
        return Ok(());
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut foreign: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "checkpoints" && !is_temp_name(n))
        .collect();
    // A model killed while its files were renamed into place (the old
    // manifest goes first, the new one last; `input.npy` is the first file
    // renamed) holds model files and no manifest: it is still a model's.
    let half_written = foreign.iter().any(|n| n == "input.npy")
        && foreign
            .iter()
            .all(|n| crate::model::FILES.contains(&n.as_str()));
    if foreign.is_empty() || half_written {
        return Ok(());
    }
    foreign.sort();
    let more = foreign.len() - 1;
    Err(Error::InvalidInput {
        path: dir.to_path_buf(),
        message: format!(
            "holds {:?}{} and no model: a model is written into a new or empty directory (or over a model); choose another -o",
            foreign[0],
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ),
    })
}

/// Refuses two directories that are one (`pairs --vocab-dir X --shards-dir X`).
pub fn refuse_same_dir(a: &Path, a_flag: &str, b: &Path, b_flag: &str) -> Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canon(a) == canon(b) {
        return Err(Error::InvalidConfig(format!(
            "{a_flag} and {b_flag} are both {}; each stage needs its own directory",
            a.display()
        )));
    }
    Ok(())
}

/// Why `dir` is no directory ("does not exist", "is a regular file, not a
/// directory"), or `None` when it is one.
pub fn not_a_directory(dir: &Path) -> Option<String> {
    match std::fs::metadata(dir) {
        Err(_) => Some("does not exist".into()),
        Ok(md) if !md.is_dir() => Some(format!("is {}, not a directory", kind_of(&md))),
        Ok(_) => None,
    }
}

/// "a directory", "a FIFO", ... for an existing path that is not a regular file.
fn kind_of(md: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = md.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if md.is_dir() {
        "a directory"
    } else if md.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Refuses `path` as an output file: `-` (callers that support stdout
/// handle it before), a path that names a directory (`out/`), or an
/// existing path that is not a regular file (a device, a FIFO, a
/// directory), which a rename would silently replace.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.as_os_str() == "-" {
        return Err(Error::InvalidConfig(
            "`-` (stdout) is supported only by `w2v prep -o -` and `w2v export -o -` (text formats); give a file name".into(),
        ));
    }
    // `out/` or `out/..` names a directory, whether or not it exists yet.
    let ends_in_dir = path.as_os_str().as_encoded_bytes().ends_with(b"/");
    if ends_in_dir || path.file_name().is_none() {
        return Err(Error::InvalidInput {
            path: path.to_path_buf(),
            message: "names a directory, not a file; give a file name (such as DIR/out.txt)".into(),
        });
    }
    match std::fs::metadata(path) {
        Ok(md) if !md.is_file() => Err(Error::InvalidInput {
            path: path.to_path_buf(),
            message: format!(
                "is {}; w2v writes only regular files, give another output path",
                kind_of(&md)
            ),
        }),
        _ => Ok(()),
    }
}

/// [`check_writable`], plus the rules for an output file the user names
/// for `stage` (`prep -o`, `export -o`): not a manifest's name, not inside
/// a vocabulary, shards or model directory (up to three levels down), and
/// not a file that a manifest in its directory records as another stage's
/// output (so `export -o model/input.npy` never replaces the model it
/// reads).
pub fn check_output_path(path: &Path, stage: &str) -> Result<()> {
    check_writable(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_manifest_name(&name) {
        return Err(Error::InvalidInput {
            path: path.to_path_buf(),
            message: "is a w2v manifest's name; give another output path".into(),
        });
    }
    for (_, mpath) in owners(parent_dir(path)) {
        let Ok(text) = std::fs::read_to_string(&mpath) else {
            continue;
        };
        let Ok(m) = serde_json::from_str::<Manifest>(&text) else {
            continue;
        };
        // A stage may replace its own outputs (prep re-run on its corpus).
        let own = Owner::of_stage(&m.stage).is_some()
            && Owner::of_stage(&m.stage) == Owner::of_stage(stage);
        if !own && m.output(&name).is_some() {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                message: format!(
                    "is an output of stage '{}' ({}); give another output path",
                    m.stage,
                    mpath.display()
                ),
            });
        }
    }
    // Inside a vocabulary, shards or model directory (its own files,
    // its epoch or checkpoint subdirectories), which only its stage writes:
    // `export -o model/train.jsonl` replaced the training log, and
    // `-o shards/epoch-00/part-00000.parquet` a shard.
    let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    for dir in full.ancestors().skip(1).take(3) {
        for (owner, mpath) in owners(dir) {
            if owner != Owner::Prep && Owner::of_stage(stage) != Some(owner) {
                return Err(Error::Mismatch {
                    path: path.to_path_buf(),
                    message: format!(
                        "is inside {}, which holds {} ({}); write it outside that directory",
                        dir.display(),
                        owner.what(),
                        mpath.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// An advisory lock (`flock`) on an output directory, held until dropped.
/// The directories [`lock_dir`] had to create are removed again on drop
/// (and by [`remove_temp_files`]) when the stage left them empty, so a
/// stage that fails or is stopped before its first output leaves no empty
/// directories behind.
pub struct DirLock {
    file: Option<std::fs::File>,
    /// What `lock_dir` created, deepest first.
    created: Vec<PathBuf>,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        self.file.take();
        unregister_created(&self.created);
        remove_empty_dirs(&self.created);
    }
}

/// Removes each of `dirs` (deepest first) while it is empty; `remove_dir`
/// refuses a directory with anything in it, so outputs are never touched.
fn remove_empty_dirs(dirs: &[PathBuf]) {
    for d in dirs {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// `dir` and those of its ancestors that do not exist yet, deepest first
/// (`a/b/../c` gives `a/b/../c` and `a/b`, then `a`: a `..` or `.` step
/// names no directory of its own).
fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d {
        if p.as_os_str().is_empty() || p.exists() {
            break;
        }
        if p.file_name().is_some() {
            out.push(p.to_path_buf());
        }
        d = p.parent();
    }
    out
}

/// A directory created for an output still being written (a checkpoint's
/// `ckpt-*`): until it is dropped, [`remove_temp_files`] removes it (and the
/// parents created with it) when a stop leaves it empty.
pub struct NewDir {
    created: Vec<PathBuf>,
}

impl Drop for NewDir {
    fn drop(&mut self) {
        unregister_created(&self.created);
    }
}

/// Creates `dir` and any missing parents as a [`NewDir`].
pub fn create_new_dir(dir: &Path) -> Result<NewDir> {
    Ok(NewDir {
        created: create_registered(dir)?,
    })
}

/// `create_dir_all(dir)`, registering what it created (deepest first) for
/// [`remove_temp_files`]; on failure what it made is removed again.
fn create_registered(dir: &Path) -> Result<Vec<PathBuf>> {
    registering(|_| {
        let created = missing_dirs(dir);
        if let Err(e) = std::fs::create_dir_all(dir) {
            remove_empty_dirs(&created);
            return Err(io_err(dir, "create directory")(e));
        }
        // Resolved (`a/b/../c` is `a/c`), so that deepest-first sorts right.
        let created: Vec<PathBuf> = created
            .into_iter()
            .map(|d| std::fs::canonicalize(&d).unwrap_or(d))
            .collect();
        register_created(&created);
        Ok(created)
    })
}

/// Creates `dir` if needed and locks it, so a second w2v writing into it
/// at the same time is refused; then removes the temp files an interrupted
/// run left there ([`clean_stale_temps`]). On file systems without `flock`
/// the lock is skipped.
pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    let created = create_registered(dir)?;
    let mut lock = DirLock {
        file: None,
        created,
    };
    let file = std::fs::File::open(dir).map_err(io_err(dir, "open directory to lock"))?;
    // A reader's probe ([`is_locked`]) holds a shared lock for an instant:
    // only a lock still held after a few tries is another writer's.
    let mut tries = 0;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::InvalidInput {
                    path: dir.to_path_buf(),
                    message: "another w2v is writing into this directory (it holds the lock); wait for it to finish or choose another directory".into(),
                })
            }
            // No flock here (some network file systems): go on unlocked.
            Err(std::fs::TryLockError::Error(_)) => return Ok(lock),
        }
    }
    clean_stale_temps(dir);
    lock.file = Some(file);
    Ok(lock)
}

/// Whether a writer holds `dir`'s lock ([`lock_dir`]) now. The probe takes
/// a shared lock and drops it at once; [`lock_dir`] waits out such an
/// instant before it calls the directory taken.
pub fn is_locked(dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(dir) else {
        return false;
    };
    matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

/// Whether `dir` holds temp files ([`AtomicFile`]'s, or a staging
/// directory): outputs being written, or left by a killed run.
pub fn has_temps(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(is_temp_name))
    })
}

/// True for the name of an [`AtomicFile`] temp file (`.NAME.XXXXXX.tmp`) or
/// a staging directory (`.w2v-staging-XXXXXX`).
fn is_temp_name(name: &str) -> bool {
    if name.starts_with(STAGING_PREFIX) {
        return true;
    }
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    match inner.rsplit_once('.') {
        Some((stem, rand)) => {
            !stem.is_empty() && rand.len() == 6 && rand.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// The prefix of a staging directory (see [`staging_dir`]).
const STAGING_PREFIX: &str = ".w2v-staging-";

/// Removes the temp files and staging directories that an interrupted run
/// left in `dir` (call it only while holding the directory's lock).
pub fn clean_stale_temps(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_temp_name(&name) {
            continue;
        }
        let _ = match e.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(e.path()),
            _ => std::fs::remove_file(e.path()),
        };
    }
}

/// Commits in flight, and whether a stop has begun ([`commit_guard`],
/// [`hold_commits`]).
static COMMITS: Mutex<(usize, bool)> = Mutex::new((0, false));
static COMMITS_ENDED: std::sync::Condvar = std::sync::Condvar::new();

/// Held while a stage renames its finished outputs into place: from the
/// old manifest's removal to the new manifest's arrival, the directory has
/// none. A stop ([`hold_commits`]) waits for the guard, so an interrupted
/// run leaves the old outputs or the new ones, each with its manifest,
/// never a directory that the next stage refuses; the thread that
/// committed then goes no further, and the process exits as stopped. The
/// window is renames only, so the wait is short.
pub struct CommitGuard(());

thread_local! {
    /// The commit guards this thread holds (a commit inside a commit:
    /// `pairs` commits its vocabulary inside its shards' commit).
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Enters a commit; once a stop has begun, waits for the exit instead (the
/// old outputs stay as they are), unless this thread is inside a commit
/// already, which must run to its end.
pub fn commit_guard() -> CommitGuard {
    let mut g = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    if HELD.get() == 0 {
        while g.1 {
            g = COMMITS_ENDED.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
    g.0 += 1;
    HELD.set(HELD.get() + 1);
    CommitGuard(())
}

impl Drop for CommitGuard {
    fn drop(&mut self) {
        let mut g = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        HELD.set(HELD.get() - 1);
        COMMITS_ENDED.notify_all();
        if g.1 && HELD.get() == 0 {
            // A stop came during the commit: the stop's thread exits the
            // process now (130, 143, 129), and this thread must not win
            // that race by finishing the stage with 0.
            drop(g);
            loop {
                std::thread::park();
            }
        }
    }
}

/// Test hook: `W2V_FAULT_COMMIT_DELAY_MS` holds a commit back that long
/// once the old manifest is gone, so that a test can send a stop signal
/// inside the window.
pub fn commit_pause() {
    if let Some(ms) = std::env::var("W2V_FAULT_COMMIT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// For a stop signal, before [`remove_temp_files`] and the exit: waits for
/// the commits in flight to end, and lets no other begin.
pub fn hold_commits() {
    let mut g = COMMITS.lock().unwrap_or_else(|e| e.into_inner());
    g.1 = true;
    while g.0 > 0 {
        g = COMMITS_ENDED.wait(g).unwrap_or_else(|e| e.into_inner());
    }
}

/// Temp files and staging directories in use, for [`remove_temp_files`].
static LIVE_TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Runs `f` (which creates something and registers it) while holding the
/// temp registry, so the signal handler's sweep ([`remove_temp_files`]) sees
/// all of it or none of it. After the sweep the registry stays held until
/// the process exits, so no thread creates anything after it.
fn registering<T>(f: impl FnOnce(&mut Vec<PathBuf>) -> T) -> T {
    let mut live = LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut live)
}

/// `create_dir_all(dir)` for a directory inside a staging directory or
/// other temp output: held against the signal handler's sweep like a temp
/// file, so a swept staging directory is not created again on the way out.
pub fn create_temp_subdir(dir: &Path) -> Result<()> {
    registering(|_| std::fs::create_dir_all(dir)).map_err(io_err(dir, "create directory"))
}

/// Directories a live [`DirLock`] created, for [`remove_temp_files`].
static LIVE_CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register_created(dirs: &[PathBuf]) {
    let mut v = LIVE_CREATED.lock().unwrap_or_else(|e| e.into_inner());
    v.extend(dirs.iter().cloned());
}

fn unregister_created(dirs: &[PathBuf]) {
    let mut v = LIVE_CREATED.lock().unwrap_or_else(|e| e.into_inner());
    v.retain(|d| !dirs.contains(d));
}

fn unregister_temp(p: &Path) {
    registering(|v| {
        if let Some(i) = v.iter().rposition(|x| x == p) {
            v.swap_remove(i);
        }
    })
}

/// Removes every temp file and staging directory this process has open,
/// then the new output directories that leaves empty, and returns how many
/// temp files and directories there were. For a SIGINT/SIGTERM handler
/// that then exits (the writers are not told): the registry stays held
/// from here on, so another thread that goes on writing blocks before it
/// creates anything new, instead of leaving it behind.
pub fn remove_temp_files() -> usize {
    let mut live = LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner());
    let paths = std::mem::take(&mut *live);
    // Held until the process exits (see above).
    std::mem::forget(live);
    for p in &paths {
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
    }
    // Then the output directories this run created, where that left them
    // empty, deepest first (two locks may share a new parent).
    let mut dirs = LIVE_CREATED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in &dirs {
        let _ = std::fs::remove_dir(d);
    }
    paths.len()
}

/// A hidden directory in `dir` to build a new output set in before it is
/// swapped in; removed when dropped (and by [`remove_temp_files`]).
pub struct StagingDir {
    dir: tempfile::TempDir,
}

/// Creates a [`StagingDir`] inside `dir`.
pub fn staging_dir(dir: &Path) -> Result<StagingDir> {
    let t = registering(|live| {
        let t = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(dir)?;
        live.push(t.path().to_path_buf());
        Ok(t)
    })
    .map_err(io_err(dir, "create a staging directory in"))?;
    Ok(StagingDir { dir: t })
}

impl StagingDir {
    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        unregister_temp(self.dir.path());
    }
}

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
    /// Where it was read from or last written to (not stored).
    #[serde(skip)]
    pub source: PathBuf,
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
            source: PathBuf::new(),
        }
    }

    /// Writes this stage's manifest into `dir` atomically ([`manifest_path`];
    /// a prep manifest goes through [`Manifest::write_to`]).
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        self.write_to(&manifest_path(dir, &self.stage))
    }

    /// Writes the manifest to `path` atomically, then removes a legacy
    /// `manifest.json` beside it that described the same output.
    pub fn write_to(&mut self, path: &Path) -> Result<()> {
        self.prepare(path)?.commit()
    }

    /// Writes the manifest for `path` under a temp name, to be renamed into
    /// place by [`PendingManifest::commit`] (see [`commit_with_manifest`]).
    pub fn prepare(&mut self, path: &Path) -> Result<PendingManifest> {
        let text = serde_json::to_string_pretty(self).map_err(json_err(path, "encode manifest"))?;
        let mut f = AtomicFile::create(path)?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io_err(path, "write"))?;
        let file = f.finish()?;
        self.source = path.to_path_buf();
        Ok(PendingManifest {
            file,
            path: path.to_path_buf(),
            stage: self.stage.clone(),
            outputs: self.outputs.clone(),
        })
    }

    /// Reads `stage`'s manifest in `dir` (the legacy `manifest.json` when
    /// there is none) and checks it was written by `stage`.
    pub fn read(dir: &Path, stage: &str) -> Result<Manifest> {
        let path = manifest_path(dir, stage);
        if !path.exists() && !parent_dir(&path).join(LEGACY_FILE_NAME).is_file() {
            // Say what is wrong with the directory, not only that the
            // manifest cannot be opened.
            let what = not_a_directory(dir)
                .unwrap_or_else(|| format!("holds no {}", file_name(&path.to_string_lossy())));
            return Err(Error::InvalidInput {
                path: dir.to_path_buf(),
                message: format!(
                    "{what}: give the directory `w2v {stage}` wrote, or run `w2v {stage}` first"
                ),
            });
        }
        Self::read_at(&path, stage)
    }

    /// The prep manifest of `corpus` (or the legacy one beside it).
    pub fn read_prep(corpus: &Path) -> Result<Manifest> {
        Self::read_at(&prep_manifest_path(corpus), "prep")
    }

    /// Reads the manifest at `path`, or the legacy `manifest.json` in its
    /// directory when `path` does not exist.
    fn read_at(path: &Path, stage: &str) -> Result<Manifest> {
        let legacy = parent_dir(path).join(LEGACY_FILE_NAME);
        let path = if !path.exists() && legacy.is_file() {
            legacy
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&path).map_err(io_err(&path, "read manifest"))?;
        let mut m: Manifest =
            serde_json::from_str(&text).map_err(json_err(&path, "parse manifest"))?;
        if m.stage != stage {
            return Err(Error::Mismatch {
                path,
                message: format!("written by stage '{}', expected '{stage}'", m.stage),
            });
        }
        m.source = path;
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
        let _ = dir;
        let want = self.output(name).ok_or_else(|| Error::Mismatch {
            path: self.source.clone(),
            message: format!("does not list {name}; re-run the '{}' stage", self.stage),
        })?;
        let got = fingerprint(path)?;
        if got.bytes != want.bytes || got.xxh3 != want.xxh3 {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                message: format!(
                    "does not match {} (fingerprint {} vs {}); it changed after the '{}' stage wrote it, re-run that stage",
                    self.source.display(),
                    got.xxh3,
                    want.xxh3,
                    self.stage
                ),
            });
        }
        Ok(got)
    }
}

/// A manifest written under a temp name, not yet in place ([`Manifest::prepare`]).
pub struct PendingManifest {
    file: Finished,
    path: PathBuf,
    stage: String,
    outputs: Vec<Fingerprint>,
}

impl PendingManifest {
    /// Renames it into place, then removes a legacy `manifest.json` beside
    /// it that described the same output.
    pub fn commit(self) -> Result<()> {
        self.file.commit()?;
        remove_legacy(parent_dir(&self.path), &self.stage, &self.outputs);
        Ok(())
    }
}

/// The last step of a stage that replaces several files: each is already
/// written and synced under a temp name (where a full disk or a kill
/// strikes, leaving the old outputs as they were). Removes the old
/// manifest, renames the files into place, then the new manifest. Only
/// renames, so the window is short; a directory caught inside it has no
/// manifest and is refused, never read as a mix of old and new files.
pub fn commit_with_manifest(files: Vec<Finished>, manifest: PendingManifest) -> Result<()> {
    let _commit = commit_guard();
    match std::fs::remove_file(&manifest.path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_err(&manifest.path, "remove the old manifest")(e))
        }
        _ => {}
    }
    commit_pause();
    for f in files {
        f.commit()?;
    }
    manifest.commit()
}

/// Removes `dir/manifest.json` when it is a legacy manifest of `stage`
/// describing one of `outputs` (its replacement has just been written).
pub fn remove_legacy(dir: &Path, stage: &str, outputs: &[Fingerprint]) {
    let legacy = dir.join(LEGACY_FILE_NAME);
    let Ok(text) = std::fs::read_to_string(&legacy) else {
        return;
    };
    let Ok(old) = serde_json::from_str::<Manifest>(&text) else {
        return;
    };
    let same_owner = Owner::of_stage(&old.stage) == Owner::of_stage(stage);
    let same_output = stage != "prep"
        || outputs
            .iter()
            .any(|f| old.output(file_name(&f.path)).is_some());
    if same_owner && same_output {
        let _ = std::fs::remove_file(&legacy);
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

/// Serializes an `f32` setting as the shortest decimal that reads back as
/// it (`0.1`, not its f64 widening `0.10000000149011612`), so a manifest
/// shows what was typed. It reads back into the same `f32`.
pub fn short_f32<S: serde::Serializer>(x: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(x.to_string().parse::<f64>().unwrap_or(f64::from(*x)))
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
    /// Opens a temp file next to `path`, after [`check_writable`].
    pub fn create(path: &Path) -> Result<Self> {
        check_writable(path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        // Created and registered at once (see `registering`).
        let (tmp, file) = registering(|live| {
            std::fs::create_dir_all(&dir).map_err(io_err(&dir, "create directory"))?;
            let tmp = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".tmp")
                .tempfile_in(&dir)
                .map_err(io_err(path, "create temp file for"))?;
            let file = tmp.reopen().map_err(io_err(path, "open temp file for"))?;
            live.push(tmp.path().to_path_buf());
            Ok::<_, Error>((tmp, file))
        })?;
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
    pub fn commit(self) -> Result<()> {
        self.finish()?.commit()
    }

    /// Flushes and syncs, but does not rename yet: a stage that replaces
    /// several files writes them all first (where a full disk or a kill
    /// strikes) and renames them together at the end ([`Finished::commit`]).
    pub fn finish(mut self) -> Result<Finished> {
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
        Ok(Finished {
            tmp: self.tmp.take(),
            path: self.path.clone(),
        })
    }
}

/// An [`AtomicFile`] written and synced under its temp name, waiting for
/// its rename ([`Finished::commit`]); dropped without it, the temp file is
/// removed.
pub struct Finished {
    tmp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl Finished {
    /// The temp file holding the content (to fingerprint it before the rename).
    pub fn temp_path(&self) -> &Path {
        self.tmp
            .as_ref()
            .map(|t| t.path())
            .expect("Finished used after commit")
    }

    /// The fingerprint of the content, under the final path.
    pub fn fingerprint(&self) -> Result<Fingerprint> {
        let mut fp = fingerprint(self.temp_path())?;
        fp.path = self.path.display().to_string();
        Ok(fp)
    }

    /// Renames the temp file into place.
    pub fn commit(mut self) -> Result<()> {
        let tmp = self.tmp.take().expect("Finished used after commit");
        let tmp_path = tmp.path().to_path_buf();
        let done = tmp
            .persist(&self.path)
            .map_err(|e| e.error)
            .map_err(io_err(&self.path, "rename into place"));
        unregister_temp(&tmp_path);
        done.map(|_| ())
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        if let Some(t) = &self.tmp {
            unregister_temp(t.path());
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed: the temp file goes (NamedTempFile removes it).
        if let Some(t) = &self.tmp {
            unregister_temp(t.path());
        }
    }
}

/// Where a stage that supports `-o -` writes: a file replaced atomically on
/// [`Sink::commit`], or stdout.
pub enum Sink {
    /// An [`AtomicFile`].
    File(AtomicFile),
    /// Standard output, buffered.
    Stdout(std::io::BufWriter<std::io::Stdout>),
}

impl Sink {
    /// Stdout for `-`, else an [`AtomicFile`] at `path`.
    pub fn create(path: &Path) -> Result<Sink> {
        if path.as_os_str() == "-" {
            Ok(Sink::Stdout(std::io::BufWriter::with_capacity(
                1 << 20,
                std::io::stdout(),
            )))
        } else {
            AtomicFile::create(path).map(Sink::File)
        }
    }

    /// True when writing to stdout.
    pub fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout(_))
    }

    /// [`AtomicFile::finish`] for a file (its rename is the caller's), or
    /// flushes stdout.
    pub fn finish(self) -> Result<Option<Finished>> {
        match self {
            Sink::File(f) => f.finish().map(Some),
            Sink::Stdout(mut o) => std::io::Write::flush(&mut o)
                .map_err(io_err("<stdout>", "write to"))
                .map(|()| None),
        }
    }

    /// Commits the file, or flushes stdout.
    pub fn commit(self) -> Result<()> {
        match self {
            Sink::File(f) => f.commit(),
            Sink::Stdout(mut o) => {
                std::io::Write::flush(&mut o).map_err(io_err("<stdout>", "write to"))
            }
        }
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(data),
            Sink::Stdout(o) => o.write(data),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stdout(o) => o.flush(),
        }
    }
}

/// Test hook: once the process has written this many bytes through
/// [`AtomicFile`]s, every further write fails with `ENOSPC` ("No space left
/// on device"), as on a full disk. Read once; not for users.
pub const FAULT_ENOSPC_AFTER_BYTES: &str = "W2V_FAULT_ENOSPC_AFTER_BYTES";

/// How many of `n` bytes the [`FAULT_ENOSPC_AFTER_BYTES`] hook lets through
/// (all of them when it is not set), or its `ENOSPC` error when none.
fn fault_allowance(n: usize) -> std::io::Result<usize> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    static WRITTEN: AtomicU64 = AtomicU64::new(0);
    let limit = LIMIT.get_or_init(|| {
        std::env::var(FAULT_ENOSPC_AFTER_BYTES)
            .ok()
            .and_then(|v| v.trim().parse().ok())
    });
    let Some(limit) = *limit else {
        return Ok(n);
    };
    let before = WRITTEN.fetch_add(n as u64, Ordering::Relaxed);
    match limit.saturating_sub(before) {
        0 if n > 0 => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
        left => Ok(n.min(left as usize)),
    }
}

impl std::io::Write for AtomicFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let data = &data[..fault_allowance(data.len())?];
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
    fn f32_settings_are_written_as_typed_and_read_back_unchanged() {
        let mut c = crate::train::TrainConfig {
            lr: 0.1,
            own_weight: 4.0,
            ..Default::default()
        };
        c.output_weight = 0.3;
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains("\"lr\":0.1,"), "{j}");
        assert!(j.contains("\"output_weight\":0.3"), "{j}");
        assert!(j.contains("\"own_weight\":4.0"), "{j}");
        assert!(!j.contains("0.10000000149"), "{j}");
        let back: crate::train::TrainConfig = serde_json::from_str(&j).unwrap();
        assert_eq!((back.lr, back.output_weight), (0.1f32, 0.3f32));
        // A manifest written before, with the f64 widening, reads the same.
        let old = j.replace("\"lr\":0.1,", "\"lr\":0.10000000149011612,");
        let back: crate::train::TrainConfig = serde_json::from_str(&old).unwrap();
        assert_eq!(back.lr, 0.1f32);
        assert!(back.resume_conflicts(&c).is_empty());
    }

    #[test]
    fn a_lock_removes_the_directories_it_created_when_they_stay_empty() {
        let d = tempfile::tempdir().unwrap();
        // New and nested: both levels go when nothing was written.
        let deep = d.path().join("a/b");
        drop(lock_dir(&deep).unwrap());
        assert!(!d.path().join("a").exists());
        // An output written: everything stays.
        let lock = lock_dir(&deep).unwrap();
        std::fs::write(deep.join("out"), "x").unwrap();
        drop(lock);
        assert!(deep.join("out").exists());
        // A directory that was there before stays, empty or not.
        let old = d.path().join("old");
        std::fs::create_dir(&old).unwrap();
        drop(lock_dir(&old).unwrap());
        assert!(old.is_dir());
        // A `..` step: `x` is created on the way to `y` (`x/../y`), and
        // both go.
        drop(lock_dir(&d.path().join("x/../y")).unwrap());
        assert!(!d.path().join("x").exists() && !d.path().join("y").exists());
        // Two locks sharing a new parent, dropped as a stage's locals are.
        let (x, y) = (d.path().join("p/x"), d.path().join("p/y"));
        let lx = lock_dir(&x).unwrap();
        let ly = lock_dir(&y).unwrap();
        drop(ly);
        drop(lx);
        assert!(!d.path().join("p").exists());
    }

    #[test]
    fn a_model_killed_mid_rename_is_still_a_models_directory() {
        let d = tempfile::tempdir().unwrap();
        let at = |files: &[&str]| {
            let dir = d.path().join(files.join("+"));
            std::fs::create_dir(&dir).unwrap();
            for f in files {
                std::fs::write(dir.join(f), "x").unwrap();
            }
            claim_model_dir(&dir)
        };
        // The old manifest removed, the new files renamed, the kill before
        // the new manifest: rerunning into it must not be refused for good.
        at(&["input.npy", "norms.npy", "words.txt"]).unwrap();
        at(&["input.npy"]).unwrap();
        // A user's files, even of a model's names, without the vectors.
        let e = at(&["words.txt", "train.jsonl"]).unwrap_err().to_string();
        assert!(e.contains("and no model"), "{e}");
        assert!(at(&["input.npy", "notes.txt"]).is_err());
    }

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
