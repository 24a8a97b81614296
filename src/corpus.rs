//! Corpus readers: every input format `prep` accepts, as a stream of text
//! units.
//!
//! In: files, directories (walked recursively, sorted) and `-` (stdin).
//! Out: calls to a sink with one *unit* of raw text at a time: a line of a
//! plain-text file, a JSONL record's text field, a parquet row, a sentence of
//! CoNLL-U, a document inside a Taiga archive. Nothing is unpacked to disk
//! and memory stays bounded: lines longer than `max_line_bytes` are cut at
//! the last whitespace before the limit.
//!
//! Formats are detected by extension, then by magic bytes, or forced:
//! - plain text (`.txt`, anything unrecognised), gzip and zstd wrappers,
//!   found by their magic numbers whatever the name says (a `.gz` that is
//!   plain text is read as text);
//! - JSON Lines (`.jsonl`, `.ndjson`, `.json`) with a string field;
//! - parquet (`.parquet`, magic `PAR1`) with a string column, read one
//!   record batch at a time (row group by row group);
//! - Taiga archives (`.tar`, `.tar.gz`, `.tgz`, `.tar.zst`, `.zip`): `.txt`
//!   entries under `texts/` (any depth, e.g. `texts/2015/03/x.txt`) are
//!   documents; `tagged_texts/`, `meta/` and metadata tables are skipped;
//!   a leading BOM and the social segment's `DataBaseItem: <id>` separator
//!   lines are removed; `.conllu` entries are read as CoNLL-U;
//! - CoNLL-U (`.conllu`): `# text =` lines, or the FORM column rebuilt.
//!
//! A directory is walked with the archive rule: the files an archive entry
//! would be skipped as (metadata, or a kind such as `.csv` or `.pdf`) are
//! passed over and counted, so an unpacked Taiga reads as its archive does.
//! A file named on the command line is always read.
//!
//! `min_cyrillic_share` drops units whose letters are mostly non-Cyrillic
//! (the Subtitles segment ships English files beside Russian ones), and
//! `skip_pattern` drops archive entries and walked files whose path (inside
//! the archive, or under the directory named) matches a regex.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::encoding::{self, EncodingChoice};
use crate::error::{invalid, io_err, pq_err, Error, Result};

/// An input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Jsonl,
    Parquet,
    Tar,
    Zip,
    Conllu,
}

impl Format {
    /// The `--format` value that names it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
            Format::Tar => "tar",
            Format::Zip => "zip",
            Format::Conllu => "conllu",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "text" | "txt" => Format::Text,
            "jsonl" | "ndjson" => Format::Jsonl,
            "parquet" => Format::Parquet,
            "tar" => Format::Tar,
            "zip" => Format::Zip,
            "conllu" => Format::Conllu,
            _ => {
                return Err(format!(
                    "unknown format '{s}' (text, jsonl, parquet, tar, zip, conllu)"
                ))
            }
        })
    }
}

/// A stream compression wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// How inputs are read.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ReadConfig {
    /// Force a format instead of detecting it. By default, detect.
    pub format: Option<Format>,
    /// JSONL field holding the text. By default, `text`.
    pub text_field: String,
    /// Parquet column holding the text. By default, `text`.
    pub text_column: String,
    /// Drop units whose Cyrillic share of letters is below this. By default, 0 (off).
    #[serde(serialize_with = "crate::manifest::short_f32")]
    pub min_cyrillic_share: f32,
    /// Drop archive entries whose path matches this regex. By default, none.
    pub skip_pattern: Option<String>,
    /// Longest line held in memory before it is cut at whitespace. By default, 1 MiB.
    pub max_line_bytes: usize,
    /// The text encoding, or `auto` to decide per document by content
    /// ([`crate::encoding`]). By default, auto.
    pub encoding: EncodingChoice,
    /// Keep documents whose invalid UTF-8 exceeds
    /// [`crate::encoding::MAX_INVALID_SHARE`] (replaced by U+FFFD) instead of
    /// refusing them. By default, false.
    pub allow_invalid: bool,
}

impl Default for ReadConfig {
    fn default() -> Self {
        ReadConfig {
            format: None,
            text_field: "text".into(),
            text_column: "text".into(),
            min_cyrillic_share: 0.0,
            skip_pattern: None,
            max_line_bytes: 1 << 20,
            encoding: EncodingChoice::Auto,
            allow_invalid: false,
        }
    }
}

/// One input file (or stdin) with its detected format.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Input {
    /// Written as text, lossily where the name is not UTF-8 (a `PathBuf`
    /// that is not fails to serialize, and the manifest's summary was lost).
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    pub format: Format,
    pub compression: Compression,
    pub bytes: u64,
}

fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// Counters filled while reading.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReadStats {
    /// Raw bytes read from disk (compressed size for compressed inputs).
    pub bytes_in: u64,
    /// Text units handed to the sink.
    pub units: u64,
    /// Invalid UTF-8 sequences replaced by U+FFFD.
    pub invalid_utf8: u64,
    /// Lines cut because they exceeded `max_line_bytes`.
    pub long_lines_cut: u64,
    /// Archive entries skipped (metadata, tagged texts, other file types).
    pub skipped_entries: u64,
    /// Of those, entries of a kind prep does not read inside an archive
    /// (parquet, csv, ...), not metadata.
    #[serde(default)]
    pub unread_entries: u64,
    /// The first [`UNREAD_EXAMPLES`] of them, as `archive/entry`.
    #[serde(default)]
    pub unread_examples: Vec<String>,
    /// Files a directory walk passed over as metadata (the archive rule,
    /// `--skip-pattern` included).
    #[serde(default)]
    pub walk_metadata: u64,
    /// Files a directory walk passed over as a kind prep reads only when
    /// named (`.csv`, `.pdf`, ...), and the first [`UNREAD_EXAMPLES`].
    #[serde(default)]
    pub walk_unread: u64,
    #[serde(default)]
    pub walk_unread_examples: Vec<String>,
    /// The first [`UNREAD_EXAMPLES`] files passed over as metadata.
    #[serde(default)]
    pub walk_metadata_examples: Vec<String>,
    /// Entries a directory walk found that are not regular files or
    /// directories (FIFOs, sockets, devices, dangling links): never read,
    /// since reading a FIFO would block forever.
    #[serde(default)]
    pub walk_special: u64,
    #[serde(default)]
    pub walk_special_examples: Vec<String>,
    /// w2v's own outputs a walk passed over: corpora prep wrote (their
    /// manifest beside them) and the directories of later stages.
    #[serde(default)]
    pub walk_own_outputs: u64,
    /// Inputs given more than once (named and also found in a directory,
    /// or reached through a link), read once.
    #[serde(default)]
    pub duplicates: u64,
    /// Units dropped by `min_cyrillic_share`.
    pub non_cyrillic_dropped: u64,
    /// JSONL lines that were not JSON or had no string text field.
    pub bad_records: u64,
    /// Of those, the lines that were not JSON at all.
    #[serde(default)]
    pub not_json: u64,
    /// The first [`INVALID_FILES_LISTED`] documents with such lines, with
    /// how many each.
    #[serde(default)]
    pub bad_record_files: Vec<(String, u64)>,
    /// Input files with no content.
    pub empty_files: Vec<String>,
    /// Documents kept with invalid UTF-8 replaced, with how many sequences
    /// each (the first [`INVALID_FILES_LISTED`]; `invalid_utf8` counts all).
    #[serde(default)]
    pub invalid_files: Vec<(String, u64)>,
    /// Documents (files, stdin, archive entries) read in an encoding other
    /// than UTF-8, by encoding.
    #[serde(default)]
    pub decoded: std::collections::BTreeMap<String, u64>,
}

