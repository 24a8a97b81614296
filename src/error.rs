//! The library's one error type.
//!
//! Every variant carries enough context to print a one-line message that
//! names the file and the action ("cannot read shard shards/part-00003.parquet:
//! unexpected end of file"). There is deliberately no blanket
//! `From<io::Error>`: I/O errors go through [`io_err`] so the path and the
//! action are never lost.

use std::path::{Path, PathBuf};

/// Library result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with where and while doing what.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system or stream operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a parquet file failed.
    #[error("cannot {action} {}", path.display())]
    Parquet {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building or decoding an Arrow batch failed.
    #[error("cannot {action} {}", path.display())]
    Arrow {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A JSON file (manifest, vocab) is malformed.
    #[error("cannot {action} {}", path.display())]
    Json {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The input is readable but its content is wrong.
    #[error("{}: {message}", path.display())]
    InvalidInput { path: PathBuf, message: String },
    /// A configuration value is out of range or inconsistent (a usage error).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The output of an earlier stage does not match what this stage expects.
    #[error("{}: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
    /// A query word is not in the vocabulary.
    #[error(
        "'{}' is not in vocabulary{}{}",
        shown(word),
        why.as_deref().unwrap_or(""),
        fmt_suggestions(suggestions)
    )]
    UnknownWord {
        word: String,
        /// Why a subword model has no vector for it either, as a clause.
        why: Option<String>,
        suggestions: Vec<String>,
    },
    /// A query normalizes to several words (e.g. `кто-то` for a model whose
    /// corpus was prepared with `--hyphens split`), so it names no one row.
    /// With no words, nothing is left at all (punctuation, digits, symbols).
    #[error("{}", not_one_word(query, words))]
    NotOneWord { query: String, words: Vec<String> },
    /// Training produced NaN or Inf (or weights past any sane magnitude).
    #[error("training diverged at step {step}: {what}; {}", kept_note(checkpoint.as_deref()))]
    Diverged {
        step: u64,
        what: String,
        /// The checkpoint that is kept, if one was written before.
        checkpoint: Option<PathBuf>,
    },
    /// A stage would not fit in the disk space or memory there is; found
    /// before it started (see [`crate::preflight`]).
    #[error("not enough {resource}: {message}")]
    Insufficient {
        resource: &'static str,
        message: String,
    },
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Torch(String),
    /// A pipeline thread stopped because the other side already failed; that
    /// side's error is the one reported.
    #[error("stopped because another part of the pipeline failed")]
    Cancelled,
    /// A worker thread panicked (a bug in w2v); `message` is the panic's.
    #[error("internal error: the {stage} thread panicked: {message}")]
    WorkerPanicked {
        stage: &'static str,
        message: String,
    },
    /// The user asked to stop (Ctrl-C); a checkpoint was written.
    #[error("interrupted; checkpoint written to {}", path.display())]
    Interrupted { path: PathBuf },
    /// The user asked to stop before anything was written.
    #[error("interrupted while {0}; nothing written")]
    InterruptedEarly(&'static str),
    /// The user asked to stop, and the checkpoint could not be written;
    /// the source says why.
    #[error("interrupted, but the checkpoint could not be written (the training since the last one is lost)")]
    InterruptedUnsaved(#[source] Box<Error>),
}

fn fmt_suggestions(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        let s: Vec<String> = s.iter().map(|w| shown(w)).collect();
        format!("; did you mean: {}?", s.join(", "))
    }
}

/// Characters of a user-supplied word or line that a message echoes.
pub const SHOWN_CHARS: usize = 60;

/// A user-supplied word or line as a message echoes it: control characters
/// (and other invisible ones) escaped, and cut after [`SHOWN_CHARS`]
/// characters with the length of the rest, so a binary file or a 100 KB
/// "word" never floods the terminal.
pub fn shown(s: &str) -> String {
    let mut out = String::new();
    for (n, (i, c)) in s.char_indices().enumerate() {
        if n == SHOWN_CHARS {
            out.push_str(&format!("… ({} more bytes)", s.len() - i));
            break;
        }
        if c.is_control() || c == '\u{FEFF}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Longest error report printed, in characters.
const REPORT_CHARS: usize = 2000;

fn kept_note(c: Option<&Path>) -> String {
    match c {
        Some(p) => format!("the last good checkpoint is kept in {}", p.display()),
        None => "no checkpoint had been written yet".into(),
    }
}

impl Error {
    /// True for errors caused by how the program was called (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::InvalidConfig(_))
    }

    /// The message with its source chain, `a: b: c`, on one line.
    pub fn report(&self) -> String {
        let mut msg = self.to_string();
        let mut src = std::error::Error::source(self);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        // One line, no control characters, bounded length, whatever the
        // sources echo.
        let mut out = String::with_capacity(msg.len().min(REPORT_CHARS + 64));
        for (n, (i, c)) in msg.char_indices().enumerate() {
            if n == REPORT_CHARS {
                out.push_str(&format!("… ({} more bytes)", msg.len() - i));
                break;
            }
            match c {
                '\n' | '\r' | '\t' => out.push(' '),
                c if c.is_control() => out.extend(c.escape_default()),
                c => out.push(c),
            }
        }
        out
    }

    /// This error as the last line of a command's stderr ([`final_line`]).
    pub fn final_line(&self, json: bool) -> String {
        let interrupted = matches!(self, Error::Interrupted { .. } | Error::InterruptedEarly(_));
        final_line(&self.report(), interrupted, self.exit_code(), json)
    }

    /// The process exit code: 128 + the stop signal when interrupted (130
    /// for SIGINT, 143 for SIGTERM; see [`crate::signals`]), 2 for usage
    /// errors, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted { .. }
            | Error::InterruptedEarly(_)
            | Error::InterruptedUnsaved(_) => crate::signals::interrupted_exit_code(),
            e if e.is_usage() => 2,
            _ => 1,
        }
    }
}

