//! The hostile suite: w2v used as a careless or unlucky user would (issue
//! #16). Each test names the defect class it covers; each failed on the
//! code before the fix. Tests never touch device nodes (they run as root in
//! CI): a FIFO and a directory stand in for every non-regular output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::hostile_diskfull::stray_temps;
use super::{fails, ok, prepared, read, w2v, BIN};

/// `prepared` plus a small native model in `model/`.
fn trained() -> tempfile::TempDir {
    let d = prepared(300_000, 1);
    ok(
        d.path(),
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", "model",
        ],
    );
    d
}

/// `w2v` with `--progress plain`, so warnings reach stderr.
fn w2v_plain(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .args(["--progress", "plain"])
        .current_dir(dir)
        .output()
        .expect("run w2v")
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().expect("run mkfifo");
    assert!(st.success());
}

fn is_fifo(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_fifo())
}

/// Names in `dir` (recursively) that look like w2v temp files or staging dirs.
fn temps(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".tmp") || n.starts_with(".w2v-staging-") {
            out.push(e.path().display().to_string());
        }
        if e.file_type().unwrap().is_dir() {
            out.extend(temps(&e.path()));
        }
    }
    out
}

// ---- Class 1: output paths ----------------------------------------------

#[test]
fn class1_fifo_or_directory_as_output_is_refused_not_replaced() {
    let d = trained();
    let p = d.path();
    std::fs::write(p.join("in.txt"), "Привет, мир!\n").unwrap();
    mkfifo(&p.join("fifo"));
    fails(p, &["prep", "in.txt", "-o", "fifo"], 1, "is a FIFO");
    fails(
        p,
        &["export", "--format", "word2vec-text", "-o", "fifo"],
        1,
        "is a FIFO",
    );
    fails(
        p,
        &["export", "--format", "npy", "-o", "fifo"],
        1,
        "is a FIFO",
    );
    assert!(is_fifo(&p.join("fifo")), "the FIFO is still a FIFO");
    assert!(!p.join("fifo.prep.manifest.json").exists());
    assert!(!p.join("manifest.json").exists());
    // A directory where a file is expected.
    std::fs::create_dir(p.join("adir")).unwrap();
    fails(p, &["prep", "in.txt", "-o", "adir"], 1, "is a directory");
    fails(p, &["synth", "--out", "adir"], 1, "is a directory");
    // A size of 0 wrote an empty corpus and exited 0.
    fails(
        p,
        &["synth", "--out", "empty.txt", "--bytes", "0"],
        2,
        "--bytes must be at least 1",
    );
    assert!(!p.join("empty.txt").exists());
    // A file where a directory is expected.
    std::fs::write(p.join("afile"), "x").unwrap();
    fails(
        p,
        &["train", "--engine", "native", "-o", "afile"],
        1,
        "not a directory",
    );
    assert_eq!(read(p.join("afile")), b"x");
}

#[test]
fn class1_dash_is_stdout_where_supported_and_refused_elsewhere() {
    let d = trained();
    let p = d.path();
    std::fs::write(p.join("in.txt"), "Привет, Мир!\n").unwrap();
    assert_eq!(ok(p, &["prep", "in.txt", "-o", "-"]), "привет мир\n");
    let text = ok(p, &["export", "--format", "word2vec-text", "-o", "-"]);
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    assert!(text.starts_with(&format!("{} 16\n", words.lines().count())));
    assert_eq!(
        ok(p, &["export", "--format", "vocab-tsv", "-o", "-"])
            .lines()
            .count(),
        words.lines().count()
    );
    fails(p, &["export", "--format", "npy", "-o", "-"], 2, "`-o -`");
    fails(p, &["synth", "--out", "-"], 2, "`-`");
    fails(p, &["train", "--engine", "native", "-o", "-"], 2, "`-`");
    fails(p, &["import", "v.txt", "-o", "-"], 2, "`-`");
    fails(p, &["vocab", "--vocab-dir", "-"], 2, "`-`");
    fails(p, &["pairs", "--shards-dir", "-", "--force"], 2, "`-`");
    assert!(!p.join("-").exists(), "no file named `-`");
    assert!(!p.join("-.prep.manifest.json").exists());
}