/// How many unread archive entries [`ReadStats::unread_examples`] names.
pub const UNREAD_EXAMPLES: usize = 3;

/// Keeps the first [`UNREAD_EXAMPLES`] paths of one kind for a message.
fn note_example(examples: &mut Vec<String>, path: &Path) {
    if examples.len() < UNREAD_EXAMPLES {
        examples.push(crate::error::shown(&path.display().to_string()));
    }
}

/// " (such as a, b)" for a message, or nothing when there are no examples.
pub fn such_as<S: AsRef<str>>(examples: &[S]) -> String {
    if examples.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = examples.iter().map(|s| s.as_ref()).collect();
    format!(" (such as {})", shown.join(", "))
}

/// What [`entry_kind`] does with an archive entry or a walked file.
enum EntryKind {
    Read(Format),
    Metadata,
    Unread,
}

/// How many documents with invalid UTF-8 [`ReadStats::invalid_files`] names.
pub const INVALID_FILES_LISTED: usize = 20;

impl ReadStats {
    /// Notes that `path` was kept with `n` invalid sequences replaced.
    fn kept_invalid(&mut self, path: &Path, n: u64) {
        if n > 0 && self.invalid_files.len() < INVALID_FILES_LISTED {
            self.invalid_files.push((path.display().to_string(), n));
        }
    }
}

/// Whether `path` can be read once only, as it comes: stdin (`-`) or a pipe
/// named on the command line (`<(zcat …)`, a FIFO). Such an input is not
/// sniffed nor fingerprinted (either would eat its bytes) and has no size
/// up front.
pub fn is_stream(path: &Path) -> bool {
    path.as_os_str() == "-" || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// The `--skip-pattern` regex, compiled.
fn skip_regex(cfg: &ReadConfig) -> Result<Option<regex::Regex>> {
    cfg.skip_pattern
        .as_deref()
        .map(|p| {
            regex::Regex::new(p).map_err(|e| Error::InvalidConfig(format!("--skip-pattern: {e}")))
        })
        .transpose()
}

/// Expands directories (recursively, sorted, by the archive rule: see the
/// module docs) and detects formats. `stats` counts the walked files passed
/// over.
pub fn discover(paths: &[PathBuf], cfg: &ReadConfig, stats: &mut ReadStats) -> Result<Vec<Input>> {
    let skip = skip_regex(cfg)?;
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(invalid(
            Path::new("-"),
            "stdin is listed more than once; it can be read only once, so give '-' once",
        ));
    }
    let mut pipes: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.as_os_str() != "-" && is_stream(p))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    pipes.sort();
    if let Some(w) = pipes.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid(
            &w[0],
            "is a pipe listed more than once; it can be read only once, so give it once",
        ));
    }
    let mut files = Vec::new();
    let counts = |s: &ReadStats| {
        [
            s.walk_metadata,
            s.walk_unread,
            s.walk_own_outputs,
            s.walk_special,
        ]
    };
    for p in paths {
        if p.as_os_str() == "-" {
            files.push(p.clone());
        } else if p.is_dir() {
            let (kept, before) = (files.len(), counts(stats));
            let mut w = Walk {
                root: p,
                root_real: std::fs::canonicalize(p).map_err(io_err(p, "list directory"))?,
                skip: skip.as_ref(),
                out: &mut files,
                seen: std::collections::HashSet::new(),
                stats: &mut *stats,
                examples: Vec::new(),
            };
            w.walk(p)?;
            // This directory's own examples: the ones in `stats` may name
            // files of a directory given earlier.
            let such = such_as(&w.examples);
            if files.len() == kept {
                // A mistyped or wrong directory is an error, not an empty corpus.
                let after = counts(stats);
                let why: Vec<String> = [
                    "as metadata (or by --skip-pattern)",
                    "as kinds prep reads only when named",
                    "as w2v's own outputs",
                    "as FIFOs, sockets or dangling links",
                ]
                .iter()
                .zip(after.iter().zip(before))
                .filter(|(_, (a, b))| *a > b)
                .map(|(what, (a, b))| format!("{} {what}", a - b))
                .collect();
                let empty = std::fs::read_dir(p).is_ok_and(|mut r| r.next().is_none());
                return Err(invalid(
                    p,
                    match (why.is_empty(), empty) {
                        (true, true) => "holds no files to read (an empty directory)".to_string(),
                        (true, false) => "holds no files to read (only directories without files, or links to directories already read)".to_string(),
                        (false, _) => format!("holds no file prep reads in a directory: passed over {}{such}; name the files on the command line", why.join(", ")),
                    },
                ));
            }
        } else {
            std::fs::metadata(p).map_err(io_err(p, "read input"))?;
            files.push(p.clone());
        }
    }
    // One file given twice (`prep d d/x.txt`, `prep a.txt ./a.txt`, a link
    // beside its target) is read once.
    let mut real_files = std::collections::HashSet::new();
    files.retain(|p| {
        if is_stream(p) {
            return true;
        }
        let Ok(real) = std::fs::canonicalize(p) else {
            return true;
        };
        let first = real_files.insert(real);
        stats.duplicates += u64::from(!first);
        first
    });
    files
        .into_iter()
        .map(|path| {
            let (format, compression) = detect(&path, cfg.format)?;
            let bytes = if path.as_os_str() == "-" {
                0
            } else {
                std::fs::metadata(&path)
                    .map_err(io_err(&path, "read input"))?
                    .len()
            };
            Ok(Input {
                path,
                format,
                compression,
                bytes,
            })
        })
        .collect()
}

/// One directory named on the command line, walked.
struct Walk<'w> {
    root: &'w Path,
    root_real: PathBuf,
    skip: Option<&'w regex::Regex>,
    out: &'w mut Vec<PathBuf>,
    seen: std::collections::HashSet<PathBuf>,
    stats: &'w mut ReadStats,
    /// The first files this walk passed over, of any kind, for its
    /// empty-directory error.
    examples: Vec<String>,
}

