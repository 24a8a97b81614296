//! Integration tests: the real `w2v` binary in a fresh temp dir per test.

mod hostile;
mod hostile_diskfull;
mod hostile_encodings;
mod hostile_inputs;
mod hostile_integrity;
mod hostile_kill;
mod model_dir;
mod report;
mod serve;
mod stream;
mod subword;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_w2v");

fn w2v(dir: &Path, args: &[&str]) -> Output {
    w2v_env(dir, args, &[])
}

/// `w2v` with extra environment variables (the preflight's test hooks).
fn w2v_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--progress")
        .arg("silent")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run w2v")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = w2v(dir, args);
    assert!(
        o.status.success(),
        "w2v {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `w2v` with `--progress plain` (warnings on stderr): exit code, stdout, stderr.
fn plain(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN)
        .args(args)
        .args(["--progress", "plain"])
        .current_dir(dir)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) -> String {
    fails_env(dir, args, &[], code, needle)
}

fn fails_env(dir: &Path, args: &[&str], env: &[(&str, &str)], code: i32, needle: &str) -> String {
    let o = w2v_env(dir, args, env);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "w2v {args:?}: {err}");
    assert!(
        err.contains(needle),
        "w2v {args:?}: stderr {err:?} lacks {needle:?}"
    );
    assert_eq!(err.trim().lines().count(), 1, "error is one line: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `prep` run again over `corpus_only`'s corpus, with another setting (so
/// its output differs from the first run's).
const PREP_AGAIN: [&str; 6] = [
    "prep",
    "data/sample.txt",
    "-o",
    "data/corpus.txt",
    "--yo",
    "keep",
];

/// synth → prep only, in a fresh temp dir.
fn corpus_only(bytes: u64) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(
        p,
        &[
            "synth",
            "--out",
            "data/sample.txt",
            "--seed",
            "3",
            "--bytes",
            &bytes.to_string(),
        ],
    );
    ok(p, &["prep", "data/sample.txt", "-o", "data/corpus.txt"]);
    d
}

/// synth → prep → pairs in `dir`, with a small corpus.
fn prepared(bytes: u64, epochs: u32) -> tempfile::TempDir {
    let d = corpus_only(bytes);
    let p = d.path();
    ok(
        p,
        &[
            "pairs",
            "--epochs",
            &epochs.to_string(),
            "--shard-size",
            "400000",
        ],
    );
    d
}

/// Precision@10 of each planted member's neighbours against its topic.
fn topic_precision(dir: &Path, model: &str) -> f64 {
    let g: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("data/sample.groups.json")).unwrap(),
    )
    .unwrap();
    let (mut hit, mut total) = (0usize, 0usize);
    let mut queries = Vec::new();
    let mut topics = Vec::new();
    for grp in g["groups"].as_array().unwrap().iter().take(12) {
        let topic: Vec<String> = grp["members"]
            .as_array()
            .unwrap()
            .iter()
            .chain(grp["contexts"].as_array().unwrap())
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        for m in grp["members"].as_array().unwrap().iter().take(3) {
            queries.push(m.as_str().unwrap().to_string());
            topics.push(topic.clone());
        }
    }
    let mut child = Command::new(BIN)
        .args(["neighbors", "-", "-k", "10", "--json", "--model", model])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(queries.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json output is JSON");
    for (q, topic) in v.as_array().unwrap().iter().zip(&topics) {
        for n in q["neighbors"].as_array().unwrap() {
            total += 1;
            hit += topic.contains(&n["word"].as_str().unwrap().to_string()) as usize;
        }
    }
    assert_eq!(total, queries.len() * 10);
    hit as f64 / total as f64
}