#[test]
fn class1_outputs_never_replace_another_stages_files() {
    let d = trained();
    let p = d.path();
    let input = read(p.join("model/input.npy"));
    fails(
        p,
        &["export", "--format", "npy", "-o", "model/input.npy"],
        1,
        "is an output of stage 'train'",
    );
    fails(
        p,
        &["export", "--format", "vocab-tsv", "-o", "vocab/words.txt"],
        1,
        "is an output of stage 'vocab'",
    );
    fails(
        p,
        &[
            "export",
            "--format",
            "vocab-tsv",
            "-o",
            "model/model.manifest.json",
        ],
        1,
        "manifest",
    );
    assert_eq!(read(p.join("model/input.npy")), input);
    // Files of a stage's directory that no manifest lists (the training
    // log), and those of its subdirectories (a shard), were replaced.
    let log = read(p.join("model/train.jsonl"));
    fails(
        p,
        &[
            "export",
            "--format",
            "word2vec-text",
            "-o",
            "model/train.jsonl",
        ],
        1,
        "model/train.jsonl: is inside",
    );
    assert_eq!(read(p.join("model/train.jsonl")), log);
    let shard = std::fs::read_dir(p.join("shards/epoch-00"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|e| e.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let before = read(shard.clone());
    let shard_arg = shard.strip_prefix(p).unwrap().to_str().unwrap().to_string();
    let err = fails(
        p,
        &["export", "--format", "word2vec-bin", "-o", &shard_arg],
        1,
        "which holds pair shards (`w2v pairs`)",
    );
    assert!(err.contains(&shard_arg), "{err}");
    assert_eq!(read(shard.clone()), before);
    // prep into a directory of another stage.
    std::fs::write(p.join("in.txt"), "Привет, мир!\n").unwrap();
    fails(
        p,
        &["prep", "in.txt", "-o", "vocab/corpus.txt"],
        1,
        "holds a vocabulary",
    );
    fails(
        p,
        &["prep", "in.txt", "-o", "model/corpus.txt"],
        1,
        "holds a model",
    );
    assert!(!p.join("vocab/corpus.txt").exists());
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    ok(p, &["neighbors", words.lines().next().unwrap(), "-k", "3"]);
}

// ---- Class 2: stage-specific manifests -----------------------------------

#[test]
fn class2_each_stage_writes_its_own_manifest_name() {
    let d = trained();
    let p = d.path();
    for f in [
        "data/corpus.txt.prep.manifest.json",
        "vocab/vocab.manifest.json",
        "shards/shards.manifest.json",
        "model/model.manifest.json",
    ] {
        assert!(p.join(f).is_file(), "{f}");
    }
    for dir in ["data", "vocab", "shards", "model"] {
        assert!(!p.join(dir).join("manifest.json").exists(), "{dir}");
    }
}

#[test]
fn class2_pairs_refuses_one_directory_for_vocab_and_shards() {
    let d = prepared(300_000, 1);
    let p = d.path();
    fails(
        p,
        &["pairs", "--vocab-dir", "x", "--shards-dir", "x"],
        2,
        "--vocab-dir and --shards-dir are both x",
    );
    assert!(!p.join("x/vocab.manifest.json").exists());
    // Into the vocabulary of an earlier run: refused too, the vocab intact.
    let before = read(p.join("vocab/vocab.manifest.json"));
    fails(
        p,
        &["pairs", "--shards-dir", "vocab", "--force"],
        1,
        "holds a vocabulary",
    );
    assert_eq!(read(p.join("vocab/vocab.manifest.json")), before);
}

#[test]
fn class2_pairs_force_into_the_corpus_directory_keeps_the_prep_manifest() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let before = read(p.join("data/corpus.txt.prep.manifest.json"));
    fails(
        p,
        &["pairs", "--shards-dir", "data", "--force"],
        1,
        "holds a prepared corpus",
    );
    assert_eq!(read(p.join("data/corpus.txt.prep.manifest.json")), before);
    // The corpus is still usable.
    ok(p, &["vocab", "--vocab-dir", "v2"]);
    fails(
        p,
        &["vocab", "--vocab-dir", "data"],
        1,
        "holds a prepared corpus",
    );
}

#[test]
fn class2_train_refuses_the_directory_of_an_earlier_stage() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let before = read(p.join("data/corpus.txt.prep.manifest.json"));
    for (dir, what) in [
        ("data", "holds a prepared corpus"),
        ("vocab", "holds a vocabulary"),
        ("shards", "holds pair shards"),
    ] {
        fails(p, &["train", "--engine", "native", "-o", dir], 1, what);
    }
    assert_eq!(read(p.join("data/corpus.txt.prep.manifest.json")), before);
}