/// The last line a failed or stopped command writes to stderr:
/// `w2v: error: MESSAGE`, or `w2v: MESSAGE` when a stop signal ended it
/// (`w2v: interrupted; …`, the same from every command); with
/// `--progress json`, one JSON object like the progress lines before it:
/// `{"level": "error"|"interrupted", "message", "exit_code"}`.
pub fn final_line(message: &str, interrupted: bool, exit_code: u8, json: bool) -> String {
    if json {
        let level = if interrupted { "interrupted" } else { "error" };
        serde_json::json!({"level": level, "message": message, "exit_code": exit_code}).to_string()
    } else if interrupted {
        format!("w2v: {message}")
    } else {
        format!("w2v: error: {message}")
    }
}

/// Wraps an I/O error with the path and the action.
pub fn io_err(
    path: impl AsRef<Path>,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.as_ref().to_path_buf();
    move |source| Error::Io {
        path,
        action,
        source,
    }
}

/// Wraps a parquet error with the path and the action.
pub fn pq_err(
    path: impl AsRef<Path>,
    action: &'static str,
) -> impl FnOnce(parquet::errors::ParquetError) -> Error {
    let path = path.as_ref().to_path_buf();
    move |source| Error::Parquet {
        path,
        action,
        source,
    }
}

/// Wraps an Arrow error with the path and the action.
pub fn arrow_err(
    path: impl AsRef<Path>,
    action: &'static str,
) -> impl FnOnce(arrow::error::ArrowError) -> Error {
    let path = path.as_ref().to_path_buf();
    move |source| Error::Arrow {
        path,
        action,
        source,
    }
}

/// Wraps a JSON error with the path and the action.
pub fn json_err(
    path: impl AsRef<Path>,
    action: &'static str,
) -> impl FnOnce(serde_json::Error) -> Error {
    let path = path.as_ref().to_path_buf();
    move |source| Error::Json {
        path,
        action,
        source,
    }
}

/// The message of a panic payload: `panic!` gives a `&'static str` or a
/// `String`; anything else (`panic_any`) has no readable message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}

/// A thread's join result (`JoinHandle::join`, `ScopedJoinHandle::join`, or
/// `catch_unwind`), with a panic turned into [`Error::WorkerPanicked`] that
/// carries its message.
pub fn joined<T>(stage: &'static str, result: std::thread::Result<T>) -> Result<T> {
    result.map_err(|payload| Error::WorkerPanicked {
        stage,
        message: panic_message(&*payload),
    })
}

/// [`Error::NotOneWord`]'s message.
fn not_one_word(query: &str, words: &[String]) -> String {
    if words.is_empty() {
        format!(
            "'{}' leaves no word after this model's normalization (punctuation, symbols and, unless the corpus kept numbers, digits are dropped); query a word",
            shown(query)
        )
    } else {
        format!(
            "'{}' is {} words after this model's normalization ({}), not one; query them one at a time",
            shown(query),
            words.len(),
            shown(&words.join(" "))
        )
    }
}

/// An [`Error::InvalidInput`] for `path`.
pub fn invalid(path: impl AsRef<Path>, message: impl Into<String>) -> Error {
    Error::InvalidInput {
        path: path.as_ref().to_path_buf(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_thread_becomes_an_error_with_its_message() {
        // A formatted message (a `String` payload).
        let worker = std::thread::spawn(|| -> u32 { panic!("shard {} is bad", 3) });
        let e = joined("test worker", worker.join()).unwrap_err();
        assert!(
            matches!(&e, Error::WorkerPanicked { stage: "test worker", message } if message == "shard 3 is bad"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "internal error: the test worker thread panicked: shard 3 is bad"
        );
        assert!(!e.is_usage());

        // A literal message (a `&'static str` payload), from a scoped thread.
        let e = std::thread::scope(|s| {
            let worker = s.spawn(|| -> u32 { panic!("literal") });
            joined("scoped", worker.join()).unwrap_err()
        });
        assert!(matches!(&e, Error::WorkerPanicked { message, .. } if message == "literal"));

        // Not a string.
        let worker = std::thread::spawn(|| -> u32 { std::panic::panic_any(7u8) });
        let e = joined("any", worker.join()).unwrap_err();
        assert!(e.to_string().contains("not a string"), "{e}");

        // A thread that returns hands its value through.
        let worker = std::thread::spawn(|| 7u32);
        assert_eq!(joined("ok", worker.join()).unwrap(), 7);
    }
}