#[test]
fn native_pipeline_recovers_planted_topics() {
    let d = prepared(1_500_000, 3);
    ok(
        d.path(),
        &[
            "train", "--engine", "native", "--dim", "48", "--epochs", "3", "-o", "model",
        ],
    );
    let p = topic_precision(d.path(), "model");
    // Random neighbours would score ~0.004; a correct trainer ~1.0.
    assert!(p >= 0.8, "precision@10 {p}");
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("model/model.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["stage"], "train");
    let e = m["summary"]["epochs"].as_array().unwrap();
    assert_eq!(e.len(), 3);
    // Loss goes down.
    assert!(e[2]["loss"].as_f64().unwrap() < e[0]["loss"].as_f64().unwrap());
}

/// Whether `w2v-torch` is next to `w2v`. `make test` builds it and sets
/// W2V_REQUIRE_TORCH=1, so there a missing helper fails; elsewhere the
/// torch tests check the clear refusal instead, and say so.
fn torch_available(dir: &Path) -> bool {
    if Path::new(BIN).with_file_name("w2v-torch").exists() {
        return true;
    }
    assert!(
        std::env::var_os("W2V_REQUIRE_TORCH").is_none(),
        "w2v-torch is not next to {BIN}: run `cargo build --workspace --bins` first"
    );
    eprintln!("w2v-torch not built (cargo build --workspace builds it): checking the refusal only");
    fails(
        dir,
        &["train", "--engine", "torch", "--device", "cpu"],
        2,
        "w2v-torch",
    );
    false
}

#[test]
fn torch_cpu_pipeline_recovers_planted_topics() {
    let d = prepared(1_500_000, 3);
    if !torch_available(d.path()) {
        return;
    }
    ok(
        d.path(),
        &[
            "train", "--engine", "torch", "--device", "cpu", "--dim", "48", "--epochs", "3", "-o",
            "model",
        ],
    );
    let p = topic_precision(d.path(), "model");
    assert!(p >= 0.8, "precision@10 {p}");
    let m = std::fs::read_to_string(d.path().join("model/model.manifest.json")).unwrap();
    assert!(m.contains("\"libtorch\": \"2.11.0"), "{m}");
}

/// Waits for `child`, killing it and failing with `what` if it runs past
/// `secs` seconds (a test of something that used to hang).
fn wait_at_most(
    child: &mut std::process::Child,
    secs: u64,
    what: &str,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > std::time::Duration::from_secs(secs) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{what} still ran after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A temp dir holding the fuzz regression input `name` as `x.parquet`.
fn fuzz_regression_as_parquet(name: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let bytes = read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz/regressions")
            .join(name),
    );
    std::fs::write(d.path().join("x.parquet"), bytes).unwrap();
    d
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn resume_is_bitwise(engine_args: &[&str]) {
    let d = prepared(600_000, 2);
    let p = d.path();
    let mut full = vec![
        "train",
        "--dim",
        "32",
        "--epochs",
        "2",
        "--deterministic",
        "-o",
        "full",
    ];
    full.extend_from_slice(engine_args);
    ok(p, &full);
    let mut cut = vec![
        "train",
        "--dim",
        "32",
        "--epochs",
        "2",
        "--deterministic",
        "-o",
        "cut",
        "--stop-after-pairs",
        "200000",
    ];
    cut.extend_from_slice(engine_args);
    let o = w2v(p, &cut);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(p.join("cut/checkpoints/checkpoint.json").exists());
    assert!(
        !p.join("cut/input.npy").exists(),
        "an interrupted run leaves no final model"
    );
    let mut resume = vec![
        "train",
        "--dim",
        "32",
        "--epochs",
        "2",
        "--deterministic",
        "-o",
        "cut",
        "--resume",
    ];
    resume.extend_from_slice(engine_args);
    ok(p, &resume);
    assert_eq!(
        read(p.join("full/input.npy")),
        read(p.join("cut/input.npy")),
        "resumed run differs"
    );
}

#[test]
fn native_resume_is_bitwise_identical() {
    resume_is_bitwise(&["--engine", "native"]);
}

#[test]
fn torch_cpu_resume_is_bitwise_identical() {
    if !torch_available(tempfile::tempdir().unwrap().path()) {
        return;
    }
    resume_is_bitwise(&[
        "--engine",
        "torch",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--batch-size",
        "8192",
    ]);
}

#[test]
fn deterministic_mode_ignores_thread_count() {
    let d = prepared(400_000, 1);
    let p = d.path();
    for t in ["1", "2"] {
        ok(
            p,
            &[
                "train",
                "--engine",
                "native",
                "--deterministic",
                "--threads",
                t,
                "--dim",
                "16",
                "--epochs",
                "1",
                "-o",
                &format!("m{t}"),
            ],
        );
    }
    assert_eq!(read(p.join("m1/input.npy")), read(p.join("m2/input.npy")));
}

#[test]
fn pairs_are_identical_across_thread_counts_and_readable() {
    let d = prepared(300_000, 2);
    let p = d.path();
    ok(
        p,
        &[
            "pairs",
            "--epochs",
            "2",
            "--shard-size",
            "400000",
            "--threads",
            "1",
            "--shards-dir",
            "s1",
            "--vocab-dir",
            "v1",
        ],
    );
    for f in ["words.txt", "counts.u64", "vocab.json", "unigram.alias"] {
        assert_eq!(
            read(p.join("vocab").join(f)),
            read(p.join("v1").join(f)),
            "{f}"
        );
    }
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("shards/shards.manifest.json")).unwrap(),
    )
    .unwrap();
    let shards = m["summary"]["shards"].as_array().unwrap();
    assert!(shards.len() >= 2, "multiple shards");
    for s in shards {
        let f = s["file"].as_str().unwrap();
        assert_eq!(
            read(p.join("shards").join(f)),
            read(p.join("s1").join(f)),
            "{f}"
        );
        assert_eq!(
            w2v::shards::count_rows(&p.join("shards").join(f)).unwrap(),
            s["pairs"].as_u64().unwrap()
        );
    }
    let vj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("vocab/vocab.json")).unwrap())
            .unwrap();
    assert_eq!(
        vj.as_object().unwrap().len(),
        std::fs::read_to_string(p.join("vocab/words.txt"))
            .unwrap()
            .lines()
            .count()
    );
}

#[test]
fn shuffle_permutes_rows_within_each_shard() {
    let d = prepared(300_000, 1);
    let p = d.path();
    ok(
        p,
        &[
            "pairs",
            "--epochs",
            "1",
            "--shard-size",
            "400000",
            "--shuffle",
            "--shards-dir",
            "sh",
            "--vocab-dir",
            "v2",
        ],
    );
    let rows = |f: &Path| {
        let mut v = Vec::new();
        w2v::shards::read_shard(f, 1 << 16, |t, c| {
            v.extend(t.iter().copied().zip(c.iter().copied()));
            Ok(())
        })
        .unwrap();
        v
    };
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("shards/shards.manifest.json")).unwrap(),
    )
    .unwrap();
    for s in m["summary"]["shards"].as_array().unwrap() {
        let f = s["file"].as_str().unwrap();
        let (plain, shuffled) = (rows(&p.join("shards").join(f)), rows(&p.join("sh").join(f)));
        assert_ne!(plain, shuffled, "{f} not shuffled");
        let (mut a, mut b) = (plain, shuffled);
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{f}: shuffling changed the pairs");
    }
}

#[test]
fn mismatched_inputs_are_refused() {
    let d = prepared(300_000, 1);
    let p = d.path();
    // Shards dir not empty.
    fails(
        p,
        &["pairs", "--epochs", "1"],
        1,
        "already holds shards; pass --force",
    );
    // Vocabulary rebuilt with other settings: training refuses the shards.
    ok(p, &["vocab", "--min-count", "2"]);
    fails(
        p,
        &["train", "--engine", "native", "-o", "m"],
        1,
        "shards were built against vocabulary",
    );
    // A corpus edited after prep is refused by pairs.
    std::fs::OpenOptions::new()
        .append(true)
        .open(p.join("data/corpus.txt"))
        .unwrap()
        .write_all(b"extra words\n")
        .unwrap();
    fails(
        p,
        &["pairs", "--force"],
        1,
        "changed after the 'prep' stage",
    );
    // A corpus without a prep manifest is refused.
    std::fs::create_dir_all(p.join("raw")).unwrap();
    std::fs::write(p.join("raw/c.txt"), "а б в\n").unwrap();
    fails(
        p,
        &["pairs", "--force", "--corpus", "raw/c.txt"],
        1,
        "no prep manifest",
    );
}