#[test]
fn class2_two_preps_into_one_directory_keep_both_manifests() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("a.txt"), "кот ест рыбу\n".repeat(50)).unwrap();
    std::fs::write(p.join("b.txt"), "пес грызет кость\n".repeat(50)).unwrap();
    ok(p, &["prep", "a.txt", "-o", "data/a.txt"]);
    ok(p, &["prep", "b.txt", "-o", "data/b.txt"]);
    ok(
        p,
        &[
            "vocab",
            "--corpus",
            "data/a.txt",
            "--vocab-dir",
            "va",
            "--min-count",
            "1",
        ],
    );
    ok(
        p,
        &[
            "vocab",
            "--corpus",
            "data/b.txt",
            "--vocab-dir",
            "vb",
            "--min-count",
            "1",
        ],
    );
    assert_eq!(read(p.join("va/words.txt")), "ест\nкот\nрыбу\n".as_bytes());
    assert_eq!(
        read(p.join("vb/words.txt")),
        "грызет\nкость\nпес\n".as_bytes()
    );
}

#[test]
fn class2_directories_with_legacy_manifest_json_still_work() {
    let d = trained();
    let p = d.path();
    for (from, to) in [
        ("data/corpus.txt.prep.manifest.json", "data/manifest.json"),
        ("vocab/vocab.manifest.json", "vocab/manifest.json"),
        ("shards/shards.manifest.json", "shards/manifest.json"),
        ("model/model.manifest.json", "model/manifest.json"),
    ] {
        std::fs::rename(p.join(from), p.join(to)).unwrap();
    }
    let w = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    let w0 = w.lines().nth(3).unwrap();
    ok(p, &["neighbors", w0, "-k", "3"]);
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", "m2",
        ],
    );
    // A legacy vocabulary still guards its directory.
    fails(
        p,
        &["train", "--engine", "native", "-o", "vocab"],
        1,
        "holds a vocabulary",
    );
    // Re-running a stage replaces its legacy manifest.
    ok(p, &["vocab", "--min-count", "5"]);
    assert!(p.join("vocab/vocab.manifest.json").exists());
    assert!(!p.join("vocab/manifest.json").exists());
}

// ---- Class 3: prep never reads its own output ----------------------------

#[test]
fn class3_prep_rerun_on_its_own_directory_reads_only_the_inputs() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir(p.join("data")).unwrap();
    std::fs::write(p.join("data/in.txt"), "Один два три.\nЧетыре пять.\n").unwrap();
    ok(p, &["prep", "data", "-o", "data/corpus.txt"]);
    let first = read(p.join("data/corpus.txt"));
    assert_eq!(first, "один два три\nчетыре пять\n".as_bytes());
    // Stale temp files of an interrupted run are hidden, never input.
    std::fs::write(p.join("data/.corpus.txt.Ab12Cd.tmp"), "мусор мусор\n").unwrap();
    ok(p, &["prep", "data", "-o", "data/corpus.txt"]);
    assert_eq!(read(p.join("data/corpus.txt")), first, "no doubling");
    // Naming the output as an input is refused.
    fails(
        p,
        &["prep", "data/corpus.txt", "-o", "data/corpus.txt"],
        2,
        "both an input and the output",
    );
    assert_eq!(read(p.join("data/corpus.txt")), first);
}

// ---- Class 6: progress is never lost -------------------------------------

#[test]
fn class6_train_without_resume_refuses_a_checkpoint_and_force_discards_it() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let base = [
        "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", "m",
    ];
    let mut cut = base.to_vec();
    cut.extend(["--stop-after-pairs", "50000"]);
    assert_eq!(w2v(p, &cut).status.code(), Some(130));
    let ptr = p.join("m/checkpoints/checkpoint.json");
    let saved = read(ptr.clone());
    fails(p, &base, 1, "--resume");
    assert_eq!(read(ptr.clone()), saved, "the checkpoint stays");
    let mut force = base.to_vec();
    force.push("--force");
    ok(p, &force);
    assert!(p.join("m/input.npy").exists());
    assert!(!ptr.exists());
    let mut both = base.to_vec();
    both.extend(["--force", "--resume"]);
    let o = w2v(p, &both);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}

/// A stage that fails before its first output (here `train --resume` with
/// nothing to resume) left the directories it had created, empty; now it
/// removes them, and keeps a directory that was there before.
#[test]
fn class6_a_stage_that_writes_nothing_leaves_no_new_directory() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let resume = |out| ["train", "--engine", "native", "--resume", "-o", out];
    fails(p, &resume("new/m"), 1, "nothing to resume");
    assert!(!p.join("new").exists());
    std::fs::create_dir(p.join("old")).unwrap();
    fails(p, &resume("old"), 1, "nothing to resume");
    assert!(p.join("old").is_dir());
}

