//! Hostile cases from the careless-user pass of session 9 (issue #16's
//! classes, on the stream path, `prep`'s parquet reader and `eval`). Each
//! failed before its fix: a hang, a panic, exit 0 on nothing done, or a
//! message that sent the user the wrong way.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::{corpus_only, fails, ok, plain, w2v, BIN};

const IDS: &str = "vocab/corpus.ids";

/// [`with_ids`] and a tiny model trained on it in `model/`.
fn with_model() -> tempfile::TempDir {
    let d = with_ids(200_000);
    let train = [
        "train", "--corpus", IDS, "--engine", "native", "--dim", "8", "--epochs", "1", "-o",
        "model",
    ];
    ok(d.path(), &train);
    d
}

/// A synthetic corpus with `vocab/corpus.ids`.
fn with_ids(bytes: u64) -> tempfile::TempDir {
    let d = corpus_only(bytes);
    ok(d.path(), &["vocab", "--top", "0"]);
    d
}

#[test]
fn epochs_are_bounded() {
    let d = with_ids(200_000);
    fails(
        d.path(),
        &["train", "--corpus", IDS, "--epochs", "1001", "-o", "m"],
        2,
        "--epochs must be within 1..=1000",
    );
    assert!(!d.path().join("m").exists());
}

/// Ctrl-C while the stream's plan is being counted (1000 epochs of a 4 MB
/// corpus: seconds of counting) stops at once, writing nothing. Before,
/// the plan ignored the signal and counted to the end.
#[test]
fn ctrl_c_stops_the_stream_plan() {
    let d = with_ids(4_000_000);
    let p = d.path();
    let child = Command::new(BIN)
        .args([
            "train",
            "--engine",
            "native",
            "--corpus",
            IDS,
            "--epochs",
            "1000",
            "--dim",
            "8",
            "-o",
            "m",
            "--progress",
            "silent",
        ])
        .current_dir(p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let t = std::time::Instant::now();
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted while planning the stream; nothing written"),
        "{err}"
    );
    assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    assert!(!p.join("m").exists());
}