#[test]
fn queries_unknown_words_json_and_export_import_round_trip() {
    let d = prepared(400_000, 1);
    let p = d.path();
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", "model",
        ],
    );
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    let w0 = words.lines().nth(10).unwrap().to_string();
    // Unknown word: exit 1, "not in vocabulary", suggestions.
    let typo = format!("{w0}ъ");
    let err = fails(p, &["neighbors", &typo], 1, "not in vocabulary");
    assert!(err.contains(&w0), "suggests {w0}: {err}");
    // Queries are normalized: upper case works.
    let upper = w0.to_uppercase();
    let a = ok(p, &["neighbors", &w0, "-k", "5", "--json"]);
    let b = ok(p, &["neighbors", &upper, "-k", "5", "--json"]);
    let av: serde_json::Value = serde_json::from_str(&a).unwrap();
    let bv: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(av[0]["neighbors"], bv[0]["neighbors"]);
    assert!(
        !av[0]["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["word"] == w0.as_str()),
        "query word excluded"
    );
    let sim: serde_json::Value =
        serde_json::from_str(&ok(p, &["similarity", &w0, &upper, "--json"])).unwrap();
    assert!((sim["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    // Export → import → same neighbours.
    for (fmt, file) in [("word2vec-bin", "v.bin"), ("word2vec-text", "v.txt")] {
        ok(p, &["export", "--format", fmt, "-o", file]);
        let dir = format!("imp-{fmt}");
        ok(p, &["import", file, "-o", &dir]);
        let c = ok(p, &["neighbors", &w0, "-k", "5", "--json", "--model", &dir]);
        let cv: serde_json::Value = serde_json::from_str(&c).unwrap();
        let names = |v: &serde_json::Value| {
            v[0]["neighbors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["word"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&av), names(&cv), "{fmt}");
    }
    let bin = read(p.join("v.bin"));
    let header = format!("{} 16\n", words.lines().count());
    assert!(bin.starts_with(header.as_bytes()));
    assert_eq!(
        bin.len(),
        header.len() + words.lines().map(|w| w.len() + 1 + 64 + 1).sum::<usize>(),
        "word2vec.c layout"
    );
    ok(p, &["export", "--format", "npy", "-o", "v.npy"]);
    assert!(
        w2v::embeddings::NpyMatrix::open(&p.join("v.npy"))
            .unwrap()
            .shape
            == vec![words.lines().count(), 16]
    );
}

#[test]
fn doctor_reports_libtorch_without_ld_library_path() {
    if !torch_available(tempfile::tempdir().unwrap().path()) {
        return;
    }
    let o = Command::new(BIN)
        .arg("doctor")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(o.status.success());
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.contains("libtorch 2.11.0"), "{s}");
    assert!(s.contains("cuda available:"), "{s}");
}

// ---------- prep: formats ----------

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    gz(&tar_of(entries))
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn parquet_of(rows: &[&str], column: &str) -> Vec<u8> {
    use std::sync::Arc;
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int32, false),
        arrow::datatypes::Field::new(column, arrow::datatypes::DataType::Utf8, true),
    ]));
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow::array::Int32Array::from(
                (0..rows.len() as i32).collect::<Vec<_>>(),
            )),
            Arc::new(arrow::array::StringArray::from(rows.to_vec())),
        ],
    )
    .unwrap();
    let mut buf = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

/// The `w2v: warning:` line of `stderr` that mentions `needle`.
fn warning_line<'e>(stderr: &'e str, needle: &str) -> &'e str {
    stderr
        .lines()
        .find(|l| l.starts_with("w2v: warning:") && l.contains(needle))
        .unwrap_or_else(|| panic!("no warning about {needle:?}: {stderr}"))
}

/// Writes `data` to `dir/name`, creating its directories.
fn put_file(dir: &Path, name: &str, data: &[u8]) {
    let f = dir.join(name);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, data).unwrap();
}

fn prep_out(dir: &Path, inputs: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["prep"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&["-o", "out/corpus.txt"]);
    args.extend_from_slice(extra);
    ok(dir, &args);
    std::fs::read_to_string(dir.join("out/corpus.txt")).unwrap()
}

#[test]
fn prep_reads_every_format() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let put = |name: &str, data: &[u8]| put_file(p, name, data);
    put("a.txt", "Привет, Мир!\n\nЁлка 2024\n".as_bytes());
    put("b.txt.gz", &gz("Сжатый ТЕКСТ\n".as_bytes()));
    put(
        "c.txt.zst",
        &zstd::encode_all("Зстд текст\n".as_bytes(), 3).unwrap(),
    );
    put(
        "d.jsonl",
        "{\"text\": \"Первая запись\\nвторая строка\"}\n{\"other\": 1}\n{\"text\": \"Третья\"}\n"
            .as_bytes(),
    );
    put(
        "e.jsonl.zst",
        &zstd::encode_all("{\"body\": \"Поле body\"}\n".as_bytes(), 3).unwrap(),
    );
    put(
        "train-00000-of-00001.parquet",
        &parquet_of(&["Строка один", "Строка два", "Три"], "text"),
    );
    put("f.conllu", "# text = Это предложение.\n1\tЭто\t_\n2\tпредложение\t_\n\n1\tБез\t_\n2-3\tтекста\t_\n2\tтекста\t_\n3\tстроки\t_\n\n".as_bytes());
    assert_eq!(prep_out(p, &["a.txt"], &[]), "привет мир\nелка\n");
    // The output fingerprint is hashed while writing; it must equal the file's.
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("out/corpus.txt.prep.manifest.json")).unwrap(),
    )
    .unwrap();
    let want = w2v::manifest::fingerprint(&p.join("out/corpus.txt")).unwrap();
    assert_eq!(m["outputs"][0]["xxh3"], want.xxh3.as_str());
    assert_eq!(m["outputs"][0]["bytes"], want.bytes);
    assert_eq!(
        prep_out(p, &["a.txt"], &["--yo", "keep", "--numbers", "token"]),
        "привет мир\nёлка <num>\n"
    );
    assert_eq!(
        prep_out(p, &["b.txt.gz", "c.txt.zst"], &[]),
        "сжатый текст\nзстд текст\n"
    );
    assert_eq!(
        prep_out(p, &["d.jsonl"], &[]),
        "первая запись\nвторая строка\nтретья\n"
    );
    assert_eq!(
        prep_out(p, &["e.jsonl.zst"], &["--text-field", "body"]),
        "поле body\n"
    );
    assert_eq!(
        prep_out(p, &["train-00000-of-00001.parquet"], &[]),
        "строка один\nстрока два\nтри\n"
    );
    assert_eq!(
        prep_out(p, &["f.conllu"], &[]),
        "это предложение\nбез текста строки\n"
    );
    assert_eq!(
        prep_out(p, &["a.txt"], &["--min-tokens", "2"]),
        "привет мир\n"
    );
    // stdin
    let mut c = Command::new(BIN)
        .args(["prep", "-", "-o", "out/stdin.txt", "--progress", "silent"])
        .current_dir(p)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all("Из STDIN\n".as_bytes())
        .unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(p.join("out/stdin.txt")).unwrap(),
        "из stdin\n"
    );
}