/// `--progress json` keeps stderr JSON to its last line: a failure and an
/// interruption end with one object, not a plain-text line. A stopped
/// `train` says `w2v: interrupted; …` as every other command does, not
/// `w2v: error: interrupted; …`.
#[test]
fn class6_the_last_line_on_stderr_follows_the_progress_mode() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let run = |args: &[&str], mode: &str| {
        let o = Command::new(BIN)
            .args(args)
            .args(["--progress", mode])
            .current_dir(p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let last = err.lines().last().unwrap_or_default().to_string();
        (o.status.code(), last)
    };
    let json = |line: &str| -> serde_json::Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let (code, last) = run(&["train", "--corpus", "nope.ids", "-o", "m"], "json");
    assert_eq!(code, Some(1));
    let v = json(&last);
    assert_eq!(v["level"], "error", "{last}");
    assert_eq!(v["exit_code"], 1, "{last}");
    assert!(
        v["message"].as_str().unwrap().contains("nope.ids"),
        "{last}"
    );
    // A usage error too, found before the command line is parsed.
    let (code, last) = run(&["train", "--no-such-flag"], "json");
    assert_eq!(code, Some(2));
    let v = json(&last);
    assert_eq!(v["exit_code"], 2, "{last}");
    assert!(
        v["message"].as_str().unwrap().contains("--no-such-flag"),
        "{last}"
    );
    // An output path that names a directory is refused before any work.
    let (code, last) = run(&["prep", "data/corpus.txt", "-o", "newdir/"], "plain");
    assert_eq!(code, Some(1));
    assert!(last.contains("names a directory"), "{last}");
    assert!(!p.join("newdir").exists());
    let cut = |out| {
        let mut args: Vec<&str> =
            "train --engine native --dim 16 --epochs 1 --stop-after-pairs 50000 -o"
                .split(' ')
                .collect();
        args.push(out);
        args
    };
    let (code, last) = run(&cut("m1"), "json");
    assert_eq!(code, Some(130));
    let v = json(&last);
    assert_eq!(v["level"], "interrupted", "{last}");
    assert_eq!(v["exit_code"], 130, "{last}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("checkpoint written"),
        "{last}"
    );
    let (code, last) = run(&cut("m2"), "plain");
    assert_eq!(code, Some(130));
    assert!(
        last.starts_with("w2v: interrupted; checkpoint written"),
        "{last}"
    );
    // The checkpoint after a stop fails (the disk is full): the error says
    // the run was stopped and what was lost, not only the I/O error.
    let o = Command::new(BIN)
        .args(cut("m3"))
        .args(["--progress", "plain"])
        .env("W2V_FAULT_ENOSPC_AFTER_BYTES", "20000")
        .current_dir(p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted, but the checkpoint could not be written")
            && err.contains("No space left on device"),
        "{err}"
    );
}

#[test]
fn class6_import_over_a_model_needs_force() {
    let d = trained();
    let p = d.path();
    ok(p, &["export", "--format", "word2vec-text", "-o", "v.txt"]);
    // A different model to import: the first 10 rows.
    let text = std::fs::read_to_string(p.join("v.txt")).unwrap();
    let small: Vec<&str> = text.lines().skip(1).take(10).collect();
    std::fs::write(p.join("small.txt"), small.join("\n") + "\n").unwrap();
    let before = read(p.join("model/words.txt"));
    fails(p, &["import", "small.txt", "-o", "model"], 1, "--force");
    assert_eq!(read(p.join("model/words.txt")), before);
    ok(p, &["import", "small.txt", "-o", "model", "--force"]);
    assert_eq!(
        std::fs::read_to_string(p.join("model/words.txt"))
            .unwrap()
            .lines()
            .count(),
        10
    );
    // Into a fresh directory: no flag needed.
    ok(p, &["import", "small.txt", "-o", "fresh"]);
}

#[test]
fn class6_failed_pairs_force_leaves_old_shards_and_vocab_intact() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let shards = read(p.join("shards/shards.manifest.json"));
    let vocab = read(p.join("vocab/vocab.manifest.json"));
    // A new corpus that yields no pairs: pairs fails after the vocabulary
    // and the (empty) shard set are built.
    std::fs::write(p.join("one.txt"), "слово\n".repeat(200)).unwrap();
    ok(p, &["prep", "one.txt", "-o", "data/corpus.txt"]);
    fails(
        p,
        &["pairs", "--force", "--epochs", "1"],
        1,
        "produced no pairs",
    );
    assert_eq!(read(p.join("shards/shards.manifest.json")), shards);
    assert_eq!(read(p.join("vocab/vocab.manifest.json")), vocab);
    assert!(temps(&p.join("shards")).is_empty(), "{:?}", temps(p));
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "8", "--epochs", "1", "-o", "m",
        ],
    );
}

