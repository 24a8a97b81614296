//! `w2v train --corpus vocab/corpus.ids` (issue 17): the stream path's
//! resume, refusals and signals, through the real binary.

use std::process::{Command, Stdio};

use super::hostile_diskfull::snapshot;
use super::{
    corpus_only, fails, fails_env, ok, prepared, read, resume_is_bitwise, topic_precision,
    torch_available, w2v, w2v_env, BIN,
};

const IDS: &str = "vocab/corpus.ids";

#[test]
fn stream_resume_is_bitwise_identical() {
    resume_is_bitwise(&["--engine", "native", "--corpus", IDS]);
}

#[test]
fn vocab_writes_corpus_ids_and_train_reads_it_without_shards() {
    let d = corpus_only(300_000);
    let p = d.path();
    ok(p, &["vocab"]);
    let m = String::from_utf8(read(p.join("vocab/vocab.manifest.json"))).unwrap();
    assert!(m.contains("/corpus.ids\""), "{m}");
    // No shards anywhere: `train` with no input flag reads the stream.
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1",
        ],
    );
    let m = String::from_utf8(read(p.join("model/model.manifest.json"))).unwrap();
    assert!(m.contains("corpus.ids"), "{m}");
    // --no-corpus-ids writes none (and removes an old one).
    ok(p, &["vocab", "--no-corpus-ids"]);
    assert!(!p.join(IDS).exists());
    fails(
        p,
        &["train", "--engine", "native", "--corpus", IDS, "-o", "m2"],
        1,
        "run `w2v vocab",
    );
}