impl Walk<'_> {
    fn walk(&mut self, dir: &Path) -> Result<()> {
        // A directory reached twice (a symlink to `.` or to a parent) is read
        // once: following it again would repeat its files, or never end.
        let real = std::fs::canonicalize(dir).map_err(io_err(dir, "list directory"))?;
        // A link up to a directory above the one named (`ln -s .. up`) would
        // walk out of it, through its neighbours.
        let above = dir != self.root && self.root_real.starts_with(&real);
        if above || !self.seen.insert(real) {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_err(dir, "list directory"))?
            .map(|e| e.map(|e| e.path()).map_err(io_err(dir, "list directory")))
            .collect::<Result<_>>()?;
        entries.sort();
        // A directory a later stage wrote (a vocabulary, shards, a model:
        // its manifest is there) holds no corpus text; `prep .` in a
        // project read vocab/words.txt as text.
        let stage_dir = entries.iter().any(|e| {
            e.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(crate::manifest::is_stage_dir_manifest_name)
        });
        if stage_dir {
            self.stats.walk_own_outputs += 1;
            return Ok(());
        }
        for p in entries {
            // Hidden files (w2v's temp files among them) and w2v's manifests
            // are never corpus text.
            let skip = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') || crate::manifest::is_manifest_name(n));
            if skip {
                continue;
            }
            if p.is_dir() {
                self.walk(&p)?;
            } else if p.is_file() {
                // A corpus an earlier prep wrote: its text is already here
                // in the files it was made from.
                if crate::manifest::prep_manifest_path(&p).is_file() {
                    self.stats.walk_own_outputs += 1;
                    continue;
                }
                // The archive rule, on the path under the directory named;
                // --skip-pattern also sees the path as shown.
                let rel = p.strip_prefix(self.root).unwrap_or(&p);
                let rel = rel
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/");
                let full = p.to_string_lossy();
                let kind = match self.skip {
                    Some(re) if re.is_match(&full) => EntryKind::Metadata,
                    _ => entry_kind(&rel, self.skip, true),
                };
                let (count, examples) = match kind {
                    EntryKind::Read(_) => {
                        self.out.push(p);
                        continue;
                    }
                    EntryKind::Metadata => (
                        &mut self.stats.walk_metadata,
                        &mut self.stats.walk_metadata_examples,
                    ),
                    EntryKind::Unread => (
                        &mut self.stats.walk_unread,
                        &mut self.stats.walk_unread_examples,
                    ),
                };
                *count += 1;
                note_example(examples, &p);
                note_example(&mut self.examples, &p);
            } else {
                // Anything else found by the walk (a FIFO, a socket, a device,
                // a dangling link) is not a corpus file: reading a FIFO would
                // block forever. Named on the command line, a FIFO is read
                // (`<(zcat …)`).
                self.stats.walk_special += 1;
                note_example(&mut self.stats.walk_special_examples, &p);
                note_example(&mut self.examples, &p);
            }
        }
        Ok(())
    }
}

fn sniff(path: &Path) -> Result<[u8; 4]> {
    let mut magic = [0u8; 4];
    let mut f = File::open(path).map_err(io_err(path, "open"))?;
    let mut got = 0;
    while got < 4 {
        let n = f.read(&mut magic[got..]).map_err(io_err(path, "read"))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(magic)
}

/// The stream compression whose magic number `magic` starts with.
fn compression_of(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A compression prep does not read, by its magic number.
fn unread_compression(magic: &[u8]) -> Option<&'static str> {
    if magic.starts_with(b"BZh") {
        Some("bzip2")
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X']) {
        Some("xz")
    } else if magic.starts_with(&[b'7', b'z', 0xbc, 0xaf]) {
        Some("7z")
    } else if magic.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some("lz4")
    } else {
        None
    }
}

/// The error for `path`, compressed as `kind`.
fn unread_compression_error(path: &Path, kind: &str) -> Error {
    invalid(
        path,
        format!("is {kind}-compressed, which prep does not read: decompress it first, or recompress it with gzip or zstd"),
    )
}

/// A tar archive: `ustar` at offset 257 (POSIX and GNU headers).
fn is_tar(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar")
}

/// Format and compression of `path`: magic bytes, then the extension.
pub fn detect(path: &Path, forced: Option<Format>) -> Result<(Format, Compression)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_lowercase();
    // Sniffing a stream would eat its first bytes (the reader decompresses
    // it by magic number as it reads).
    let stdin = is_stream(path);
    let magic = if stdin { [0; 4] } else { sniff(path)? };
    if let Some(kind) = unread_compression(&magic) {
        return Err(unread_compression_error(path, kind));
    }
    // The magic number decides, not the name: a `.gz` that holds plain
    // text (a browser unpacked the download) is read as text, and a stream
    // is decompressed by what its first bytes show when it is read.
    let compression = compression_of(&magic);
    if let Some(f) = forced {
        let signed = match f {
            Format::Zip => magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06",
            Format::Parquet => magic == *b"PAR1",
            _ => true,
        };
        if !stdin && !signed {
            let looks = match compression {
                Compression::Gzip => "a gzip stream",
                Compression::Zstd => "a zstd stream",
                Compression::None if magic == *b"PK\x03\x04" => "a zip archive",
                Compression::None if magic == *b"PAR1" => "a parquet file",
                Compression::None => "something else",
            };
            return Err(invalid(
                path,
                format!(
                    "is not a {} file (it starts as {looks}): drop --format, or pass the right one",
                    f.name()
                ),
            ));
        }
        refuse_streamed(path, stdin, f)?;
        return Ok((f, compression));
    }
    let inner = name
        .trim_end_matches(".gz")
        .trim_end_matches(".zstd")
        .trim_end_matches(".zst")
        .to_string();
    let format = if name.ends_with(".tgz") || inner.ends_with(".tar") {
        Format::Tar
    } else if inner.ends_with(".zip") || magic == *b"PK\x03\x04" {
        Format::Zip
    } else if inner.ends_with(".parquet") || magic == *b"PAR1" {
        Format::Parquet
    } else if inner.ends_with(".jsonl") || inner.ends_with(".ndjson") || inner.ends_with(".json") {
        Format::Jsonl
    } else if inner.ends_with(".conllu") {
        Format::Conllu
    } else {
        Format::Text
    };
    refuse_streamed(path, stdin, format)?;
    if matches!(format, Format::Parquet | Format::Zip) && compression != Compression::None {
        return Err(invalid(
            path,
            "parquet and zip inputs cannot be stream-compressed; decompress them first",
        ));
    }
    Ok((format, compression))
}

/// `r` (read from `path`) decompressed as `compression` says, buffered.
fn decompressed<'r>(
    r: impl BufRead + 'r,
    compression: Compression,
    path: &Path,
) -> Result<Box<dyn BufRead + 'r>> {
    Ok(match compression {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 20,
            Damaged {
                inner: flate2::bufread::MultiGzDecoder::new(r),
                what: "gzip",
            },
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            1 << 20,
            Damaged {
                inner: zstd::stream::read::Decoder::with_buffer(r)
                    .map_err(io_err(path, "open zstd stream"))?,
                what: "zstd",
            },
        )),
    })
}

/// A reader that notes how its stream ended: the tar reader stops at the
/// first block of zeros, or at the end of the stream between two entries,
/// and only the first is a whole archive.
struct Tail<R> {
    inner: R,
    read: u64,
    /// Zero bytes at the end of what was read so far.
    zeros: u64,
}