#[test]
fn class6_partial_shards_and_stale_temps_do_not_block_the_next_run() {
    let d = prepared(300_000, 1);
    let p = d.path();
    // A disk-full run leaves shards without a manifest, and temp files.
    std::fs::remove_file(p.join("shards/shards.manifest.json")).unwrap();
    std::fs::write(p.join("shards/epoch-00/part-00099.parquet"), b"PAR1junk").unwrap();
    std::fs::create_dir(p.join("shards/.w2v-staging-AbCdEf")).unwrap();
    std::fs::write(p.join("shards/.w2v-staging-AbCdEf/x"), b"x").unwrap();
    std::fs::write(p.join("vocab/.words.txt.Zz9Yy8.tmp"), b"x").unwrap();
    std::fs::write(p.join("data/.corpus.txt.Qq1Ww2.tmp"), b"x").unwrap();
    ok(p, &["pairs", "--epochs", "1", "--shard-size", "400000"]);
    assert!(!p.join("shards/epoch-00/part-00099.parquet").exists());
    assert!(temps(&p.join("shards")).is_empty());
    assert!(temps(&p.join("vocab")).is_empty());
    ok(p, &["prep", "data/sample.txt", "-o", "data/corpus.txt"]);
    assert!(temps(&p.join("data")).is_empty());
    // An interrupted checkpoint write leaves a temp file in the model.
    std::fs::create_dir_all(p.join("m/checkpoints/ckpt-000000000000001")).unwrap();
    std::fs::write(
        p.join("m/checkpoints/ckpt-000000000000001/.input.f32.Aa1Bb2.tmp"),
        b"x",
    )
    .unwrap();
    std::fs::write(p.join("m/.input.npy.Cc3Dd4.tmp"), b"x").unwrap();
    ok(
        p,
        &[
            "pairs",
            "--force",
            "--epochs",
            "1",
            "--shard-size",
            "400000",
        ],
    );
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "8", "--epochs", "1", "-o", "m",
        ],
    );
    assert!(temps(&p.join("m")).is_empty(), "{:?}", temps(&p.join("m")));
}

/// Spawns `w2v prep - -o data/corpus.txt` reading a pipe we keep open.
fn prep_from_open_stdin(p: &Path) -> std::process::Child {
    let mut child = Command::new(BIN)
        .args(["prep", "-", "-o", "data/corpus.txt", "--progress", "silent"])
        .current_dir(p)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all("Привет мир\n".repeat(1000).as_bytes())
        .unwrap();
    child
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !cond() {
        assert!(t.elapsed().as_secs() < 60, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn class6_sigterm_and_sigint_remove_the_temp_files_of_an_unfinished_output() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let child = prep_from_open_stdin(p);
        wait_for("prep's temp file", || !temps(&p.join("data")).is_empty());
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let out = child.wait_with_output().unwrap();
        // 128 + the signal, as shells report it: 143 for SIGTERM, 130 for
        // SIGINT, 129 for SIGHUP.
        assert_eq!(out.status.code(), Some(128 + sig), "signal {sig}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("interrupted"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(temps(&p.join("data")).is_empty(), "{:?}", temps(p));
        assert!(!p.join("data/corpus.txt").exists());
        // The output directory the run created goes with its temp file.
        assert!(!p.join("data").exists());
    }
}

/// `w2v train` with `args` (plus 40 epochs of a 64-dim model into `m`) in
/// `p`, with SIGINT ignored when `ignore_int` (as a shell starts a
/// background job: `w2v train ... &`).
fn spawn_training(p: &Path, engine: &[&str], ignore_int: bool) -> std::process::Child {
    spawn_training_env(p, engine, ignore_int, &[])
}

fn spawn_training_env(
    p: &Path,
    engine: &[&str],
    ignore_int: bool,
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut cmd = Command::new(BIN);
    cmd.envs(env.iter().copied());
    cmd.arg("train")
        .args(engine)
        .args([
            "--dim",
            "64",
            "--epochs",
            "40",
            "-o",
            "m",
            "--progress",
            "silent",
        ])
        .current_dir(p)
        .stderr(Stdio::piped());
    if ignore_int {
        use std::os::unix::process::CommandExt;
        // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            })
        };
    }
    cmd.spawn().unwrap()
}

/// A stop signal mid-training: the block finishes, a checkpoint is written
/// and the exit code is 128 + the signal; on the torch engine the signal
/// goes to `w2v`, which passes it to its `w2v-torch` helper and passes back
/// its exit code.
fn signal_checkpoints(engine: &[&str], sig: i32) {
    let d = prepared(600_000, 2);
    let p = d.path();
    if engine.contains(&"torch") && !super::torch_available(p) {
        return;
    }
    let child = spawn_training(p, engine, false);
    // Training has started once the model directory is locked and exists.
    wait_for("the model directory", || p.join("m").is_dir());
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + sig), "{err}");
    assert!(err.contains("checkpoint written"), "{err}");
    assert!(p.join("m/checkpoints/checkpoint.json").exists());
}