#[test]
fn stream_refuses_text_other_vocabularies_and_changed_runs() {
    let d = prepared(600_000, 1);
    let p = d.path();
    // The text corpus is not an ids corpus: the message says what to run.
    fails(
        p,
        &["train", "--engine", "native", "--corpus", "data/corpus.txt"],
        1,
        "run `w2v vocab --corpus",
    );
    // A changed corpus.ids is refused by its fingerprint.
    let ids = p.join(IDS);
    let good = read(ids.clone());
    let mut bad = good.clone();
    bad[8] ^= 1;
    std::fs::write(&ids, &bad).unwrap();
    fails(
        p,
        &["train", "--engine", "native", "--corpus", IDS],
        1,
        "does not match",
    );
    std::fs::write(&ids, &good).unwrap();
    // Another vocabulary passed with --vocab is refused.
    ok(p, &["vocab", "--vocab-dir", "v2", "--min-count", "3"]);
    fails(
        p,
        &[
            "train", "--engine", "native", "--corpus", IDS, "--vocab", "v2",
        ],
        1,
        "was written with vocabulary",
    );
    let base = [
        "train",
        "--engine",
        "native",
        "--dim",
        "16",
        "--epochs",
        "2",
        "--threads",
        "2",
        "--corpus",
        IDS,
        "-o",
        "m",
    ];
    let mut cut = base.to_vec();
    cut.extend(["--stop-after-pairs", "100000"]);
    let o = w2v(p, &cut);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Other sampling settings change the result: refused.
    for (flag, want) in [
        (vec!["--window", "6"], "--window was 5, now 6"),
        (vec!["--sample", "0.0001"], "--sample was 0.001, now 0.0001"),
        (
            vec!["--no-dynamic-window"],
            "--no-dynamic-window was not given, now given",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(flag);
        args.push("--resume");
        fails(p, &args, 1, want);
    }
    // Shards instead of the stream: other inputs.
    let mut shards = base.to_vec();
    shards.retain(|a| *a != "--corpus" && *a != IDS);
    shards.extend(["--shards", "shards", "--resume"]);
    fails(p, &shards, 1, "other shards");
    // Another corpus.ids (a new vocabulary): refused.
    ok(p, &["vocab", "--min-count", "4"]);
    let mut again = base.to_vec();
    again.push("--resume");
    fails(p, &again, 1, "another vocabulary");
    assert!(p.join("m/checkpoints/checkpoint.json").exists());
}

#[test]
fn sigint_checkpoints_a_stream_run_and_it_resumes() {
    let d = prepared(600_000, 1);
    let p = d.path();
    let args = [
        "train",
        "--engine",
        "native",
        "--dim",
        "64",
        "--epochs",
        "40",
        "--threads",
        "1",
        "--corpus",
        IDS,
        "-o",
        "m",
    ];
    let child = Command::new(BIN)
        .args(args)
        .args(["--progress", "silent"])
        .current_dir(p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !p.join("m").is_dir() {
        assert!(t.elapsed().as_secs() < 60, "no model directory");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let ckpt = p.join("m/checkpoints/checkpoint.json");
    let before: serde_json::Value = serde_json::from_slice(&read(ckpt.clone())).unwrap();
    let done = before["cursor"]["pairs_done"].as_u64().unwrap();
    assert!(done > 0, "{before}");
    // Resumed with other epochs: refused.
    let mut other = args.to_vec();
    other[6] = "41";
    other.push("--resume");
    fails(p, &other, 1, "--epochs was 40, now 41");
    // Resumed as it was, it goes on from the checkpoint (stopped again
    // after one more block here, to keep the test short).
    let stop = (done + 1).to_string();
    let mut again = args.to_vec();
    again.extend(["--resume", "--stop-after-pairs", &stop]);
    let o = w2v(p, &again);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let after: serde_json::Value = serde_json::from_slice(&read(ckpt)).unwrap();
    assert!(
        after["cursor"]["pairs_done"].as_u64().unwrap() > done,
        "{after}"
    );
}

/// On a GPU: `train --corpus` with the fused CUDA step hands the chunks of
/// `corpus.ids` to the stream kernel, which draws the pairs on the device;
/// the model finds the planted topics, the pairs it drew are the planned
/// ones within sampling error, and a stopped run resumes.
#[test]
fn cuda_stream_kernel_trains_from_corpus_ids() {
    let d = prepared(1_500_000, 3);
    let p = d.path();
    if !torch_available(p) {
        return;
    }
    let facts = Command::new(std::path::Path::new(BIN).with_file_name("w2v-torch"))
        .arg("facts")
        .output()
        .unwrap();
    let facts: serde_json::Value = serde_json::from_slice(&facts.stdout).unwrap();
    if facts["cuda_available"] != serde_json::Value::Bool(true) {
        eprintln!("no CUDA device: the CUDA stream path is checked on the GPU machine only");
        return;
    }
    let args = [
        "train", "--corpus", IDS, "--engine", "torch", "--device", "cuda", "--dim", "48",
        "--epochs", "3", "-o", "model",
    ];
    ok(p, &args);
    let prec = topic_precision(p, "model");
    assert!(prec >= 0.8, "precision@10 {prec}");
    let m: serde_json::Value =
        serde_json::from_slice(&read(p.join("model/model.manifest.json"))).unwrap();
    let s = &m["summary"];
    assert!(s["engine"].as_str().unwrap().contains("fused"), "{s}");
    for e in s["epochs"].as_array().unwrap() {
        let (planned, drawn) = (
            e["pairs"].as_f64().unwrap(),
            e["loss_pairs"].as_f64().unwrap(),
        );
        assert!(
            (drawn / planned - 1.0).abs() < 0.02,
            "drawn {drawn} vs planned {planned}"
        );
    }
    // Stopped after the first chunk (as Ctrl-C stops it), then resumed.
    let mut cut: Vec<&str> = args.to_vec();
    let last = cut.len() - 1;
    cut[last] = "m2";
    let mut stop = cut.clone();
    stop.extend(["--stop-after-pairs", "1"]);
    let o = w2v(p, &stop);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(p.join("m2/checkpoints/checkpoint.json").exists());
    cut.push("--resume");
    ok(p, &cut);
    let prec = topic_precision(p, "m2");
    assert!(prec >= 0.8, "resumed: precision@10 {prec}");
}

/// `vocab` checks that `corpus.ids` fits before writing it. An old
/// `corpus.ids` that `--no-corpus-ids` leaves stale goes only once the new
/// vocabulary is in place: a run failed by a full disk anywhere, the
/// manifest included, leaves the old vocabulary and its ids as they were.
#[test]
fn vocab_checks_room_for_corpus_ids_and_keeps_the_old_one_until_it_commits() {
    let d = corpus_only(300_000);
    let p = d.path();
    ok(p, &["vocab"]);
    let before = snapshot(p, &["vocab"]);
    assert!(
        before.keys().any(|k| k.ends_with("corpus.ids")),
        "{before:?}"
    );
    // 1 MB free: corpus.ids and the 64 MB margin do not fit.
    let err = fails_env(
        p,
        &["vocab", "--min-count", "3"],
        &[("W2V_FAKE_FREE_BYTES", "1000000")],
        1,
        "not enough disk space: vocab would write about",
    );
    assert!(
        err.contains("corpus.ids") && err.contains("--no-corpus-ids"),
        "{err}"
    );
    assert_eq!(snapshot(p, &["vocab"]), before);
    // How many bytes the new vocabulary's files take before its manifest.
    let args = ["vocab", "--min-count", "3", "--no-corpus-ids"];
    let mut probe = args.to_vec();
    probe.extend(["--vocab-dir", "probe"]);
    ok(p, &probe);
    let files: u64 = snapshot(p, &["probe"])
        .iter()
        .filter(|(k, _)| !k.to_string_lossy().ends_with("manifest.json"))
        .map(|(_, (len, _))| len)
        .sum();
    // Full disk at the start, in the middle, and inside the manifest.
    for n in [0, files / 2, files + 10] {
        let o = w2v_env(
            p,
            &args,
            &[("W2V_FAULT_ENOSPC_AFTER_BYTES", &n.to_string())],
        );
        assert_eq!(o.status.code(), Some(1), "full disk after {n} bytes");
        assert_eq!(snapshot(p, &["vocab"]), before, "full disk after {n} bytes");
    }
    ok(p, &args);
    assert!(!p.join("vocab/corpus.ids").exists());
}

/// `train --ns-exponent X` rebuilds the negatives' table from the counts:
/// the model equals one trained on a vocabulary built with that exponent,
/// and differs from the vocabulary's own. A resume with another is refused.
#[test]
fn train_ns_exponent_equals_a_vocabulary_built_with_it() {
    let d = corpus_only(300_000);
    let p = d.path();
    ok(p, &["vocab", "--vocab-dir", "v75"]);
    ok(p, &["vocab", "--vocab-dir", "v50", "--ns-exponent", "0.5"]);
    let train = |ids: &str, out: &str, extra: &[&str]| {
        let mut a = vec![
            "train",
            "--engine",
            "native",
            "--deterministic",
            "--dim",
            "16",
            "--epochs",
            "1",
            "--corpus",
            ids,
            "-o",
            out,
        ];
        a.extend_from_slice(extra);
        ok(p, &a);
        read(p.join(out).join("input.npy"))
    };
    let flag = train("v75/corpus.ids", "a", &["--ns-exponent", "0.5"]);
    let built = train("v50/corpus.ids", "b", &[]);
    let own = train("v75/corpus.ids", "c", &[]);
    assert!(
        flag == built,
        "--ns-exponent 0.5 differs from a 0.5 vocabulary"
    );
    assert!(flag != own, "--ns-exponent 0.5 changed nothing");
    let m = String::from_utf8(read(p.join("a/model.manifest.json"))).unwrap();
    assert!(m.contains("\"ns_exponent\": 0.5"), "{m}");
    fails(
        p,
        &[
            "train",
            "--corpus",
            "v75/corpus.ids",
            "--ns-exponent",
            "2.5",
        ],
        2,
        "--ns-exponent must be within 0..=2",
    );
}