impl<R> Tail<R> {
    fn new(inner: R) -> Self {
        Tail {
            inner,
            read: 0,
            zeros: 0,
        }
    }

    /// Whether what was read ends with a whole 512-byte block of zeros.
    fn ended_with_zero_block(&self) -> bool {
        self.zeros >= 512 && self.read.is_multiple_of(512)
    }
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        self.read += n as u64;
        self.zeros = match got.iter().rposition(|&b| b != 0) {
            Some(i) => (n - 1 - i) as u64,
            None => self.zeros + n as u64,
        };
        Ok(n)
    }
}

/// A decompressor whose data errors say what they mean for the file: the
/// codecs' own words ("Dictionary mismatch", "invalid gzip header") read
/// like a setting to fix.
struct Damaged<R> {
    inner: R,
    what: &'static str,
}

impl<R: Read> Read for Damaged<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::ErrorKind as K;
        self.inner.read(buf).map_err(|e| match e.kind() {
            k @ (K::InvalidData | K::InvalidInput | K::UnexpectedEof | K::Other) => {
                std::io::Error::new(
                    k,
                    DamagedData(format!(
                        "its {} data is damaged or cut short ({e}); re-download or re-compress it",
                        self.what
                    )),
                )
            }
            _ => e,
        })
    }
}

/// How far past a refused entry of a compressed tar the stream is read,
/// looking for a checksum that fails (the damage that made its text junk).
const DAMAGE_LOOKAHEAD: u64 = 256 << 20;

/// The message of a [`Damaged`] reader's error, whole: one that wraps it
/// (the tar reader's, naming an entry) says where and quotes it, instead
/// of adding its own advice around it.
#[derive(Debug)]
struct DamagedData(String);

impl std::fmt::Display for DamagedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DamagedData {}

/// Whether `e` is (or wraps) a compressed stream's damage, already worded.
fn is_damaged_data(e: &std::io::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().map(|x| x as &(dyn std::error::Error + 'static));
    while let Some(err) = cur {
        if err.is::<DamagedData>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            cur = io
                .get_ref()
                .map(|x| x as &(dyn std::error::Error + 'static));
        } else {
            cur = err.source();
        }
    }
    false
}

/// What to do with the archive entry `name` (or, `walked`, the file at the
/// path `name` under a directory named on the command line): read it (as a
/// format, its compression decided by magic numbers when it is read), skip
/// it as metadata (Taiga's `meta`, `tagged_texts`, hidden files,
/// `--skip-pattern`), or skip it as a kind prep does not read there (named
/// in a warning). A walk also reads what prep reads as a file of its own:
/// parquet, JSON, and archives.
/// A tar entry's name as it is shown: without the `./` segments of an
/// archive made with `tar -C dir .` (`a.tar/./b.txt` reads as `a.tar/b.txt`).
fn tar_entry_name(raw: &Path) -> String {
    let clean: std::path::PathBuf = raw
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if clean.as_os_str().is_empty() {
        raw.to_string_lossy().into_owned()
    } else {
        clean.to_string_lossy().into_owned()
    }
}

fn entry_kind(name: &str, skip: Option<&regex::Regex>, walked: bool) -> EntryKind {
    if skip.is_some_and(|re| re.is_match(name)) {
        return EntryKind::Metadata;
    }
    let lower = name.to_lowercase();
    let comps: Vec<&str> = lower.split('/').filter(|c| !c.is_empty()).collect();
    let file = comps.last().copied().unwrap_or("");
    // Metadata by whole words of the path (Taiga's `meta/`,
    // `newmetadata.csv`, `x.metatable_texts.txt`, `tagged_texts/`), not
    // by substring: `kometa.txt` is a text.
    // A directory is metadata when a word of its name is `meta`; a file
    // only when its name is `meta` (any extension), since `meta-analysis.txt`
    // or `my.meta.txt` are texts.
    let meta_word = |c: &str, dir: bool| {
        let mut words = c.split(['.', '_', '-', ' ']);
        let stem = c.split('.').next().unwrap_or(c);
        words.any(|w| w.contains("metadata") || w.contains("metatable") || (dir && w == "meta"))
            || stem == "meta"
    };
    let last = comps.len().saturating_sub(1);
    if comps.iter().enumerate().any(|(i, c)| {
        *c == "tagged_texts"
            || c.starts_with("__macosx")
            || (c.starts_with('.') && *c != "." && *c != "..")
            || meta_word(c, i < last)
    }) {
        return EntryKind::Metadata;
    }
    let inner = [".gz", ".zstd", ".zst"]
        .iter()
        .find_map(|z| file.strip_suffix(z))
        .unwrap_or(file);
    if inner.ends_with(".conllu") {
        EntryKind::Read(Format::Conllu)
    } else if inner.ends_with(".jsonl") || inner.ends_with(".ndjson") {
        EntryKind::Read(Format::Jsonl)
    } else if inner.ends_with(".txt") || inner.ends_with(".text") || !inner.contains('.') {
        EntryKind::Read(Format::Text)
    } else if walked && inner.ends_with(".json") {
        EntryKind::Read(Format::Jsonl)
    } else if walked && inner.ends_with(".parquet") {
        EntryKind::Read(Format::Parquet)
    } else if walked && (inner.ends_with(".zip")) {
        EntryKind::Read(Format::Zip)
    } else if walked && (inner.ends_with(".tar") || file.ends_with(".tgz")) {
        EntryKind::Read(Format::Tar)
    } else {
        EntryKind::Unread
    }
}

/// A parquet file cut short or not parquet at all (no footer where one
/// must be). The crate's words ("file too small ... need 827474264")
/// read like a size to supply.
const NOT_WHOLE_PARQUET: &str = "is not a complete parquet file (it is truncated, or not parquet: no valid footer at its end); re-download or re-export it";

/// Parquet and zip are read from their end: never from stdin or a pipe.
fn refuse_streamed(path: &Path, stream: bool, format: Format) -> Result<()> {
    if stream && matches!(format, Format::Parquet | Format::Zip) {
        return Err(invalid(
            path,
            format!(
                "a {} file cannot be read as a stream (from stdin or a pipe); save it to a file and pass its path",
                format.name()
            ),
        ));
    }
    Ok(())
}

/// Receives text units; returns an error to stop reading.
pub type Sink<'a> = dyn FnMut(&str) -> Result<()> + 'a;

/// Reads one input, calling `sink` for each unit.
pub struct Reader<'a> {
    cfg: &'a ReadConfig,
    skip: Option<regex::Regex>,
    /// Counters.
    pub stats: ReadStats,
    /// Each stream input (stdin, a pipe) as it was read: the compression
    /// and format its bytes showed, and how many bytes it held. [`discover`]
    /// cannot know them (it may not read a stream ahead).
    pub streams: Vec<Input>,
    line: Vec<u8>,
    text: String,
    /// The compression the document being read came out of, for messages.
    layer: Compression,
}

/// Counts bytes read so progress can report input bytes.
struct Counting<R> {
    inner: R,
    on_read: Box<dyn FnMut(u64) + Send>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_read)(n as u64);
        Ok(n)
    }
}