#[test]
fn prep_reads_taiga_archives_without_unpacking() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let social = "\u{FEFF}DataBaseItem: 1\nПервый пост\nDataBaseItem: 2\nВторой пост\n";
    let tgz = tar_gz(&[
        ("Magazines/texts/a1.txt", "Журнальный текст.".as_bytes()),
        (
            "Magazines/tagged_texts/a1.txt",
            "1\tЖурнальный\tжурнальный\tADJ\n".as_bytes(),
        ),
        (
            "Magazines/newmetadata.csv",
            "textid\tauthor\na1\tX\n".as_bytes(),
        ),
        ("stihi_ru/texts/2015/03/p1.txt", "Стихи весной".as_bytes()),
        (
            "stihi_ru/meta/stihi_ru.metatable_texts.txt",
            "path\tauthor\n".as_bytes(),
        ),
        ("social/texts/fb.txt", social.as_bytes()),
    ]);
    std::fs::write(p.join("taiga.tar.gz"), tgz).unwrap();
    assert_eq!(
        prep_out(p, &["taiga.tar.gz"], &[]),
        "журнальный текст\nстихи весной\nпервый пост\nвторой пост\n"
    );
    let zip = zip_of(&[
        ("Subtitles/texts/film.en.txt", b"Hello there, my friend"),
        ("Subtitles/texts/film.ru.txt", "Привет, друг мой".as_bytes()),
        ("Subtitles/meta.csv", b"x"),
    ]);
    std::fs::write(p.join("subs.zip"), zip).unwrap();
    assert_eq!(
        prep_out(p, &["subs.zip"], &[]),
        "hello there my friend\nпривет друг мой\n"
    );
    assert_eq!(
        prep_out(p, &["subs.zip"], &["--min-cyrillic-share", "0.5"]),
        "привет друг мой\n"
    );
    assert_eq!(
        prep_out(p, &["subs.zip"], &["--skip-pattern", r"\.en\.txt$"]),
        "привет друг мой\n"
    );
    // Directories are walked, sorted.
    std::fs::create_dir_all(p.join("tree/sub")).unwrap();
    std::fs::write(p.join("tree/b.txt"), "второй").unwrap();
    std::fs::write(p.join("tree/sub/a.txt"), "третий").unwrap();
    std::fs::write(p.join("tree/a.txt"), "первый").unwrap();
    assert_eq!(prep_out(p, &["tree"], &[]), "первый\nвторой\nтретий\n");
}

#[test]
fn prep_reads_compressed_and_jsonl_archive_entries_and_names_what_it_skips() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let tgz = tar_gz(&[
        ("a/texts/one.txt.gz", &gz("Сжатый внутри".as_bytes())),
        (
            "a/texts/two.txt.zst",
            &zstd::encode_all("Второй сжатый".as_bytes(), 3).unwrap(),
        ),
        (
            "a/texts/three.jsonl",
            "{\"text\": \"Запись в архиве\"}\n".as_bytes(),
        ),
        (
            "a/data/shard.parquet",
            &parquet_of(&["Не прочтётся"], "text"),
        ),
        ("a/data/table.csv", b"x,y\n"),
        ("a/meta/info.txt", b"metadata"),
        ("a/.git/config", b"[core]"),
        ("a/newmetadata.csv", b"id,author"),
        // Metadata by whole words of the path only: a text about a comet.
        ("./a/texts/kometa.txt", "Комета".as_bytes()),
        ("a/data/\x1b[31mred.csv", b"x"),
    ]);
    std::fs::write(p.join("mixed.tar.gz"), tgz).unwrap();
    let (code, _, err) = plain(p, &["prep", "mixed.tar.gz", "-o", "out/corpus.txt"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(p.join("out/corpus.txt")).unwrap(),
        "сжатый внутри\nвторой сжатый\nзапись в архиве\nкомета\n"
    );
    // The parquet and csv entries are named; the metadata is not.
    let warn = warning_line(&err, "archive entries");
    assert!(warn.contains("skipped 3 archive entries"), "{warn}");
    assert!(warn.contains("shard.parquet"), "{warn}");
    assert!(warn.contains("table.csv"), "{warn}");
    // An entry's name is shown escaped: no terminal escape reaches stderr.
    assert!(warn.contains("\\u{1b}[31mred.csv"), "{warn}");
    assert!(!err.contains('\x1b'), "{err}");
    assert!(
        !warn.contains("info.txt") && !warn.contains("config"),
        "{warn}"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&read(p.join("out/corpus.txt.prep.manifest.json"))).unwrap();
    assert_eq!(m["summary"]["read"]["skipped_entries"], 6);
    assert_eq!(m["summary"]["read"]["unread_entries"], 3);
    // A flipped bit in a .tar.gz is caught by gzip's checksum (the tar
    // reader stopped at the archive's end blocks, before the trailer).
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let text = "мама мыла раму\n".as_bytes();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "t.txt", text).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    e.write_all(&tar.into_inner().unwrap()).unwrap();
    let mut bytes = e.finish().unwrap();
    let at = bytes
        .windows(text.len())
        .position(|w| w == text)
        .expect("stored, not deflated");
    bytes[at + 1] ^= 0x01;
    std::fs::write(p.join("flip.tar.gz"), bytes).unwrap();
    let err = fails(
        p,
        &["prep", "flip.tar.gz", "-o", "out/flip.txt"],
        1,
        "flip.tar.gz",
    );
    assert!(
        err.contains("corrupt") || err.contains("checksum") || err.contains("crc"),
        "{err}"
    );
    // Found after the last entry was read: the message says where.
    assert!(
        err.contains("at the end of the archive, in or after the entry t.txt"),
        "{err}"
    );
    assert!(!p.join("out/flip.txt").exists());
    // A flipped byte inside deflated text turns the rest of its block into
    // junk, refused as a wrong encoding before gzip's checksum is reached:
    // the checksum, read on for, names the damage instead of advising
    // --encoding or --allow-invalid (4 of these 19 before).
    let words = [
        "мама",
        "мыла",
        "раму",
        "кошка",
        "собака",
        "дом",
        "лес",
        "река",
        "город",
    ];
    let (mut text, mut x) = (String::new(), 5u64);
    for i in 0..48_000usize {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(words[(x >> 33) as usize % words.len()]);
        text.push(if i % 12 == 11 { '\n' } else { ' ' });
    }
    let tgz = tar_gz(&[("a.txt", text.as_bytes()), ("b.txt", "Конец.\n".as_bytes())]);
    for k in 1..20 {
        let mut bytes = tgz.clone();
        bytes[tgz.len() * k / 20] ^= 0x10;
        std::fs::write(p.join("flip2.tar.gz"), &bytes).unwrap();
        let (code, _, err) = plain(p, &["prep", "flip2.tar.gz", "-o", "out/flip2.txt"]);
        assert_eq!(code, 1, "flip at {k}/20: {err}");
        assert!(
            err.contains("re-download") && !err.contains("--allow-invalid"),
            "flip at {k}/20: {err}"
        );
    }
}