/// A `corpus.ids` emptied with its manifest edited to match panicked
/// (an unaligned cast of the empty mapping).
#[test]
fn an_empty_corpus_ids_is_refused() {
    let d = with_ids(200_000);
    let p = d.path();
    std::fs::write(p.join(IDS), b"").unwrap();
    let mpath = p.join("vocab/vocab.manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    let fp = w2v::manifest::fingerprint(&p.join(IDS)).unwrap();
    let outputs = m["outputs"].as_array_mut().unwrap();
    let ids = outputs
        .iter_mut()
        .find(|o| {
            o["path"]
                .as_str()
                .is_some_and(|f| f.ends_with("corpus.ids"))
        })
        .unwrap();
    ids["bytes"] = fp.bytes.into();
    ids["xxh3"] = fp.xxh3.as_str().into();
    std::fs::write(&mpath, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let err = fails(p, &["train", "--corpus", IDS, "-o", "m"], 1, "holds no ids");
    assert!(err.contains("corpus.ids"), "{err}");
}

/// A corpus of one word per line has no pairs: `pairs` refused it, but
/// `train --corpus` wrote a model of random vectors with exit 0.
#[test]
fn a_stream_without_pairs_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let words: String = (0..3000)
        .map(|i| format!("{}\n", ["кот", "пёс", "дом", "лес"][i % 4]))
        .collect();
    std::fs::write(p.join("raw.txt"), words).unwrap();
    ok(p, &["prep", "raw.txt", "-o", "data/corpus.txt"]);
    ok(p, &["vocab", "--top", "0", "--min-count", "1"]);
    let err = fails(
        p,
        &["train", "--engine", "native", "--corpus", IDS, "-o", "m"],
        1,
        "draws no pairs",
    );
    assert!(err.contains("corpus.ids"), "{err}");
    assert!(!p.join("m").exists());
}

/// A FIFO inside a directory given to `prep` blocked the walk forever.
#[test]
fn prep_skips_a_fifo_inside_a_directory() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir(p.join("in")).unwrap();
    std::fs::write(p.join("in/a.txt"), "Привет, мир!\n").unwrap();
    let fifo = std::ffi::CString::new(p.join("in/pipe.txt").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let mut child = Command::new(BIN)
        .args(["prep", "in", "-o", "out/corpus.txt", "--progress", "silent"])
        .current_dir(p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = super::wait_at_most(&mut child, 60, "prep blocked on the FIFO");
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(p.join("out/corpus.txt")).unwrap(),
        "привет мир\n"
    );
}

fn write_parquet(
    path: &Path,
    batch: arrow::array::RecordBatch,
    codec: parquet::basic::Compression,
) {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(codec)
        .build();
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A dictionary-encoded text column (pandas categoricals) was refused as
/// "not a string column", a brotli file failed with "Disabled feature at
/// compile time", and a list column named `text` was reported missing.
#[test]
fn prep_reads_dictionary_and_brotli_parquet_and_names_a_nested_column() {
    use arrow::array::{Array, DictionaryArray, ListArray, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Int32Type, Schema};
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let rows = ["Первая строка", "Вторая строка", "Первая строка"];
    let dict: DictionaryArray<Int32Type> = rows.iter().copied().collect();
    let schema = Schema::new(vec![Field::new("text", dict.data_type().clone(), false)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(dict)]).unwrap();
    write_parquet(
        &p.join("dict.parquet"),
        batch,
        parquet::basic::Compression::SNAPPY,
    );
    ok(p, &["prep", "dict.parquet", "-o", "a/corpus.txt"]);
    assert_eq!(
        std::fs::read_to_string(p.join("a/corpus.txt")).unwrap(),
        "первая строка\nвторая строка\nпервая строка\n"
    );

    let plain = StringArray::from(rows.to_vec());
    let schema = Schema::new(vec![Field::new("text", plain.data_type().clone(), false)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(plain)]).unwrap();
    let brotli = parquet::basic::Compression::BROTLI(Default::default());
    write_parquet(&p.join("brotli.parquet"), batch, brotli);
    ok(p, &["prep", "brotli.parquet", "-o", "b/corpus.txt"]);
    assert_eq!(
        std::fs::read_to_string(p.join("b/corpus.txt")).unwrap(),
        "первая строка\nвторая строка\nпервая строка\n"
    );

    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
    let schema = Schema::new(vec![Field::new("text", list.data_type().clone(), true)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(list)]).unwrap();
    write_parquet(
        &p.join("list.parquet"),
        batch,
        parquet::basic::Compression::SNAPPY,
    );
    fails(
        p,
        &["prep", "list.parquet", "-o", "c/corpus.txt"],
        1,
        "column 'text' is nested (a list or struct",
    );
}

/// `eval --groups` with no member in the vocabulary exited 0 with
/// "precision@10 0.0000 over 0 members".
#[test]
fn eval_groups_with_no_known_member_fails() {
    let d = super::prepared(300_000, 1);
    let p = d.path();
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", "model",
        ],
    );
    let groups = serde_json::json!({
        "seed": 1,
        "groups": [{"name": "g", "members": ["zzzz", "qqqq"], "contexts": ["xxxx"]}],
    });
    std::fs::write(p.join("g.json"), groups.to_string()).unwrap();
    fails(
        p,
        &["eval", "--model", "model", "--groups", "g.json"],
        1,
        "none of its 2 group members is in the model's vocabulary",
    );
    // `-k 0` printed nothing with exit 0 (the API refuses k = 0).
    for cmd in [
        vec!["neighbors", "кот", "-k", "0", "--model", "model"],
        vec!["analogy", "а", "б", "в", "-k", "0", "--model", "model"],
        // --restrict 0 printed no neighbours with exit 0 (the API refuses it).
        vec!["neighbors", "кот", "--restrict", "0", "--model", "model"],
        vec![
            "analogy",
            "а",
            "б",
            "в",
            "--restrict",
            "0",
            "--model",
            "model",
        ],
    ] {
        let o = w2v(p, &cmd);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(err.contains("must be at least 1"), "{err}");
    }
    // A huge -k overflowed `k + 1` (a panic) or allocated its heaps before
    // it was bounded by the rows searched (an abort): now all rows, in order.
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    let first = words.lines().next().unwrap();
    let all = ok(
        p,
        &[
            "neighbors",
            "--model",
            "model",
            "-k",
            "18446744073709551615",
            "--json",
            "--restrict",
            "7",
            first,
        ],
    );
    let hits: serde_json::Value = serde_json::from_str(&all).unwrap();
    // The 7 most frequent rows, less the query word itself.
    assert_eq!(
        hits[0]["neighbors"].as_array().map(Vec::len),
        Some(6),
        "{all}"
    );
    let abc: Vec<&str> = words.lines().take(3).collect();
    for k in ["4294967296", "18446744073709551615"] {
        let out = ok(
            p,
            &[
                "analogy",
                abc[0],
                abc[1],
                abc[2],
                "-k",
                k,
                "--model",
                "model",
                "--restrict",
                "9",
            ],
        );
        // The 9 rows searched, less the three query words.
        let ranked = out.lines().filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|r| r.parse::<usize>().is_ok())
        });
        assert_eq!(ranked.count(), 6, "{out}");
    }
    // An idle timeout past a year overflowed the clock (a panic on the first
    // connection); more connections than 65536 cannot be open anyway.
    for (flag, value, range) in [
        ("--idle-timeout", "18446744073709551615", "1..=31536000"),
        ("--max-connections", "4000000000", "1..=65536"),
        ("--max-connections", "0", "1..=65536"),
    ] {
        let o = w2v(p, &["serve", "--model", "model", flag, value]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(range), "{flag} {value}: {err}");
    }
}