/// A second stop signal while the first one's checkpoint is being written
/// stops at once, and leaves neither its temp files nor an empty `ckpt-*`
/// directory (the next run would remove it, but a user sees it first).
#[test]
fn class6_a_second_signal_during_a_checkpoint() {
    let d = prepared(600_000, 2);
    let p = d.path();
    let delay = [("W2V_FAULT_CHECKPOINT_DELAY_MS", "4000")];
    let child = spawn_training_env(p, &["--engine", "native", "--threads", "1"], false, &delay);
    wait_for("the model directory", || p.join("m").is_dir());
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let ckpts = || -> Vec<String> {
        std::fs::read_dir(p.join("m/checkpoints"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("ckpt-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_for("the checkpoint's directory", || !ckpts().is_empty());
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!err.contains("checkpoint written"), "{err}");
    assert_eq!(ckpts(), Vec::<String>::new(), "{err}");
    assert!(!p.join("m/checkpoints/checkpoint.json").exists());
}

/// A small native training run (one thread, dim 16).
const TRAIN_SMALL: [&str; 7] = [
    "train",
    "--engine",
    "native",
    "--threads",
    "1",
    "--dim",
    "16",
];

/// Runs `train` into `m` with the final save held back 4 s (a test hook),
/// and returns it once its last block is done, with its stderr to read on.
/// The caller waits for it (a panic here, which the lint sees, fails the
/// test and ends the process's pipe).
#[allow(clippy::zombie_processes)]
fn training_at_its_final_save(
    p: &Path,
    seed: &str,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
) {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(TRAIN_SMALL)
        .args([
            "--epochs",
            "1",
            "-o",
            "m",
            "--progress",
            "json",
            "--seed",
            seed,
        ])
        .env("W2V_FAULT_SAVE_DELAY_MS", "4000")
        .current_dir(p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            let status = child.wait();
            panic!("ended before its save ({status:?}): {seen}");
        }
        seen.push_str(&line);
        if line.contains("\"stage\":\"train\"") && line.contains("\"finished\":true") {
            return (child, err);
        }
    }
}

/// A stop signal once the last block was done was not acted on: the run
/// wrote its model and exited 0 without a word. Now it says the finished
/// model was written first; a second signal stops at once, and the model
/// already there stays whole, with no temp files left.
#[test]
fn class6_a_signal_during_the_final_save() {
    use std::io::Read;
    let d = prepared(200_000, 1);
    let p = d.path();
    let (child, mut err) = training_at_its_final_save(p, "1");
    // The stop signals are blocked in the main thread, which does the
    // save, and left to the signal thread: a thread in a long write or
    // fsync takes a signal only when the call returns, and a second one
    // sent meanwhile merged with the first and was lost.
    let stops =
        (1u64 << (libc::SIGINT - 1)) | (1 << (libc::SIGTERM - 1)) | (1 << (libc::SIGHUP - 1));
    let blocked = |task: &Path| {
        let status = std::fs::read_to_string(task.join("status")).unwrap();
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .unwrap();
        u64::from_str_radix(hex.trim(), 16).unwrap() & stops
    };
    let tasks = Path::new("/proc").join(child.id().to_string()).join("task");
    assert_eq!(blocked(&tasks.join(child.id().to_string())), stops);
    let open = std::fs::read_dir(&tasks)
        .unwrap()
        .flatten()
        .filter(|t| blocked(&t.path()) == 0);
    assert!(open.count() >= 1, "no thread left to take the signals");
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{rest}");
    assert!(
        rest.contains("the finished model was written first"),
        "{rest}"
    );
    let model = read(p.join("m/input.npy"));
    assert!(p.join("m/model.manifest.json").is_file());
    // Twice: the run stops at once and the model above stays as it was.
    let (mut child, mut err) = training_at_its_final_save(p, "2");
    for _ in 0..2 {
        // SAFETY: as above.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(
        read(p.join("m/input.npy")) == model,
        "the model already there changed"
    );
    let words = std::fs::read_to_string(p.join("m/words.txt")).unwrap();
    let word = words.lines().next().unwrap();
    ok(p, &["neighbors", "--model", "m", word, "-k", "3"]);
    let temps: Vec<_> = std::fs::read_dir(p.join("m"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.file_name())
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

#[test]
fn class6_sigterm_checkpoints_training() {
    signal_checkpoints(&["--engine", "native", "--threads", "1"], libc::SIGTERM);
}

/// A closed terminal or SSH session: the run checkpoints, as on SIGTERM.
#[test]
fn class6_sighup_checkpoints_training() {
    signal_checkpoints(&["--engine", "native", "--threads", "1"], libc::SIGHUP);
}

#[test]
fn class6_sigterm_checkpoints_torch_training_through_its_helper() {
    signal_checkpoints(&["--engine", "torch", "--device", "cpu"], libc::SIGTERM);
}

/// A signal while `w2v-torch` is still loading libtorch (before its main()
/// can catch it) once killed the helper, reported as "killed by signal 15
/// (out of memory?)" with exit 1; and a SIGINT inherited as ignored (a
/// background job) was lost, so training ran to the end with exit 0.
#[test]
fn class6_a_signal_while_the_torch_helper_starts_still_stops_the_run() {
    for (sig, ignore_int) in [(libc::SIGTERM, false), (libc::SIGINT, true)] {
        let d = prepared(600_000, 2);
        let p = d.path();
        if !super::torch_available(p) {
            return;
        }
        let mut child = spawn_training(p, &["--engine", "torch", "--device", "cpu"], ignore_int);
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let status = super::wait_at_most(&mut child, 120, &format!("training after signal {sig}"));
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(128 + sig), "signal {sig}: {err}");
        assert!(err.contains("interrupted"), "signal {sig}: {err}");
        assert!(!err.contains("killed by signal"), "signal {sig}: {err}");
        assert!(
            !p.join("m/model.manifest.json").exists(),
            "signal {sig}: it trained to the end"
        );
    }
}

#[test]
fn class6_a_second_writer_into_a_locked_directory_is_refused() {
    let d = prepared(300_000, 1);
    let p = d.path();
    std::fs::create_dir(p.join("m")).unwrap();
    for (dir, args) in [
        (
            "m",
            vec!["train", "--engine", "native", "--dim", "8", "-o", "m"],
        ),
        ("shards", vec!["pairs", "--force", "--epochs", "1"]),
        ("vocab", vec!["vocab"]),
        (
            "data",
            vec!["prep", "data/sample.txt", "-o", "data/corpus.txt"],
        ),
    ] {
        // This test holds the lock a running w2v would hold.
        let f = std::fs::File::open(p.join(dir)).unwrap();
        f.try_lock().unwrap();
        fails(p, &args, 1, "another w2v is writing into this directory");
        drop(f);
    }
    // Once released, the same run goes through.
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "8", "--epochs", "1", "-o", "m",
        ],
    );
}

// ---- Class 7: validation and messages ------------------------------------

#[test]
fn class7_thread_counts_are_capped_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("in.txt"), "Привет мир\n").unwrap();
    let o = w2v_plain(p, &["prep", "in.txt", "-o", "c.txt", "--threads", "1000"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("--threads 1000: using"), "{err}");
}