fn cyrillic_share(s: &str) -> f32 {
    let (mut cyr, mut letters) = (0u64, 0u64);
    for c in s.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        if ('\u{0400}'..='\u{052F}').contains(&c) {
            cyr += 1;
        }
    }
    if letters == 0 {
        1.0
    } else {
        (cyr as f64 / letters as f64) as f32
    }
}

/// Decodes `bytes` as UTF-8, replacing invalid sequences and counting them.
/// Valid input (nearly all of it) is checked by `simdutf8`'s SIMD validator,
/// several times faster than `std` on Cyrillic text; on the reader thread of
/// `prep` this check was a fifth of the single-threaded profile.
pub fn decode_lossy<'b>(bytes: &'b [u8], scratch: &'b mut String, invalid: &mut u64) -> &'b str {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => {
            scratch.clear();
            for chunk in bytes.utf8_chunks() {
                scratch.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    *invalid += 1;
                    scratch.push('\u{FFFD}');
                }
            }
            scratch
        }
    }
}

impl<'a> Reader<'a> {
    /// A reader for `cfg`.
    pub fn new(cfg: &'a ReadConfig) -> Result<Self> {
        Ok(Reader {
            cfg,
            skip: skip_regex(cfg)?,
            stats: ReadStats::default(),
            streams: Vec::new(),
            line: Vec::new(),
            text: String::new(),
            layer: Compression::None,
        })
    }