/// `--lr -1` got clap's "unexpected argument '-1' found" instead of the
/// range check; a changed setting on `--resume` said "start afresh without
/// --resume", which the next run refused for the checkpoint ("pass
/// --force").
#[test]
fn negative_values_reach_the_range_checks_and_resume_hints_name_force() {
    let d = with_ids(200_000);
    let p = d.path();
    fails(
        p,
        &["train", "--corpus", IDS, "--lr", "-1", "-o", "m"],
        2,
        "--lr must be within (0, 10)",
    );
    let o = w2v(
        p,
        &[
            "train",
            "--engine",
            "native",
            "--corpus",
            IDS,
            "--dim",
            "8",
            "--epochs",
            "2",
            "-o",
            "m",
            "--stop-after-pairs",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(130), "{o:?}");
    let err = fails(
        p,
        &[
            "train", "--engine", "native", "--corpus", IDS, "--dim", "8", "--epochs", "2",
            "--window", "3", "-o", "m", "--resume",
        ],
        1,
        "start afresh with --force instead of --resume",
    );
    assert!(!err.contains("without --resume"), "{err}");
}

/// An interrupted run into a directory holding a finished model rewrote
/// the model's `train.jsonl`: `report` and `serve` then drew the curves of
/// a run whose vectors were never written. The unfinished run's log now
/// stays beside its checkpoints until its model is written.
#[test]
fn an_interrupted_run_keeps_the_finished_models_log() {
    let d = super::prepared(300_000, 1);
    let p = d.path();
    fn args(stop: Option<&'static str>) -> Vec<&'static str> {
        let mut a = vec![
            "train", "--engine", "native", "--dim", "16", "--epochs", "2", "-o", "model",
        ];
        if let Some(s) = stop {
            a.extend(["--seed", "9", "--stop-after-pairs", s]);
        }
        a
    }
    ok(p, &args(None));
    let done = std::fs::read(p.join("model/train.jsonl")).unwrap();
    let npy = std::fs::read(p.join("model/input.npy")).unwrap();
    assert!(!p.join("model/checkpoints").exists());
    let o = w2v(p, &args(Some("1000")));
    assert_eq!(o.status.code(), Some(130), "{o:?}");
    assert_eq!(std::fs::read(p.join("model/train.jsonl")).unwrap(), done);
    assert_eq!(std::fs::read(p.join("model/input.npy")).unwrap(), npy);
    let running = std::fs::read_to_string(p.join("model/checkpoints/train.jsonl")).unwrap();
    assert!(running.contains("\"outcome\":\"interrupted\""), "{running}");
    // Resumed to the end, its log replaces the old one.
    let mut resume = args(None);
    resume.extend(["--seed", "9", "--resume"]);
    ok(p, &resume);
    let now = std::fs::read_to_string(p.join("model/train.jsonl")).unwrap();
    assert_ne!(now.as_bytes(), &done[..]);
    assert!(
        now.contains("\"resumed\":true") && now.contains("\"outcome\":\"done\""),
        "{now}"
    );
    assert!(!p.join("model/checkpoints").exists());
}

/// `train` with neither shards nor `vocab/corpus.ids` said only that the
/// shards manifest could not be read.
#[test]
fn train_with_no_input_names_both_inputs() {
    let d = tempfile::tempdir().unwrap();
    let err = fails(
        d.path(),
        &["train", "-o", "m"],
        1,
        "shards: not found, nor vocab/corpus.ids: run `w2v pairs` (or `w2v vocab`",
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!d.path().join("m").exists());
}

/// `train -o DIR` into a directory of the user's own files replaced its
/// `words.txt` and `train.jsonl` with exit 0 (`-o /` wrote into /); `import`
/// the same. A new, empty or model directory is still written.
#[test]
fn a_model_is_not_written_over_a_users_files() {
    let d = with_ids(200_000);
    let p = d.path();
    let mine = p.join("notes");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("words.txt"), "my precious word list\n").unwrap();
    std::fs::write(mine.join("train.jsonl"), "{\"my\": \"log\"}\n").unwrap();
    fn train(out: &str) -> Vec<&str> {
        let small = ["--engine", "native", "--dim", "8", "--epochs", "1"];
        let mut a = vec!["train", "--corpus", IDS, "-o", out];
        a.extend(small);
        a
    }
    fails(
        p,
        &train("notes"),
        1,
        "holds \"train.jsonl\" and 1 more and no model",
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("words.txt")).unwrap(),
        "my precious word list\n"
    );
    // An empty directory, then the model it now holds, are fine.
    std::fs::create_dir(p.join("empty")).unwrap();
    ok(p, &train("empty"));
    ok(p, &train("empty"));
    ok(
        p,
        &[
            "export",
            "--model",
            "empty",
            "--format",
            "word2vec-text",
            "-o",
            "v.txt",
        ],
    );
    fails(p, &["import", "v.txt", "-o", "notes"], 1, "and no model");
    ok(p, &["import", "v.txt", "-o", "empty", "--force"]);
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 2);
}