#[test]
fn class7_jsonl_without_the_text_field_says_how_many_records_lack_it() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(
        p.join("a.jsonl"),
        "{\"body\": \"раз\"}\n{\"body\": \"два\"}\n{\"body\": \"три\"}\n",
    )
    .unwrap();
    fails(
        p,
        &["prep", "a.jsonl", "-o", "c.txt"],
        1,
        "3 JSONL records are not JSON or have no string field 'text'",
    );
    assert!(!p.join("c.txt").exists());
    ok(
        p,
        &["prep", "a.jsonl", "-o", "c.txt", "--text-field", "body"],
    );
    // Some bad records: a warning with the count, the rest is prepared.
    std::fs::write(
        p.join("b.jsonl"),
        "{\"text\": \"раз\"}\nnot json\n{\"text\": 5}\n",
    )
    .unwrap();
    let o = w2v_plain(p, &["prep", "b.jsonl", "-o", "d.txt"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("skipped 2 JSONL records"), "{err}");
}

#[test]
fn class7_a_corpus_emptied_by_subsampling_suggests_sample_0() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("in.txt"), "а б\n".repeat(500)).unwrap();
    ok(p, &["prep", "in.txt", "-o", "data/corpus.txt"]);
    fails(
        p,
        &[
            "pairs",
            "--min-count",
            "1",
            "--sample",
            "0.000000001",
            "--epochs",
            "1",
        ],
        1,
        "try --sample 0",
    );
    ok(
        p,
        &[
            "pairs",
            "--min-count",
            "1",
            "--sample",
            "0",
            "--epochs",
            "1",
        ],
    );
}