    /// Opens `input` for streaming, decompressed; also returns the
    /// compression it was found to have.
    fn open(
        &self,
        input: &Input,
        on_read: Box<dyn FnMut(u64) + Send>,
    ) -> Result<(Box<dyn BufRead>, Compression)> {
        let raw: Box<dyn Read + Send> = if input.path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(File::open(&input.path).map_err(io_err(&input.path, "open"))?)
        };
        let counted = BufReader::with_capacity(
            1 << 20,
            Counting {
                inner: raw,
                on_read,
            },
        );
        // Magic numbers decide on every input, stdin included: a gzip or
        // zstd stream is decompressed whatever its name says.
        let (magic, counted) = encoding::peek(counted, 4).map_err(io_err(&input.path, "read"))?;
        if let Some(kind) = unread_compression(&magic) {
            return Err(unread_compression_error(&input.path, kind));
        }
        let compression = match input.compression {
            Compression::None => compression_of(&magic),
            c => c,
        };
        if magic == *b"PK\x03\x04" || magic == *b"PAR1" {
            let kind = if magic == *b"PAR1" { "parquet" } else { "zip" };
            return Err(invalid(
                &input.path,
                if is_stream(&input.path) {
                    format!("is a {kind} file, which cannot be read as a stream; save it to a file named .{kind} and pass that")
                } else {
                    format!(
                        "is a {kind} file, not {}: drop --format, or pass --format {kind}",
                        input.format.name()
                    )
                },
            ));
        }
        Ok((
            decompressed(counted, compression, &input.path)?,
            compression,
        ))
    }

    /// Reads `input`, calling `sink` for every unit. `on_read` is told how
    /// many raw bytes were read, as they are read.
    pub fn read(
        &mut self,
        input: &Input,
        on_read: Box<dyn FnMut(u64) + Send>,
        sink: &mut Sink,
    ) -> Result<()> {
        let before = self.stats.units;
        let path = input.path.clone();
        // Streams count the raw bytes they read (stdin has no size up
        // front); files read by random access count their size.
        let counted = Arc::new(AtomicU64::new(0));
        match input.format {
            Format::Parquet => {
                counted.store(input.bytes, Ordering::Relaxed);
                self.read_parquet(&path, on_read, sink)?
            }
            Format::Zip => {
                counted.store(input.bytes, Ordering::Relaxed);
                self.read_zip(&path, on_read, sink)?
            }
            Format::Text | Format::Jsonl | Format::Conllu | Format::Tar => {
                let c2 = counted.clone();
                let mut on_read = on_read;
                let on_read: Box<dyn FnMut(u64) + Send> = Box::new(move |n| {
                    c2.fetch_add(n, Ordering::Relaxed);
                    on_read(n)
                });
                let (r, compression) = self.open(input, on_read)?;
                // A tar stream named like text (`.tar.gz` renamed `.txt`, or
                // piped to stdin) is read as the archive it is.
                let (head, r) = encoding::peek(r, 512).map_err(io_err(&path, "read"))?;
                let r: Box<dyn BufRead> = Box::new(r);
                let format = match (is_tar(&head), self.cfg.format) {
                    (true, None) => Format::Tar,
                    // Read as tar, any other bytes give the tar reader's
                    // errors, which quote the text they misread.
                    (false, _)
                        if input.format == Format::Tar && !head.is_empty() && head.len() < 512 =>
                    {
                        return Err(invalid(
                            &path,
                            format!("is cut short: {} bytes, less than one tar header (512); re-download it", head.len()),
                        ))
                    }
                    (false, forced) if input.format == Format::Tar && !head.is_empty() => {
                        return Err(invalid(
                            &path,
                            if forced.is_some() {
                                "is not a tar archive (no tar header at its start, after any gzip or zstd): drop --format, or pass the right one"
                            } else {
                                "is not a tar archive though its name says so (no tar header at its start, after any gzip or zstd): it is damaged (re-download it) or misnamed (pass --format)"
                            },
                        ))
                    }
                    // `--format text x.tar.gz` would read the tar headers as
                    // lines of the corpus.
                    (true, Some(f)) if f != Format::Tar => {
                        return Err(invalid(
                            &path,
                            format!(
                                "is a tar archive, not {}: drop --format, or pass --format tar",
                                f.name()
                            ),
                        ))
                    }
                    _ => input.format,
                };
                if is_stream(&path) {
                    self.streams.push(Input {
                        compression,
                        format,
                        ..input.clone()
                    });
                }
                self.layer = compression;
                match format {
                    Format::Tar => {
                        self.read_tar(&path, r, compression != Compression::None, sink)?
                    }
                    f => self.read_stream(&path, f, r, false, sink)?,
                }
            }
        }
        let read = counted.load(Ordering::Relaxed);
        self.stats.bytes_in += read;
        if let Some(i) = self.streams.last_mut().filter(|i| i.path == path) {
            i.bytes = read;
        }
        if self.stats.units == before {
            self.stats.empty_files.push(path.display().to_string());
        }
        Ok(())
    }

    fn emit(&mut self, unit: &str, sink: &mut Sink) -> Result<()> {
        if self.cfg.min_cyrillic_share > 0.0 && cyrillic_share(unit) < self.cfg.min_cyrillic_share {
            self.stats.non_cyrillic_dropped += 1;
            return Ok(());
        }
        self.stats.units += 1;
        sink(unit)
    }

    /// Line-oriented formats. `archive_doc` turns on BOM and `DataBaseItem:`
    /// handling for documents inside Taiga archives.
    fn read_stream(
        &mut self,
        path: &Path,
        format: Format,
        r: impl BufRead,
        archive_doc: bool,
        sink: &mut Sink,
    ) -> Result<()> {
        let (head, r) = encoding::peek(r, encoding::SAMPLE_BYTES).map_err(io_err(path, "read"))?;
        let enc = encoding::detect(&head, self.cfg.encoding);
        if enc == encoding::Detected::Utf8 {
            self.check_text(path, &head)?;
        } else {
            *self
                .stats
                .decoded
                .entry(enc.name().to_string())
                .or_default() += 1;
        }
        let invalid_before = self.stats.invalid_utf8;
        let bad_before = self.stats.bad_records;
        let mut bytes = 0u64;
        let mut conllu = ConlluState::default();
        let mut line = std::mem::take(&mut self.line);
        let mut text = std::mem::take(&mut self.text);
        let mut lines = BoundedLines::new(encoding::decoder(r, enc), self.cfg.max_line_bytes);
        let result = (|| -> Result<()> {
            let mut first = true;
            let mut first_record = true;
            loop {
                line.clear();
                let got = lines.next_line(&mut line, path)?;
                if got == LineRead::Eof {
                    break;
                }
                if got == LineRead::Cut {
                    self.stats.long_lines_cut += 1;
                }
                bytes += line.len() as u64 + 1;
                let s = decode_lossy(&line, &mut text, &mut self.stats.invalid_utf8);
                let mut s = s.trim_end_matches('\r');
                if first {
                    s = s.trim_start_matches('\u{FEFF}');
                    first = false;
                }
                match format {
                    Format::Jsonl => {
                        if s.trim().is_empty() {
                            continue;
                        }
                        if std::mem::take(&mut first_record) && s.trim_start().starts_with('[') {
                            return Err(invalid(
                                path,
                                "holds a JSON array, not JSON Lines (one object per line); convert it first, e.g. jq -c '.[]' FILE > FILE.jsonl",
                            ));
                        }
                        let Ok(v) = serde_json::from_str::<serde_json::Value>(s) else {
                            self.stats.bad_records += 1;
                            self.stats.not_json += 1;
                            continue;
                        };
                        match v.get(&self.cfg.text_field).and_then(|t| t.as_str()) {
                            Some(t) => self.emit(t, sink)?,
                            None => self.stats.bad_records += 1,
                        }
                    }
                    Format::Conllu => {
                        if let Some(sent) = conllu.line(s) {
                            self.emit(&sent, sink)?;
                        }
                    }
                    _ => {
                        if archive_doc && s.starts_with("DataBaseItem:") {
                            continue;
                        }
                        let s = s.trim_start_matches('\u{FEFF}');
                        if !s.trim().is_empty() {
                            self.emit(s, sink)?;
                        }
                    }
                }
            }
            if let Some(sent) = conllu.finish() {
                self.emit(&sent, sink)?;
            }
            Ok(())
        })();
        self.line = line;
        self.text = text;
        result?;
        let bad = self.stats.bad_records - bad_before;
        if bad > 0 && self.stats.bad_record_files.len() < INVALID_FILES_LISTED {
            let shown = crate::error::shown(&path.display().to_string());
            self.stats.bad_record_files.push((shown, bad));
        }
        let invalid = self.stats.invalid_utf8 - invalid_before;
        if !self.cfg.allow_invalid && encoding::too_invalid(invalid, bytes) {
            return Err(too_invalid_text(path, invalid, bytes));
        }
        self.stats.kept_invalid(path, invalid);
        Ok(())
    }

    /// Refuses a document (by its first bytes, read as UTF-8) that is binary
    /// data, or whose invalid UTF-8 is over the threshold already there.
    fn check_text(&self, path: &Path, head: &[u8]) -> Result<()> {
        if encoding::looks_binary(head) {
            let layer = match self.layer {
                Compression::None => None,
                Compression::Gzip => Some("gzip"),
                Compression::Zstd => Some("zstd"),
            };
            return Err(invalid(
                path,
                match layer {
                    // The name is right: what it holds is not text.
                    Some(z) => format!("holds binary data, not text, inside its {z} compression (NUL or control bytes); prep reads text, JSON Lines, CoNLL-U and tar archives compressed so"),
                    None => "looks like binary data, not text (NUL or control bytes); if it is an archive or a compressed file, give it its extension or pass --format".to_string(),
                },
            ));
        }
        let invalid = encoding::invalid_sequences(head);
        if !self.cfg.allow_invalid && encoding::too_invalid(invalid, head.len() as u64) {
            return Err(too_invalid_text(path, invalid, head.len() as u64));
        }
        Ok(())
    }

    /// Reads or skips one archive entry (see [`Self::entry_kind`]).
    fn read_entry(
        &mut self,
        path: &Path,
        name: &str,
        entry: impl Read,
        sink: &mut Sink,
    ) -> Result<()> {
        let kind = match entry_kind(name, self.skip.as_ref(), false) {
            EntryKind::Read(kind) => kind,
            EntryKind::Metadata => {
                self.stats.skipped_entries += 1;
                return Ok(());
            }
            EntryKind::Unread => {
                self.stats.skipped_entries += 1;
                self.stats.unread_entries += 1;
                note_example(&mut self.stats.unread_examples, &path.join(name));
                return Ok(());
            }
        };
        let entry_path = path.join(name);
        let (magic, r) =
            encoding::peek(BufReader::new(entry), 4).map_err(io_err(&entry_path, "read"))?;
        self.layer = compression_of(&magic);
        let r = decompressed(r, self.layer, &entry_path)?;
        self.read_stream(&entry_path, kind, r, true, sink)
    }

    fn read_tar(
        &mut self,
        path: &Path,
        r: Box<dyn BufRead>,
        compressed: bool,
        sink: &mut Sink,
    ) -> Result<()> {
        let mut ar = tar::Archive::new(Tail::new(r));
        // The entry last read (a file or not): a cut-short archive fails
        // when the next header is sought, and the message should say where
        // it was cut.
        let mut last: Option<String> = None;
        let mut failed = None;
        let after = |last: &Option<String>| {
            last.as_ref().map_or_else(
                || "in its first header".to_string(),
                |name| format!("in or after the entry {}", crate::error::shown(name)),
            )
        };
        let cut = |last: &Option<String>, e: &dyn std::fmt::Display| {
            invalid(
                path,
                format!(
                    "its tar data is damaged or cut short {} ({e}); re-download it",
                    after(last)
                ),
            )
        };
        for entry in ar.entries().map_err(io_err(path, "read tar archive"))? {
            let entry = entry.map_err(|e| match e.kind() {
                // The gzip or zstd stream under the tar: its own words.
                _ if is_damaged_data(&e) => invalid(path, format!("{}: {e}", after(&last))),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::Other => cut(&last, &e),
                _ if last.is_some() => cut(&last, &e),
                _ => io_err(path, "read tar archive")(e),
            })?;
            let raw = entry
                .path()
                .map_err(io_err(path, "read tar entry name in"))?;
            let name = tar_entry_name(&raw);
            last = Some(name.clone());
            if !entry.header().entry_type().is_file() {
                continue;
            }
            if let Err(e) = self.read_entry(path, &name, entry, sink) {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            // A flipped bit in gzip or zstd data turns the rest of its
            // block into junk, which the entry's text check refuses as a
            // wrong encoding before the stream's checksum is reached. Read
            // on a bounded way: a checksum that fails there is the cause.
            if compressed && matches!(e, Error::InvalidInput { .. }) {
                let mut rest = ar.into_inner().take(DAMAGE_LOOKAHEAD);
                if let Err(d) = std::io::copy(&mut rest, &mut std::io::sink()) {
                    if is_damaged_data(&d) {
                        return Err(invalid(path, format!("{}: {d}", after(&last))));
                    }
                }
            }
            return Err(e);
        }
        // The entries end at a block of zeros; a stream that ends at an
        // entry's end without one was cut there (a download stopped between
        // two entries), and its text would pass for the whole archive.
        let mut rest = ar.into_inner();
        if !rest.ended_with_zero_block() {
            return Err(cut(&last, &"no end-of-archive block"));
        }
        // The archive ends at its end-of-archive blocks; reading on to the
        // end of the stream lets gzip and zstd check their trailer (a
        // flipped bit in a .tar.gz was read without a word). The codec's
        // error says what is wrong; where it was found is said here.
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| {
            if is_damaged_data(&e) {
                invalid(
                    path,
                    format!("at the end of the archive, {}: {e}", after(&last)),
                )
            } else {
                io_err(path, "read tar archive")(e)
            }
        })?;
        Ok(())
    }

    fn read_zip(
        &mut self,
        path: &Path,
        mut on_read: Box<dyn FnMut(u64) + Send>,
        sink: &mut Sink,
    ) -> Result<()> {
        let f = File::open(path).map_err(io_err(path, "open"))?;
        let mut zip = zip::ZipArchive::new(f)
            .map_err(|e| invalid(path, format!("cannot read zip archive: {e}")))?;
        for i in 0..zip.len() {
            let named = zip
                .name_for_index(i)
                .map_or_else(|| format!("number {i}"), crate::error::shown);
            let entry = zip.by_index(i).map_err(|e| {
                invalid(
                    path,
                    format!("cannot read its entry {named} ({e}); the archive is damaged: re-download it"),
                )
            })?;
            on_read(entry.compressed_size());
            if !entry.is_file() {
                continue;
            }
            let name = entry.name().to_string();
            let entry = Damaged {
                inner: entry,
                what: "zip",
            };
            self.read_entry(path, &name, entry, sink)?;
        }
        Ok(())
    }

    fn read_parquet(
        &mut self,
        path: &Path,
        mut on_read: Box<dyn FnMut(u64) + Send>,
        sink: &mut Sink,
    ) -> Result<()> {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::DataType;
        use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
        use parquet::arrow::ProjectionMask;

        // The column's type comes from the parquet schema alone. The arrow
        // schema a writer embeds is only a hint, and the crate (60.1) does
        // not check UTF-8 when that hint makes an unannotated byte column a
        // string column: a release build would hand on invalid `&str`s, a
        // debug build panics (found by fuzzing, tests/fuzz). A column
        // without the UTF-8 annotation is read as bytes and decoded here.
        let options = || ArrowReaderOptions::new().with_skip_arrow_metadata(true);
        let f = File::open(path).map_err(io_err(path, "open"))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(f, options()).map_err(
            |e| match e {
                // The crate's wording ("file too small ... need 827474264")
                // reads like a size to supply; say what it means.
                parquet::errors::ParquetError::EOF(_) => invalid(path, NOT_WHOLE_PARQUET),
                parquet::errors::ParquetError::General(m) if m.contains("Corrupt footer") => {
                    invalid(path, NOT_WHOLE_PARQUET)
                }
                e => pq_err(path, "read parquet")(e),
            },
        )?;
        let schema = builder.parquet_schema();
        let col = (0..schema.num_columns())
            .find(|&i| schema.column(i).path().string() == self.cfg.text_column)
            .ok_or_else(|| {
                // A nested column (a list or struct) named so has leaves
                // `text.list.element`, `text.a`: say what it is.
                let nested = (0..schema.num_columns())
                    .map(|i| schema.column(i).path().string())
                    .find(|p| p.split('.').next() == Some(self.cfg.text_column.as_str()));
                match nested {
                    Some(leaf) => invalid(
                        path,
                        format!(
                            "column '{}' is nested (a list or struct, leaf '{leaf}'), not a string column",
                            self.cfg.text_column
                        ),
                    ),
                    None => {
                        let fields = builder.schema().fields();
                        let names: Vec<&str> =
                            fields.iter().take(20).map(|f| f.name().as_str()).collect();
                        let more = if fields.len() > names.len() {
                            format!(" and {} more", fields.len() - names.len())
                        } else {
                            String::new()
                        };
                        invalid(
                            path,
                            format!(
                                "no column '{}'; its columns are {}{more} (choose one with --text-column)",
                                self.cfg.text_column,
                                if names.is_empty() {
                                    "none".to_string()
                                } else {
                                    names.join(", ")
                                }
                            ),
                        )
                    }
                }
            })?;
        let meta = builder.metadata().clone();
        let mask = ProjectionMask::leaves(schema, [col]);
        let mut lossy = LossyValues::default();
        // One row group at a time: never the whole file in memory.
        for (rg, group) in meta.row_groups().iter().enumerate() {
            let f = File::open(path).map_err(io_err(path, "open"))?;
            // The parquet crate panics on some corrupt column chunk offsets
            // and can stall on some page headers: check the text column's
            // chunks first (found by fuzzing, tests/fuzz).
            crate::parquet_guard::check_row_group(path, &f, &meta, rg, &[col])?;
            let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(f, options())
                .map_err(pq_err(path, "read parquet"))?
                .with_projection(mask.clone())
                .with_row_groups(vec![rg])
                .with_batch_size(1024)
                .build()
                .map_err(pq_err(path, "read parquet"))?;
            for batch in reader {
                let batch = batch.map_err(|e| {
                    // The crate checks a string column's UTF-8 itself and
                    // cannot hand on what it refuses.
                    if e.to_string().contains("non UTF-8") {
                        invalid(
                            path,
                            format!(
                                "column '{}' is a string column holding invalid UTF-8, which the parquet reader refuses (--allow-invalid applies only to a column of plain bytes)",
                                self.cfg.text_column
                            ),
                        )
                    } else {
                        Error::Arrow {
                            path: path.to_path_buf(),
                            action: "decode parquet batch from",
                            source: e,
                        }
                    }
                })?;
                let array = batch.column(0);
                let mut each = |s: Option<&str>| -> Result<()> {
                    if let Some(s) = s {
                        for line in s.lines() {
                            if !line.trim().is_empty() {
                                self.emit(line, sink)?;
                            }
                        }
                    }
                    Ok(())
                };
                match array.data_type() {
                    DataType::Utf8 => array.as_string::<i32>().iter().try_for_each(&mut each)?,
                    DataType::LargeUtf8 => {
                        array.as_string::<i64>().iter().try_for_each(&mut each)?
                    }
                    DataType::Utf8View => array.as_string_view().iter().try_for_each(&mut each)?,
                    DataType::Binary => lossy.each(array.as_binary::<i32>().iter(), &mut each)?,
                    DataType::LargeBinary => {
                        lossy.each(array.as_binary::<i64>().iter(), &mut each)?
                    }
                    DataType::BinaryView => lossy.each(array.as_binary_view().iter(), &mut each)?,
                    other => {
                        return Err(invalid(
                            path,
                            format!(
                                "column '{}' is {other}, not a string column",
                                self.cfg.text_column
                            ),
                        ))
                    }
                }
            }
            on_read(group.compressed_size() as u64);
        }
        self.stats.invalid_utf8 += lossy.invalid;
        let column = &self.cfg.text_column;
        // A text file's checks, on the column's bytes: binary data (UTF-16
        // text among it: its bytes are valid UTF-8, half of them NUL or
        // control bytes), then too much invalid UTF-8.
        let seen = lossy.seen;
        if seen.looks_binary() {
            return Err(invalid(
                path,
                format!("column '{column}' holds binary data, not UTF-8 text ({} NUL and {} other control bytes in {} bytes); a parquet text column is read as UTF-8", seen.nul, seen.ctrl - seen.nul, seen.bytes),
            ));
        }
        if !self.cfg.allow_invalid && encoding::too_invalid(lossy.invalid, seen.bytes) {
            return Err(too_invalid_error(
                path,
                lossy.invalid,
                seen.bytes,
                &format!("the {} bytes of column '{column}'", seen.bytes),
                "a parquet text column is read as UTF-8 (--encoding applies to text files); --allow-invalid keeps it with U+FFFD in their place",
            ));
        }
        self.stats.kept_invalid(path, lossy.invalid);
        Ok(())
    }
}