/// Messages from session 11's careless pass that sent the user the wrong
/// way (or said nothing): each now names what the input is.
#[test]
fn careless_inputs_are_named_for_what_they_are() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let text: &[u8] = "Мама мыла раму, а кот спал на печи.\n".as_bytes();
    // `--format text` on a .tar.gz put the tar headers into the corpus.
    std::fs::write(p.join("x.tar.gz"), super::tar_gz(&[("a.txt", text)])).unwrap();
    let prep_as = |format: &str, input: &str| -> Vec<String> {
        ["prep", "--format", format, input, "-o", "c.txt"]
            .map(String::from)
            .to_vec()
    };
    let args = prep_as("text", "x.tar.gz");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(p, &args, 1, "x.tar.gz: is a tar archive, not text");
    assert!(!p.join("c.txt").exists());
    // A zip named as tar, and a zip asked for on stdin.
    std::fs::write(p.join("z.zip"), super::zip_of(&[("a.txt", text)])).unwrap();
    let args = prep_as("tar", "z.zip");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(p, &args, 1, "z.zip: is a zip file, not tar");
    let args = prep_as("zip", "-");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(
        p,
        &args,
        1,
        "a zip file cannot be read as a stream (from stdin or a pipe)",
    );
    // Detected, the archive is read as one.
    ok(p, &["prep", "x.tar.gz", "-o", "c.txt"]);
    assert!(std::fs::read_to_string(p.join("c.txt"))
        .unwrap()
        .contains("кот"));
    // An empty corpus is written, with a warning that says why.
    std::fs::write(p.join("short.txt"), "кот\n").unwrap();
    let (code, _, err) = plain(
        p,
        &["prep", "short.txt", "-o", "e.txt", "--min-tokens", "5"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("e.txt: wrote an empty corpus")
            && err.contains("1 segments under --min-tokens 5"),
        "{err}"
    );
    // It never replaces a corpus already there: the run fails and keeps it.
    let before = std::fs::read(p.join("c.txt")).unwrap();
    let err = fails(
        p,
        &["prep", "short.txt", "-o", "c.txt", "--min-tokens", "5"],
        1,
        "the corpus already here is kept, not replaced by an empty corpus",
    );
    assert!(err.contains("c.txt"), "{err}");
    assert_eq!(std::fs::read(p.join("c.txt")).unwrap(), before);
    // Nor any other file with something in it (no manifest beside it).
    std::fs::write(p.join("notes.txt"), "заметки\n").unwrap();
    fails(
        p,
        &["prep", "short.txt", "-o", "notes.txt", "--min-tokens", "5"],
        1,
        "notes.txt: the inputs gave no text (1 text units read, 0 dropped by --min-cyrillic-share, 1 segments under --min-tokens 5); the file already here is kept",
    );
    assert_eq!(
        std::fs::read(p.join("notes.txt")).unwrap(),
        "заметки\n".as_bytes()
    );
    // Shards that are a file, or a directory with no manifest.
    fails(
        p,
        &["train", "--shards", "c.txt", "-o", "m"],
        1,
        "c.txt: is a regular file, not a directory: give the directory `w2v pairs` wrote",
    );
    std::fs::create_dir(p.join("nothing")).unwrap();
    fails(
        p,
        &["train", "--shards", "nothing", "-o", "m"],
        1,
        "nothing: holds no shards.manifest.json",
    );
    // A corpus that is not there is not "a corpus without a manifest".
    fails(
        p,
        &["vocab", "--corpus", "nope.txt"],
        1,
        "nope.txt: does not exist",
    );
    // A host name is an address: the model is what is missing here.
    fails(
        p,
        &["serve", "--addr", "localhost:0", "--model", "nope"],
        1,
        "nope is not a complete model directory",
    );
}