#[test]
fn class7_neighbors_dash_with_empty_stdin_says_stdin_was_empty() {
    let d = trained();
    fails(
        d.path(),
        &["neighbors", "-"],
        1,
        "<stdin>: holds no queries",
    );
}

#[test]
fn class7_huge_or_binary_words_are_not_echoed_whole() {
    let d = trained();
    let p = d.path();
    let huge = "я".repeat(50_000);
    let err = fails(p, &["neighbors", &huge], 1, "not in vocabulary");
    assert!(err.len() < 600, "{} bytes of error", err.len());
    assert!(err.contains("more bytes"), "{err}");
    // Importing a gzip file or a .npy: the binary never reaches the terminal.
    ok(p, &["export", "--format", "npy", "-o", "v.npy"]);
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&read(p.join("v.npy"))).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(p.join("v.txt.gz"), gz).unwrap();
    for f in ["v.npy", "v.txt.gz"] {
        let o = w2v(p, &["import", f, "-o", &format!("imp-{f}")]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{f}: {err}");
        assert!(err.len() < 600, "{f}: {} bytes of error", err.len());
        assert!(
            !err.trim_end().chars().any(|c| c.is_control()),
            "{f}: control characters in {err:?}"
        );
    }
}

/// A stop signal that came while a stage renamed its new outputs into
/// place (the old manifest removed, the new one not yet written) exited at
/// once: the directory was left without a manifest, so the next stage
/// refused the old outputs and the new ones alike. Now the signal waits
/// for the renames: the stage exits 130 with its new outputs complete, each
/// with its manifest. `W2V_FAULT_COMMIT_DELAY_MS` holds each commit open.
#[test]
fn class6_a_stop_signal_inside_a_commit_waits_for_it() {
    let d = prepared(200_000, 1);
    let p = d.path();
    std::fs::write(p.join("a.vec"), "2 3\nкот 1 0 0\nпёс 0 1 0\n").unwrap();
    std::fs::write(p.join("b.vec"), "2 3\nкот 0 0 1\nпёс 0 1 1\n").unwrap();
    ok(p, &["import", "a.vec", "-o", "m"]);
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &super::PREP_AGAIN,
            "data/corpus.txt.prep.manifest.json",
            "\"yo\": \"keep\"",
        ),
        (
            &["vocab", "--min-count", "3"],
            "vocab/vocab.manifest.json",
            "\"min_count\": 3",
        ),
        (
            &[
                "pairs",
                "--force",
                "--seed",
                "2",
                "--epochs",
                "1",
                "--shard-size",
                "400000",
            ],
            "shards/shards.manifest.json",
            "\"seed\": 2",
        ),
        (
            &["import", "b.vec", "-o", "m", "--force"],
            "m/model.manifest.json",
            "b.vec",
        ),
    ];
    for (args, manifest, new) in cases {
        let manifest = p.join(manifest);
        assert!(manifest.exists(), "{}", manifest.display());
        let child = Command::new(BIN)
            .args(args)
            .args(["--progress", "silent"])
            .env("W2V_FAULT_COMMIT_DELAY_MS", "1500")
            .current_dir(p)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Inside the window: the old manifest is gone.
        let start = std::time::Instant::now();
        while manifest.exists() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(120),
                "{args:?} never reached its commit"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{args:?} left no {}: {e}", manifest.display()));
        assert!(text.contains(new), "{args:?}: not the new manifest: {text}");
        assert!(stray_temps(p).is_empty(), "{:?}", stray_temps(p));
    }
    // Each stage's outputs are whole: the next stages take them.
    ok(
        p,
        &[&TRAIN_SMALL[..], &["--epochs", "1", "-o", "m2"]].concat(),
    );
    ok(p, &["neighbors", "--model", "m", "кот"]);
}