/// The values of a parquet byte column (one without the UTF-8 annotation),
/// decoded as UTF-8 with invalid sequences replaced and counted, as a text
/// file's lines are.
#[derive(Default)]
struct LossyValues {
    scratch: String,
    invalid: u64,
    /// Every byte of the column, for [`encoding::looks_binary`]'s rule.
    seen: encoding::BinaryCounts,
}

impl LossyValues {
    fn each<'a>(
        &mut self,
        values: impl Iterator<Item = Option<&'a [u8]>>,
        each: &mut impl FnMut(Option<&str>) -> Result<()>,
    ) -> Result<()> {
        for v in values {
            match v {
                Some(b) => {
                    self.seen.add(b);
                    each(Some(decode_lossy(b, &mut self.scratch, &mut self.invalid)))?
                }
                None => each(None)?,
            }
        }
        Ok(())
    }
}

/// A text file's bytes (or a parquet column's, `what`) with too much
/// invalid UTF-8 for [`encoding::too_invalid`], with `advice` after.
fn too_invalid_error(path: &Path, n_invalid: u64, bytes: u64, what: &str, advice: &str) -> Error {
    invalid(
        path,
        format!(
            "{n_invalid} invalid UTF-8 sequences in {what} ({:.1}%, over the {}% limit): {advice}",
            100.0 * n_invalid as f64 / bytes.max(1) as f64,
            100.0 * encoding::MAX_INVALID_SHARE
        ),
    )
}