#[test]
fn prep_walks_a_symlink_loop_once_and_never_overwrites_an_input_it_walked() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir_all(p.join("d/sub")).unwrap();
    std::fs::write(p.join("d/a.txt"), "Первый\n").unwrap();
    std::fs::write(p.join("d/sub/b.txt"), "Второй\n").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(".", p.join("d/loop")).unwrap();
        std::os::unix::fs::symlink("..", p.join("d/sub/up")).unwrap();
    }
    assert_eq!(prep_out(p, &["d"], &[]), "первый\nвторой\n");
    // -o naming a file the walk finds: the user's text, not a previous
    // corpus (no prep manifest beside it), so it is refused, not replaced.
    let err = fails(
        p,
        &["prep", "d", "-o", "d/sub/b.txt"],
        2,
        "both an input and the output",
    );
    assert!(err.contains("b.txt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(p.join("d/sub/b.txt")).unwrap(),
        "Второй\n"
    );
    // A previous corpus there (with its manifest) is left out and replaced.
    ok(p, &["prep", "d/a.txt", "-o", "d/sub/c.txt"]);
    let (code, _, err) = plain(p, &["prep", "d", "-o", "d/sub/c.txt"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(p.join("d/sub/c.txt")).unwrap(),
        "первый\nвторой\n"
    );
    // The same pipe twice would wait forever for a second writer.
    #[cfg(unix)]
    {
        assert!(Command::new("mkfifo")
            .arg(p.join("f"))
            .status()
            .unwrap()
            .success());
        fails(
            p,
            &["prep", "f", "./f", "-o", "out/x.txt"],
            1,
            "listed more than once",
        );
    }
}

#[test]
fn prep_names_a_parquet_files_columns_and_refuses_non_files_in_one_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("t.parquet"), parquet_of(&["Строка"], "body")).unwrap();
    let err = fails(
        p,
        &["prep", "t.parquet", "-o", "out/c.txt"],
        1,
        "no column 'text'; its columns are id, body",
    );
    assert!(err.contains("t.parquet"), "{err}");
    // A file that ends before a footer: what it means, not the crate's
    // "need 827474264" bytes.
    std::fs::write(p.join("short.parquet"), b"PAR1PAR1").unwrap();
    let err = fails(
        p,
        &["prep", "short.parquet", "-o", "out/c.txt"],
        1,
        "is not a complete parquet file",
    );
    assert!(err.contains("short.parquet"), "{err}");
    // A pipe named .parquet is refused at once, not waited on.
    #[cfg(unix)]
    {
        let fifo = p.join("pipe.parquet");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let err = fails(
            p,
            &["prep", "pipe.parquet", "-o", "out/c.txt"],
            1,
            "a parquet file cannot be read as a stream (from stdin or a pipe)",
        );
        assert!(err.contains("pipe.parquet"), "{err}");
        // A text pipe is read once, whole: sniffing its format must not eat
        // its first bytes (it did: the corpus came out empty, exit 0).
        for (name, data) in [
            ("pipe.txt", "Первая строка\nвторая\n".as_bytes().to_vec()),
            ("pipe.gz", gz("Сжатая труба\n".as_bytes())),
        ] {
            let fifo = p.join(name);
            assert!(Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success());
            let len = data.len() as u64;
            let writer = std::thread::spawn(move || std::fs::write(fifo, data).unwrap());
            let text = prep_out(p, &[name], &[]);
            writer.join().unwrap();
            // The manifest gives the bytes the pipe held (it said 0).
            let m: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(p.join("out/corpus.txt.prep.manifest.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(m["summary"]["inputs"][0]["bytes"], len, "{name}");
            let want = if name == "pipe.txt" {
                "первая строка\nвторая\n"
            } else {
                "сжатая труба\n"
            };
            assert_eq!(text, want, "{name}");
        }
    }
    assert!(!p.join("out/c.txt").exists());
}

/// A walked directory follows the archive rule (an unpacked Taiga read its
/// metadata tables and tagged copies as text, and a `.pdf` failed the run);
/// compression is decided by magic numbers, and the codecs' errors and the
/// JSONL warning say which file and what to do.
#[test]
fn prep_walks_a_directory_as_an_archive_and_reads_compression_by_magic() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let put = |name: &str, data: &[u8]| put_file(p, name, data);
    put("d/texts/a.txt", "Текст первый\n".as_bytes());
    put("d/texts/b.txt.gz", &gz("Текст второй\n".as_bytes()));
    put("d/newmetadata.csv", "id,title\n1,Мета\n".as_bytes());
    put("d/meta/m.txt", "Мета текст\n".as_bytes());
    put("d/tagged_texts/a.conllu", "1\tТекст\t_\n".as_bytes());
    put("d/stuff.csv", "один,два\n".as_bytes());
    put("d/doc.pdf", b"%PDF-1.4\n\x00\x01\x02binary");
    let (code, _, err) = plain(p, &["prep", "d", "-o", "out/corpus.txt"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(p.join("out/corpus.txt")).unwrap(),
        "текст первый\nтекст второй\n"
    );
    let w = warning_line(&err, "passed over 5 files");
    assert!(w.contains("3 metadata") && w.contains("2 of a kind"), "{w}");
    assert!(w.contains("doc.pdf") && w.contains("stuff.csv"), "{w}");
    // Named, a file is read whatever its kind.
    assert_eq!(prep_out(p, &["d/stuff.csv"], &[]), "один два\n");
    // A directory whose every file is passed over is an error, not an empty corpus.
    put("e/only.csv", "а,б\n".as_bytes());
    let err = fails(
        p,
        &["prep", "e", "-o", "out/e.txt"],
        1,
        "holds no file prep reads",
    );
    assert!(err.contains("only.csv"), "{err}");
    // Plain text named .gz (a browser unpacked the download) is text.
    put("plain.txt.gz", "Просто текст\n".as_bytes());
    assert_eq!(prep_out(p, &["plain.txt.gz"], &[]), "просто текст\n");
    // A damaged zstd stream says so, not "Dictionary mismatch".
    put("bad.zst", b"\x28\xb5\x2f\xfdgarbage after the magic");
    let err = fails(p, &["prep", "bad.zst", "-o", "out/z.txt"], 1, "bad.zst");
    assert!(
        err.contains("its zstd data is damaged or cut short"),
        "{err}"
    );
    // Skipped JSONL records: the warning names the file and how many.
    put(
        "j.jsonl",
        "{\"text\": \"Запись\"}\nnot json\n{\"body\": 1}\n".as_bytes(),
    );
    let (code, _, err) = plain(p, &["prep", "j.jsonl", "-o", "out/j.txt"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        warning_line(&err, "JSONL records").contains("j.jsonl (2)"),
        "{err}"
    );
}

/// From a careless-user pass: `prep .` in a project read vocab/words.txt
/// and an earlier corpus; a link to `..` walked out of the directory; one
/// file given twice was read twice; an empty directory gave an empty
/// corpus; `.json` arrays, bzip2 and gzipped binary got the wrong advice;
/// `meta_info.txt` was dropped as metadata without a word; a name that is
/// not UTF-8 lost the manifest's summary.
#[test]
fn prep_walk_passes_over_w2v_outputs_links_up_and_duplicates() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let put = |name: &str, data: &[u8]| put_file(p, name, data);
    put("proj/texts/a.txt", "Первый текст\n".as_bytes());
    put("proj/texts/meta_info.txt", "Второй текст\n".as_bytes());
    put("proj/Meta/m.txt", "Мета\n".as_bytes());
    ok(p, &["prep", "proj/texts", "-o", "proj/data/corpus.txt"]);
    put("proj/vocab/words.txt", "слово\n".as_bytes());
    put("proj/vocab/vocab.manifest.json", b"{}");
    put("proj/notes.txt", "Заметка\n".as_bytes());
    std::os::unix::fs::symlink("..", p.join("proj/texts/up")).unwrap();
    // Walked from below, the link up is not followed out of the directory.
    assert_eq!(
        prep_out(p, &["proj/texts"], &[]),
        "первый текст\nвторой текст\n"
    );
    let (code, _, err) = plain(p, &["prep", "proj", "proj/texts/a.txt", "-o", "out/c.txt"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(p.join("out/c.txt")).unwrap(),
        "заметка\nпервый текст\nвторой текст\n"
    );
    assert!(err.contains("passed over 2 of w2v's own outputs"), "{err}");
    let w = warning_line(&err, "passed over 1 files");
    assert!(w.contains("1 metadata (such as proj/Meta/m.txt)"), "{w}");
    warning_line(&err, "1 inputs were given more than once");
    // An empty directory, a JSON array, pretty-printed JSON, bzip2, gzipped
    // binary: each refused with what to do.
    std::fs::create_dir_all(p.join("empty")).unwrap();
    fails(
        p,
        &["prep", "empty", "-o", "out/e.txt"],
        1,
        "empty: holds no files to read",
    );
    // FIFOs and dangling links are passed over and counted; a directory
    // with nothing else names its own, not an earlier directory's, examples.
    put("odd/a.txt", "Текст\n".as_bytes());
    let fifo = |path: &Path| {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    };
    fifo(&p.join("odd/pipe"));
    std::os::unix::fs::symlink("gone.txt", p.join("odd/dangling.txt")).unwrap();
    let (code, _, err) = plain(p, &["prep", "odd", "-o", "out/odd.txt"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(p.join("out/odd.txt")).unwrap(),
        "текст\n"
    );
    let w = warning_line(&err, "passed over 2 entries");
    assert!(
        w.contains("not regular files") && w.contains("odd/pipe"),
        "{w}"
    );
    std::fs::create_dir_all(p.join("pipes")).unwrap();
    fifo(&p.join("pipes/p"));
    let (code, _, err) = plain(p, &["prep", "proj", "pipes", "-o", "out/e.txt"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("pipes: holds no file prep reads in a directory: passed over 1 as FIFOs, sockets or dangling links (such as pipes/p)"),
        "{err}"
    );
    // Only a link back into itself: not called empty.
    std::fs::create_dir_all(p.join("loop/x")).unwrap();
    std::os::unix::fs::symlink("../x", p.join("loop/x/up")).unwrap();
    fails(
        p,
        &["prep", "loop", "-o", "out/e.txt"],
        1,
        "loop: holds no files to read (only directories without files, or links to directories already read)",
    );
    // A plain tar cut short inside its second entry names that entry.
    let big = "Длинный текст для архива.\n".repeat(80);
    let tar = tar_of(&[
        ("a.txt", "Текст\n".as_bytes()),
        ("dir/b.txt", big.as_bytes()),
    ]);
    put("cut.tar", &tar[..tar.len() - 1024 - 1000]);
    fails(
        p,
        &["prep", "cut.tar", "-o", "out/e.txt"],
        1,
        "cut.tar: its tar data is damaged or cut short in or after the entry dir/b.txt",
    );
    // A tar made with `tar -C dir .` names its entries `./…`: shown
    // without the `./` (not `in or after the entry ./dir/b.txt`).
    // (The tar crate drops `./` from the names it is given: the names go
    // into the headers as bytes.)
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        (&b"./a.txt"[..], "Текст\n".as_bytes()),
        (&b"./dir/b.txt"[..], big.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let dotted = b.into_inner().unwrap();
    assert!(dotted.windows(11).any(|w| w == b"./dir/b.txt"));
    put("cut.tar", &dotted[..dotted.len() - 1024 - 1000]);
    fails(
        p,
        &["prep", "cut.tar", "-o", "out/e.txt"],
        1,
        "cut.tar: its tar data is damaged or cut short in or after the entry dir/b.txt",
    );
    // Cut between two entries, the stream has no end-of-archive block: the
    // first entry alone would pass for the whole archive.
    let first = 512 + 512;
    put("cut.tar", &tar[..first]);
    fails(
        p,
        &["prep", "cut.tar", "-o", "out/e.txt"],
        1,
        "cut.tar: its tar data is damaged or cut short in or after the entry a.txt (no end-of-archive block)",
    );
    put("cut.tar", &tar[..first + 300]);
    fails(
        p,
        &["prep", "cut.tar", "-o", "out/e.txt"],
        1,
        "cut.tar: its tar data is damaged or cut short in or after the entry a.txt",
    );
    // Cut in the header after a directory entry: named by that entry, not
    // "in its first header".
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(0);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(&mut h, "d/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(big.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "d/a.txt", big.as_bytes()).unwrap();
    put("dcut.tar", &b.into_inner().unwrap()[..512 + 200]);
    fails(
        p,
        &["prep", "dcut.tar", "-o", "out/e.txt"],
        1,
        "dcut.tar: its tar data is damaged or cut short in or after the entry d",
    );
    // A .tar.gz cut short anywhere in its last entry, its end blocks or
    // its trailer: the gzip stream's own words, once, and the entry (not
    // "damaged … (damaged …; re-download …); re-download").
    let tgz = gz(&tar);
    for cut in 1..=40 {
        put("cut.tar.gz", &tgz[..tgz.len() - cut]);
        let err = fails(
            p,
            &["prep", "cut.tar.gz", "-o", "out/e.txt"],
            1,
            "its gzip data is damaged or cut short (",
        );
        assert!(err.contains("dir/b.txt"), "cut {cut}: {err}");
        assert_eq!(err.matches("re-download").count(), 1, "cut {cut}: {err}");
    }
    put("cut.tar", &tar[..200]);
    fails(
        p,
        &["prep", "cut.tar", "-o", "out/e.txt"],
        1,
        "cut.tar: is cut short: 200 bytes, less than one tar header (512)",
    );
    // The whole archive, end blocks and all, reads.
    put("whole.tar", &tar);
    ok(p, &["prep", "whole.tar", "-o", "out/whole.txt"]);
    assert!(std::fs::read_to_string(p.join("out/whole.txt"))
        .unwrap()
        .starts_with("текст\n"));
    put("arr.json", "[{\"text\": \"Текст\"}]\n".as_bytes());
    fails(
        p,
        &["prep", "arr.json", "-o", "out/e.txt"],
        1,
        "holds a JSON array, not JSON Lines",
    );
    put("pretty.json", "{\n  \"text\": \"Текст\"\n}\n".as_bytes());
    fails(
        p,
        &["prep", "pretty.json", "-o", "out/e.txt"],
        1,
        "lines are not JSON",
    );
    put("a.txt.bz2", b"BZh91AY&SY\x00\x01");
    fails(
        p,
        &["prep", "a.txt.bz2", "-o", "out/e.txt"],
        1,
        "is bzip2-compressed",
    );
    put("bin.gz", &gz(b"\x00\x01\x02\x03 binary \x00\x00"));
    fails(
        p,
        &["prep", "bin.gz", "-o", "out/e.txt"],
        1,
        "holds binary data, not text, inside its gzip",
    );
    // A name that is not UTF-8 keeps the summary.
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"b\xff.txt");
    std::fs::write(p.join(odd), "Текст\n").unwrap();
    let o = Command::new(BIN)
        .arg("prep")
        .arg(odd)
        .args(["-o", "out/odd.txt", "--progress", "silent"])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("out/odd.txt.prep.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["summary"]["inputs"][0]["bytes"], 11, "{m}");
}

#[test]
fn prep_warning_for_kept_invalid_utf8_names_the_files_and_the_rule() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // 3 invalid sequences: over 1% of the bytes but under the floor of 8.
    std::fs::write(
        p.join("few.txt"),
        b"\xff\xfe\xfd \xd0\xbf\xd1\x80\xd0\xb8\n",
    )
    .unwrap();
    std::fs::write(p.join("clean.txt"), "Чистый текст\n").unwrap();
    let (code, _, err) = plain(p, &["prep", "few.txt", "clean.txt", "-o", "out/c.txt"]);
    assert_eq!(code, 0, "{err}");
    let warn = warning_line(&err, "invalid UTF-8");
    assert!(warn.contains("3 invalid UTF-8 sequences"), "{warn}");
    assert!(warn.contains("few.txt (3)"), "{warn}");
    assert!(!warn.contains("clean.txt"), "{warn}");
    assert!(warn.contains("8 or more"), "{warn}");
    assert!(!warn.contains("under the 1% limit"), "{warn}");
    let (code, _, err) = plain(
        p,
        &["prep", "few.txt", "-o", "out/c.txt", "--allow-invalid"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("kept by --allow-invalid"), "{err}");
}

#[test]
fn prep_bad_input_is_reported_without_partial_output() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // Invalid UTF-8: lossy decode, counted in the manifest.
    std::fs::write(
        p.join("bad.txt"),
        b"\xff\xfe\xd0\xbf\xd1\x80\xd0\xb8 good\n",
    )
    .unwrap();
    assert_eq!(prep_out(p, &["bad.txt"], &[]), "при good\n");
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.join("out/corpus.txt.prep.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        m["summary"]["read"]["invalid_utf8"], 2,
        "\\xff and \\xfe are two invalid sequences"
    );
    // Empty file: fine, with a warning.
    std::fs::write(p.join("empty.txt"), b"").unwrap();
    let o = Command::new(BIN)
        .args([
            "prep",
            "empty.txt",
            "-o",
            "out/e.txt",
            "--progress",
            "plain",
        ])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty.txt: empty input"));
    // Truncated compressed / columnar / archive inputs: exit 1, path named, no output.
    let full = gz(&"слово ".repeat(20000).into_bytes());
    std::fs::write(p.join("t.txt.gz"), &full[..full.len() / 2]).unwrap();
    let z = zstd::encode_all("слово ".repeat(20000).as_bytes(), 3).unwrap();
    std::fs::write(p.join("t.txt.zst"), &z[..z.len() / 2]).unwrap();
    let pq = parquet_of(&["а", "б", "в"], "text");
    std::fs::write(p.join("t.parquet"), &pq[..pq.len() - 10]).unwrap();
    let zp = zip_of(&[("x/texts/a.txt", "текст".as_bytes())]);
    std::fs::write(p.join("t.zip"), &zp[..zp.len() - 30]).unwrap();
    for f in ["t.txt.gz", "t.txt.zst", "t.parquet", "t.zip", "missing.txt"] {
        fails(p, &["prep", f, "-o", "trunc/corpus.txt"], 1, f);
        assert!(!p.join("trunc/corpus.txt").exists(), "{f} left an output");
        let leftovers: Vec<_> = std::fs::read_dir(p.join("trunc"))
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "{f} left temp files: {leftovers:?}");
    }
    // A parquet file without the column names it.
    std::fs::write(p.join("nocol.parquet"), parquet_of(&["а"], "body")).unwrap();
    fails(
        p,
        &["prep", "nocol.parquet", "-o", "trunc/corpus.txt"],
        1,
        "no column 'text'",
    );
    // Usage errors exit 2.
    fails(
        p,
        &["prep", "bad.txt", "--min-cyrillic-share", "2"],
        2,
        "min-cyrillic-share",
    );
}

#[test]
fn prep_handles_a_huge_line_in_bounded_pieces() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // 8 MiB without a newline: cut at whitespace into ≤1 MiB segments, nothing lost.
    let word = "слово ";
    let n = (8 << 20) / word.len();
    std::fs::write(p.join("big.txt"), word.repeat(n)).unwrap();
    let out = prep_out(p, &["big.txt"], &[]);
    assert!(out.lines().count() >= 8);
    assert!(out.lines().all(|l| l.len() <= 1 << 20));
    assert_eq!(out.split_whitespace().count(), n);
}

#[test]
fn resume_refuses_a_changed_run_and_accepts_harmless_changes() {
    let d = prepared(600_000, 2);
    let p = d.path();
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
    // Each of these changes the result: refused, naming the setting, and the
    // checkpoint stays.
    for (flag, from, to) in [
        ("--threads", "2", "1"),
        ("--epochs", "2", "3"),
        ("--dim", "16", "17"),
        ("--seed", "1", "9"),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        let i = args.iter().position(|a| *a == flag).map(|i| i + 1);
        match i {
            Some(i) => args[i] = to,
            None => args.extend([flag, to]),
        }
        args.push("--resume");
        fails(p, &args, 1, &format!("{flag} was {from}, now {to}"));
        assert!(p.join("m/checkpoints/checkpoint.json").exists());
    }
    let mut other = base.to_vec();
    other.extend(["--native-update", "pair", "--resume"]);
    fails(p, &other, 1, "--native-update was window, now pair");
    // Harmless: the checkpoint interval and the progress mode.
    let mut ok_args = base.to_vec();
    ok_args.extend(["--resume", "--checkpoint-every-secs", "5"]);
    ok(p, &ok_args);
    assert!(p.join("m/input.npy").exists());
}

#[test]
fn train_refuses_corrupt_vocab_files_foreign_outputs_and_bad_cursors() {
    let d = prepared(400_000, 1);
    let p = d.path();
    let train = |out: &str| -> Vec<String> {
        [
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    // The model may not land in another stage's directory: the vocab stays.
    let before = read(p.join("vocab/vocab.manifest.json"));
    fails(p, &args(&train("vocab")), 1, "holds a vocabulary");
    fails(p, &args(&train("shards")), 1, "holds pair shards");
    assert_eq!(read(p.join("vocab/vocab.manifest.json")), before);
    // A cursor edited to point outside the plan is refused.
    let mut cut = train("m");
    cut.extend(["--stop-after-pairs".into(), "50000".into()]);
    assert_eq!(w2v(p, &args(&cut)).status.code(), Some(130));
    let ptr = p.join("m/checkpoints/checkpoint.json");
    let text = std::fs::read_to_string(&ptr).unwrap();
    let mut j: serde_json::Value = serde_json::from_str(&text).unwrap();
    j["cursor"]["epoch"] = 7.into();
    std::fs::write(&ptr, j.to_string()).unwrap();
    let mut resume = train("m");
    resume.push("--resume".into());
    fails(p, &args(&resume), 1, "is not a point of this run's");
    std::fs::write(&ptr, &text).unwrap();
    ok(p, &args(&resume));
    // A word replaced in place, or an alias pointing outside the table:
    // refused by the fingerprints recorded by `vocab`, naming the file.
    let words = std::fs::read_to_string(p.join("vocab/words.txt")).unwrap();
    let third = words.lines().nth(2).unwrap().to_string();
    std::fs::write(
        p.join("vocab/words.txt"),
        words.replacen(&format!("\n{third}\n"), "\nподмена\n", 1),
    )
    .unwrap();
    fails(p, &args(&train("m2")), 1, "words.txt: does not match");
    std::fs::write(p.join("vocab/words.txt"), &words).unwrap();
    let alias = p.join("vocab/unigram.alias");
    let mut a = read(alias.clone());
    a[1004..1008].copy_from_slice(&0x7fff_0000i32.to_le_bytes());
    std::fs::write(&alias, &a).unwrap();
    fails(p, &args(&train("m2")), 1, "unigram.alias: does not match");
}

/// Every file under `dir` with its size and content hash, and every
/// directory: what a refused run must leave exactly as it was.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, (u64::MAX, 0));
                todo.push(path);
            } else {
                let bytes = read(path);
                let h = bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
                    (h ^ b as u64).wrapping_mul(0x100000001b3)
                });
                out.insert(rel, (bytes.len() as u64, h));
            }
        }
    }
    out
}