/// SIGTERM on `serve` said "unfinished outputs removed", though serve
/// writes nothing; it exits 143, SIGTERM's code.
#[test]
#[cfg(unix)]
fn a_stopped_server_does_not_claim_to_have_removed_outputs() {
    use std::io::{BufRead, BufReader, Read};
    let d = with_model();
    let p = d.path();
    let mut child = Command::new(BIN)
        .args(["serve", "--model", "model", "--addr", "127.0.0.1:0"])
        .current_dir(p)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on"), "{line}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("w2v: interrupted"), "{err}");
    assert!(!err.contains("outputs removed"), "{err}");
}

/// Session 12's careless pass: a query of punctuation alone was "not in
/// vocabulary" (on a subword model too, which answers any word); a corpus
/// that is a directory was "a corpus without a prep manifest"; a forced
/// format that does not match the file gave the reader's own error (a tar
/// reader quoting the text it misread); text forced as CoNLL-U warned of an
/// "empty input".
#[test]
fn queries_of_no_word_and_mismatched_formats_say_what_is_wrong() {
    let d = with_model();
    let p = d.path();
    // Training into it again says the finished model will be replaced.
    let (code, _, err) = plain(
        p,
        &[
            "train", "--corpus", IDS, "--engine", "native", "--dim", "8", "--epochs", "1", "-o",
            "model",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("model holds a finished model: this run replaces it"),
        "{err}"
    );
    for q in ["...", "!!!", "—"] {
        fails(
            p,
            &["neighbors", q, "--model", "model"],
            1,
            "leaves no word after this model's normalization",
        );
    }
    // An over-long word is still a word, just not a known one.
    let long = "я".repeat(60);
    fails(
        p,
        &["neighbors", &long, "--model", "model"],
        1,
        "not in vocabulary",
    );
    std::fs::create_dir(p.join("dir")).unwrap();
    fails(
        p,
        &["vocab", "--corpus", "dir"],
        1,
        "dir: is a directory: give the corpus file",
    );
    let text = "Мама мыла раму, а кот спал на печи.\n".repeat(20);
    std::fs::write(p.join("plain.txt"), &text).unwrap();
    for (format, needle) in [
        ("tar", "plain.txt: is not a tar archive"),
        (
            "zip",
            "plain.txt: is not a zip file (it starts as something else)",
        ),
        ("parquet", "plain.txt: is not a parquet file"),
    ] {
        let err = fails(
            p,
            &["prep", "--format", format, "plain.txt", "-o", "c.txt"],
            1,
            needle,
        );
        assert!(!err.contains("кот"), "{err}");
    }
    let (_, _, err) = plain(
        p,
        &["prep", "--format", "conllu", "plain.txt", "-o", "c.txt"],
    );
    assert!(
        err.contains(&format!(
            "plain.txt: no text read from its {} bytes as conllu; is --format right?",
            text.len()
        )),
        "{err}"
    );
    assert!(!err.contains("empty input"), "{err}");
}

/// `neighbors -` typed at a terminal answers each line as it is entered; it
/// used to wait for the end of input, so nothing came back until Ctrl-D.
/// `script` (util-linux) gives the command a terminal for stdin.
#[test]
#[cfg(unix)]
fn neighbors_at_a_terminal_answers_each_line_as_it_comes() {
    use std::io::{BufRead, BufReader, Write};
    let d = with_model();
    let p = d.path();
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    let word = words.lines().nth(5).unwrap().to_owned();
    let mut child = Command::new("script")
        .args([
            "-q",
            "-c",
            &format!("{BIN} neighbors --model model -k 3 -"),
            "/dev/null",
        ])
        .current_dir(p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs the query at a terminal");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{word}").unwrap();
    stdin.flush().unwrap();
    // Read until the first ranked neighbour ("  1  WORD  SCORE"); the
    // terminal's echo of the query is not one.
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if line.trim_start().starts_with("1  ") {
                let _ = tx.send(line);
                break;
            }
        }
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(30));
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let line = got.expect("no answer while stdin was still open");
    assert!(line.split_whitespace().count() >= 3, "{line}");
}