/// [`too_invalid_error`] for text: what `--encoding` and `--allow-invalid`
/// can do about it.
fn too_invalid_text(path: &Path, n_invalid: u64, bytes: u64) -> Error {
    too_invalid_error(
        path,
        n_invalid,
        bytes,
        &format!("{bytes} bytes"),
        "not UTF-8, nor recognisably cp1251, koi8-r or UTF-16; pass --encoding if you know the encoding, or --allow-invalid to keep the text with U+FFFD in their place",
    )
}

#[derive(PartialEq, Eq, Debug)]
enum LineRead {
    Eof,
    Line,
    Cut,
}

/// Splits a stream into lines without ever holding more than `max` bytes:
/// a longer line is cut at its last ASCII whitespace (or, failing that, at a
/// UTF-8 boundary) and the rest starts the next line.
struct BoundedLines<R> {
    r: R,
    carry: Vec<u8>,
    max: usize,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(r: R, max: usize) -> Self {
        BoundedLines {
            r,
            carry: Vec::new(),
            max: max.max(16),
        }
    }

    /// Reads the next line (without its `\n`) into `buf`.
    fn next_line(&mut self, buf: &mut Vec<u8>, path: &Path) -> Result<LineRead> {
        buf.clear();
        buf.append(&mut self.carry);
        loop {
            let avail = self.r.fill_buf().map_err(io_err(path, "read"))?;
            if avail.is_empty() {
                return Ok(if buf.is_empty() {
                    LineRead::Eof
                } else {
                    LineRead::Line
                });
            }
            let room = self.max.saturating_sub(buf.len()).max(1);
            let look = &avail[..avail.len().min(room)];
            if let Some(i) = memchr::memchr(b'\n', look) {
                buf.extend_from_slice(&look[..i]);
                self.r.consume(i + 1);
                return Ok(LineRead::Line);
            }
            let n = look.len();
            buf.extend_from_slice(look);
            self.r.consume(n);
            if buf.len() >= self.max {
                let cut = buf
                    .iter()
                    .rposition(|b| b.is_ascii_whitespace())
                    .filter(|&p| p > 0)
                    .unwrap_or_else(|| utf8_boundary(buf));
                self.carry = buf.split_off(cut);
                return Ok(LineRead::Cut);
            }
        }
    }
}

fn utf8_boundary(buf: &[u8]) -> usize {
    let mut i = buf.len();
    while i > 0 && (buf[i - 1] & 0xC0) == 0x80 {
        i -= 1;
    }
    // buf[i-1] is a lead byte (or ASCII); step before it unless complete.
    if i > 0 && buf[i - 1] >= 0xC0 {
        i - 1
    } else {
        buf.len()
    }
}

#[derive(Default)]
struct ConlluState {
    text: Option<String>,
    forms: Vec<String>,
}

impl ConlluState {
    /// Feeds one line; returns a finished sentence at a blank line.
    fn line(&mut self, s: &str) -> Option<String> {
        if s.trim().is_empty() {
            return self.finish();
        }
        if let Some(t) = s
            .strip_prefix("# text =")
            .or_else(|| s.strip_prefix("# text="))
        {
            self.text = Some(t.trim().to_string());
        } else if !s.starts_with('#') {
            let mut cols = s.split('\t');
            let id = cols.next().unwrap_or("");
            let form = cols.next().unwrap_or("");
            // Skip multiword ranges (1-2) and empty nodes (1.1).
            if !id.contains('-') && !id.contains('.') && id.parse::<u32>().is_ok() {
                self.forms.push(form.to_string());
            }
        }
        None
    }

    fn finish(&mut self) -> Option<String> {
        let forms = std::mem::take(&mut self.forms);
        let text = self.text.take();
        match text {
            Some(t) if !t.is_empty() => Some(t),
            _ if !forms.is_empty() => Some(forms.join(" ")),
            _ => None,
        }
    }
}