#[test]
fn pairs_refuses_when_the_shards_will_not_fit_and_leaves_nothing_behind() {
    let d = corpus_only(300_000);
    let p = d.path();
    let before = snapshot(p);
    // 1 MB free: the shards (and the margin) do not fit. The message says
    // how much is needed and free, and names the three ways out.
    let err = fails_env(
        p,
        &["pairs", "--shards-dir", "out/shards"],
        &[("W2V_FAKE_FREE_BYTES", "1000000")],
        1,
        "not enough disk space: pairs would write about",
    );
    for needle in [
        "to out/shards (5 draws × ",
        "bytes/pair",
        "but 1.0 MiB is free there",
        "--epochs 1",
        "another --shards-dir",
        "--min-count",
        "--max-vocab",
    ] {
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    // Nothing written: no shards dir (nor its parent), no vocab, no temp files.
    assert_eq!(snapshot(p), before);

    // With --force the new set is written beside the old one and swapped in
    // at the end, so the old shards do not count as free: refused, and the
    // old shards are untouched.
    ok(p, &["pairs", "--epochs", "1"]);
    let before = snapshot(p);
    let err = fails_env(
        p,
        &["pairs", "--force"],
        &[("W2V_FAKE_FREE_BYTES", "1000")],
        1,
        "not enough disk space",
    );
    assert!(!err.contains("of old output it replaces"), "{err}");
    assert_eq!(snapshot(p), before);
    // With room, the same command runs.
    let o = w2v_env(
        p,
        &["pairs", "--force"],
        &[("W2V_FAKE_FREE_BYTES", "1000000000")],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn vocab_pairs_and_train_refuse_when_memory_is_short_and_leave_nothing_behind() {
    let d = corpus_only(300_000);
    let p = d.path();
    let short = [("W2V_FAKE_MEM_AVAILABLE", "1000")];
    let before = snapshot(p);
    let err = fails_env(
        p,
        &["vocab"],
        &short,
        1,
        "not enough memory: counting the vocabulary needs about",
    );
    assert!(
        err.contains("only 0.0 MiB is available; lower --max-table-types"),
        "{err}"
    );
    fails_env(
        p,
        &["pairs", "--epochs", "1"],
        &short,
        1,
        "not enough memory: counting the vocabulary needs about",
    );
    assert_eq!(snapshot(p), before);
    // Enough to count the vocabulary (about 3 MiB on two threads), not to
    // hold five draws of pairs (about 12 MiB).
    let vocab_only = [("W2V_FAKE_MEM_AVAILABLE", "8000000")];
    let err = fails_env(
        p,
        &["pairs", "--threads", "2"],
        &vocab_only,
        1,
        "not enough memory: writing pairs needs about",
    );
    assert!(
        err.contains("but only 7.6 MiB is available; lower --threads or --epochs"),
        "{err}"
    );
    assert_eq!(snapshot(p), before);

    ok(p, &["pairs", "--epochs", "1"]);
    let before = snapshot(p);
    let err = fails_env(
        p,
        &["train", "--engine", "native", "-o", "model"],
        &short,
        1,
        "not enough memory: training needs about",
    );
    assert!(
        err.contains("lower --dim or the vocabulary (--max-vocab)"),
        "{err}"
    );
    assert!(!err.contains("--batch-size"), "{err}");
    assert_eq!(snapshot(p), before);
}
