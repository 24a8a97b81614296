//! Hostile cases of issue #16, classes 4 and 8: every load checks what the
//! producing stage's manifest recorded, and `import` and `eval` refuse bad
//! data. Each case ends in a one-line error naming the file (exit 1), never
//! a panic nor a silently wrong answer.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{fails, ok, plain, prepared, read, BIN};

/// Copies the regular files of `from` into a fresh `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Writes `v` vectors of dimension `d` in word2vec text format: words
/// `w0000`.. with deterministic, distinct values.
fn vectors_text(v: usize, d: usize) -> String {
    let mut s = format!("{v} {d}\n");
    for i in 0..v {
        s.push_str(&format!("w{i:04}"));
        for j in 0..d {
            let x = (((i * 31 + j * 17) % 97) as f32 - 48.0) / 10.0;
            s.push_str(&format!(" {x}"));
        }
        s.push('\n');
    }
    s
}

/// Overwrites float `k` of the data of `.npy` file `path` with `x`.
fn poke_npy(path: &Path, k: usize, x: f32) {
    let mut b = read(path.to_path_buf());
    let off = 10 + u16::from_le_bytes([b[8], b[9]]) as usize;
    b[off + 4 * k..off + 4 * k + 4].copy_from_slice(&x.to_le_bytes());
    std::fs::write(path, b).unwrap();
}

/// The rows `ModelDir::open` samples for a model of `v` words.
fn sampled(v: usize) -> Vec<usize> {
    let n = v.min(1024);
    let mut s: Vec<usize> = (0..n).map(|k| k * v / n).collect();
    s.push(v - 1);
    s
}

const TRAIN: &[&str] = &[
    "train", "--engine", "native", "--dim", "8", "--epochs", "1", "-o",
];

fn train_into(dir: &Path, out: &str) -> std::process::Output {
    Command::new(BIN)
        .args(TRAIN)
        .arg(out)
        .args(["--progress", "silent"])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `train` fails with one line naming `file` and containing `needle`.
fn train_fails(dir: &Path, out: &str, file: &str, needle: &str) -> String {
    let mut args = TRAIN.to_vec();
    args.push(out);
    let err = fails(dir, &args, 1, needle);
    assert!(err.contains(file), "error does not name {file}: {err}");
    err
}

/// The shard's manifest entry, as JSON.
fn shard_entry(dir: &Path) -> (PathBuf, serde_json::Value) {
    let m: serde_json::Value =
        serde_json::from_slice(&read(dir.join("shards/shards.manifest.json"))).unwrap();
    let s = m["summary"]["shards"][0].clone();
    (dir.join("shards").join(s["file"].as_str().unwrap()), s)
}

#[test]
fn class4_shard_byte_flips_and_swapped_pairs_fail_training_naming_the_shard() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let (shard, entry) = shard_entry(p);
    let name = shard.file_name().unwrap().to_str().unwrap().to_string();
    // Every shard entry records the file hash and one checksum per row group.
    assert_eq!(entry["xxh3"].as_str().unwrap().len(), 16, "{entry}");
    assert!(
        !entry["checksums"].as_array().unwrap().is_empty(),
        "{entry}"
    );
    let good = read(shard.clone());
    let n = good.len();
    // Single-byte flips across the whole file: magic, pages, footer, length.
    let mut offsets: Vec<usize> = (0..10).map(|k| k * n / 10).collect();
    offsets.extend([1, 4, n / 2 + 3, n - 9, n - 5, n - 1]);
    for (i, &off) in offsets.iter().enumerate() {
        let mut b = good.clone();
        b[off] ^= 0x01;
        std::fs::write(&shard, &b).unwrap();
        train_fails(p, &format!("m{i}"), &name, "");
    }
    // 64 flipped bytes in the middle.
    let mut b = good.clone();
    for x in &mut b[n / 2 - 32..n / 2 + 32] {
        *x ^= 0xA5;
    }
    std::fs::write(&shard, &b).unwrap();
    train_fails(p, "m64", &name, "the shard is corrupt");
    // Truncated by a byte.
    std::fs::write(&shard, &good[..n - 1]).unwrap();
    train_fails(p, "mt", &name, "");
    // A well-formed shard of other pairs, with the manifest's size and file
    // hash updated to match it: the row-group checksum still catches it.
    std::fs::write(&shard, &good).unwrap();
    let (mut t, mut c) = (Vec::new(), Vec::new());
    w2v::shards::read_shard(&shard, 1 << 16, |a, b| {
        t.extend_from_slice(a);
        c.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    let rewrite = |t: &[i32], c: &[i32], sums: bool| {
        let (_, new_sums) = w2v::shards::write_shard(&shard, t, c).unwrap();
        let fp = w2v::manifest::fingerprint(&shard).unwrap();
        let mpath = p.join("shards/shards.manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&read(mpath.clone())).unwrap();
        let e = &mut m["summary"]["shards"][0];
        e["bytes"] = fp.bytes.into();
        e["xxh3"] = fp.xxh3.into();
        if sums {
            e["checksums"] = serde_json::json!(new_sums);
        }
        std::fs::write(&mpath, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    };
    let mut swapped = c.clone();
    swapped.swap(10, 11_000);
    assert_ne!(swapped, c);
    rewrite(&t, &swapped, false);
    train_fails(p, "ms", &name, "row group 0 fails its checksum");
    // An id outside the vocabulary with a manifest that agrees in every
    // checksum: the driver's bounds check refuses it before any engine.
    let mut big = c.clone();
    big[5] = 1 << 30;
    rewrite(&t, &big, true);
    train_fails(p, "mb", &name, "outside the vocabulary");
    big[5] = -3;
    rewrite(&t, &big, true);
    train_fails(p, "mn", &name, "outside the vocabulary");
    // The original pairs train.
    rewrite(&t, &c, true);
    let o = train_into(p, "mok");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn class4_corrupt_counts_and_alias_tables_are_refused() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let counts = p.join("vocab/counts.u64");
    let good = read(counts.clone());
    // A count changed in place (same size).
    let mut b = good.clone();
    b[8] ^= 0x10;
    std::fs::write(&counts, &b).unwrap();
    train_fails(p, "m1", "counts.u64", "does not match");
    // Truncated.
    std::fs::write(&counts, &good[..good.len() - 8]).unwrap();
    train_fails(p, "m2", "counts.u64", "does not match");
    std::fs::write(&counts, &good).unwrap();
    // The alias table: flipped bytes, a truncated table, an alias past the end.
    let alias = p.join("vocab/unigram.alias");
    let good = read(alias.clone());
    let mut b = good.clone();
    for x in &mut b[100..164] {
        *x ^= 0xFF;
    }
    std::fs::write(&alias, &b).unwrap();
    train_fails(p, "m3", "unigram.alias", "does not match");
    std::fs::write(&alias, &good[..good.len() - 3]).unwrap();
    train_fails(p, "m4", "unigram.alias", "");
    // Even with a manifest that agrees, an alias outside the table is refused.
    let mut b = good.clone();
    b[4..8].copy_from_slice(&0x7fff_0000i32.to_le_bytes());
    b[0..4].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&alias, &b).unwrap();
    let mpath = p.join("vocab/vocab.manifest.json");
    let text = std::fs::read_to_string(&mpath).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fp = w2v::manifest::fingerprint(&alias).unwrap();
    for o in m["outputs"].as_array_mut().unwrap() {
        if o["path"].as_str().unwrap().ends_with("unigram.alias") {
            o["xxh3"] = fp.xxh3.clone().into();
        }
    }
    std::fs::write(&mpath, m.to_string()).unwrap();
    train_fails(p, "m5", "unigram.alias", "outside the table");
    std::fs::write(&mpath, text).unwrap();
    std::fs::write(&alias, &good).unwrap();
    assert!(train_into(p, "mok").status.success());
}

#[test]
fn class4_edited_word_lists_and_matrices_of_a_trained_model_are_refused() {
    let d = prepared(300_000, 1);
    let p = d.path();
    assert!(train_into(p, "model").status.success());
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    let lines: Vec<&str> = words.lines().collect();
    let w = lines[5];
    let case = |tag: &str, edit: &dyn Fn(&Path)| -> PathBuf {
        let m = p.join(tag);
        copy_dir(&p.join("model"), &m);
        edit(&m);
        m
    };
    let queries = |m: &Path, file: &str, needle: &str| {
        let m = m.to_str().unwrap();
        for args in [
            vec!["neighbors", w, "--model", m],
            vec!["similarity", w, lines[6], "--model", m],
            vec![
                "export",
                "--format",
                "word2vec-text",
                "-o",
                "x.txt",
                "--model",
                m,
            ],
            vec![
                "export",
                "--format",
                "vocab-tsv",
                "-o",
                "x.tsv",
                "--model",
                m,
            ],
        ] {
            let err = fails(p, &args, 1, needle);
            assert!(err.contains(file), "{args:?}: {err}");
        }
    };
    let rewrite = |m: &Path, f: &dyn Fn(&mut Vec<&str>)| {
        let mut l = lines.clone();
        f(&mut l);
        std::fs::write(m.join("words.txt"), l.join("\n") + "\n").unwrap();
    };
    // One line deleted, one extra line, two lines swapped.
    let m = case("deleted", &|m| {
        rewrite(m, &|l| {
            l.remove(3);
        })
    });
    queries(&m, "words.txt", "lines but model.manifest.json records");
    let m = case("extra", &|m| rewrite(m, &|l| l.push("лишнее")));
    queries(&m, "words.txt", "lines but model.manifest.json records");
    let m = case("swapped", &|m| rewrite(m, &|l| l.swap(5, 6)));
    queries(&m, "words.txt", "does not match");
    // A NaN or an infinity in a row open samples (the first, the last);
    // norms.npy edited.
    let dim = 8;
    let v = lines.len();
    let m = case("nan", &|m| poke_npy(&m.join("input.npy"), 2, f32::NAN));
    queries(&m, "input.npy", "row 0 holds a non-finite value");
    let last = (v - 1) * dim + 7;
    let m = case("inf", &|m| {
        poke_npy(&m.join("input.npy"), last, f32::INFINITY)
    });
    queries(&m, "input.npy", "non-finite");
    let m = case("norms", &|m| poke_npy(&m.join("norms.npy"), 3, 1.5));
    queries(&m, "norms.npy", "does not match");
    // No trace left by the failed exports.
    assert!(!p.join("x.txt").exists() && !p.join("x.tsv").exists());
}

#[test]
fn class4_a_nan_outside_the_sampled_rows_never_ranks_first() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let (v, dim) = (3000, 4);
    std::fs::write(p.join("v.txt"), vectors_text(v, dim)).unwrap();
    ok(p, &["import", "v.txt", "-o", "model"]);
    let s = sampled(v);
    let row = (2..v).find(|r| !s.contains(r)).unwrap();
    let input = p.join("model/input.npy");
    let good = read(input.clone());
    poke_npy(&input, row * dim + 1, f32::NAN);
    // Open's sample misses it; the scan meets it and names the row.
    let err = fails(p, &["neighbors", "w0001"], 1, "non-finite");
    assert!(
        err.contains("input.npy") && err.contains(&format!("row {row} ('w{row:04}')")),
        "{err}"
    );
    // Queried directly, similarity names it too; export and eval verify
    // input.npy whole against the manifest.
    fails(
        p,
        &["similarity", "w0001", &format!("w{row:04}")],
        1,
        "non-finite",
    );
    fails(
        p,
        &["export", "--format", "npy", "-o", "x.npy"],
        1,
        "input.npy: does not match",
    );
    std::fs::write(p.join("pairs.tsv"), "w0001\tw0002\t1\nw0003\tw0004\t2\n").unwrap();
    fails(
        p,
        &["eval", "--pairs", "pairs.tsv"],
        1,
        "input.npy: does not match",
    );
    // Another model's matrix of the same shape: the sampled norms disagree.
    std::fs::write(&input, &good).unwrap();
    let other: String = (0..v).map(|i| format!("w{i:04} 1 2 3 4\n")).collect();
    std::fs::write(p.join("o.txt"), other).unwrap();
    ok(p, &["import", "o.txt", "-o", "other"]);
    std::fs::copy(p.join("other/input.npy"), &input).unwrap();
    let err = fails(p, &["neighbors", "w0001"], 1, "norms.npy records");
    assert!(err.contains("input.npy"), "{err}");
}

#[test]
fn class8_import_honours_the_header_and_refuses_bad_records() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let text = vectors_text(50, 3);
    let body: Vec<&str> = text.lines().skip(1).collect();
    let write = |name: &str, s: String| {
        std::fs::write(p.join(name), s).unwrap();
        name.to_string()
    };
    let import_fails = |file: &str, needle: &str| {
        let out = format!("out-{file}");
        let err = fails(p, &["import", file, "-o", &out], 1, needle);
        assert!(err.contains(file), "{err}");
        assert!(!p.join(&out).exists(), "nothing partial for {file}");
    };
    // Cut at a line boundary; a header claiming 20000 or 100 rows.
    let f = write("cut.txt", format!("50 3\n{}\n", body[..49].join("\n")));
    import_fails(&f, "says 50 vectors but the file holds 49; it is truncated");
    let f = write("big.txt", format!("20000 3\n{}\n", body.join("\n")));
    import_fails(&f, "says 20000 vectors but the file holds 50");
    let f = write("more.txt", format!("10 3\n{}\n", body.join("\n")));
    import_fails(&f, "says 10 vectors but the file holds 50");
    // Dimension 0, in the header or in headerless records.
    let f = write("dim0.txt", "3 0\nа\nб\nв\n".into());
    import_fails(&f, "dimension 0");
    let f = write("novals.txt", "а\nб\n".into());
    import_fails(&f, "line 1: 'а' has no values");
    let f = write("zero.txt", "0 3\n".into());
    import_fails(&f, "0 vectors");
    // Duplicates, NaN and infinity.
    let f = write("dup.txt", "3 2\nкот 1 2\nпес 3 4\nкот 5 6\n".into());
    import_fails(&f, "line 4: duplicate word 'кот' (first at line 2)");
    let f = write("nan.txt", "2 2\nкот 1 NaN\nпес 3 4\n".into());
    import_fails(&f, "line 2: the vector of 'кот' holds NaN");
    let f = write("inf.txt", "кот 1 2\nпес inf 4\n".into());
    import_fails(&f, "line 2: the vector of 'пес' holds inf");
    // Binary: truncated, more records than the header says, dim 0.
    let bin = |v: usize, recs: &[(&str, [f32; 2])]| {
        let mut b = format!("{v} 2\n").into_bytes();
        for (w, x) in recs {
            b.extend_from_slice(w.as_bytes());
            b.push(b' ');
            for f in x {
                b.extend_from_slice(&f.to_le_bytes());
            }
            b.push(b'\n');
        }
        b
    };
    let recs = [
        ("кот", [1.5f32, -2.0]),
        ("пес", [0.25, 7.0]),
        ("ёж", [3.0, 1.0]),
    ];
    std::fs::write(p.join("ok.bin"), bin(3, &recs)).unwrap();
    ok(p, &["import", "ok.bin", "-o", "okbin"]);
    let full = bin(3, &recs);
    std::fs::write(p.join("cut.bin"), &full[..full.len() - 6]).unwrap();
    import_fails("cut.bin", "record 3 of 3: truncated");
    std::fs::write(p.join("more.bin"), bin(2, &recs)).unwrap();
    import_fails("more.bin", "after the 2 vectors its header announces");
    std::fs::write(p.join("dup.bin"), bin(2, &[recs[0], recs[0]])).unwrap();
    import_fails("dup.bin", "record 2: duplicate word 'кот'");
    let nan = [("кот", [f32::NAN, 1.0]), ("пес", [1.0, 1.0])];
    std::fs::write(p.join("nan.bin"), bin(2, &nan)).unwrap();
    import_fails("nan.bin", "record 1: the vector of 'кот' holds NaN");
}

#[test]
fn class8_imported_words_match_exactly_then_normalized() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // A cased file with ё, and a lowercased one.
    std::fs::write(
        p.join("cased.txt"),
        "3 2\nКот 1 0\nёжик 0.9 0.1\nСтол -1 0.2\n",
    )
    .unwrap();
    ok(p, &["import", "cased.txt", "-o", "cased"]);
    let sim = ok(p, &["similarity", "Кот", "ёжик", "--model", "cased"]);
    assert!(sim.trim().parse::<f32>().unwrap() > 0.9, "{sim}");
    let n = ok(p, &["neighbors", "Кот", "-k", "1", "--model", "cased"]);
    assert!(n.contains("ёжик"), "{n}");
    // Not spelled as in the file and not found by normalizing either: the
    // suggestion is the file's spelling.
    let err = fails(
        p,
        &["neighbors", "кот", "--model", "cased"],
        1,
        "not in vocabulary",
    );
    assert!(err.contains("Кот"), "{err}");
    std::fs::write(p.join("lower.txt"), "2 2\nкот 1 0\nежик 0.9 0.1\n").unwrap();
    ok(p, &["import", "lower.txt", "-o", "lower"]);
    let sim = ok(p, &["similarity", "КОТ", "Ёжик", "--model", "lower"]);
    assert!(sim.trim().parse::<f32>().unwrap() > 0.9, "{sim}");
}

/// A temp dir holding `model/`, imported from 40 words of 4 dimensions
/// (`w0000` … `w0039`, written as `v.txt`).
fn imported_model() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("v.txt"), vectors_text(40, 4)).unwrap();
    ok(d.path(), &["import", "v.txt", "-o", "model"]);
    d
}

/// A writer swapping a new model in (`train`, `import`) removes the
/// manifest first and puts it back last, holding the directory's lock. A
/// query caught in between waits for the swap instead of calling the
/// directory incomplete (a careless user's query loop beside a training
/// failed once in 825 runs before).
#[test]
fn a_query_during_a_model_swap_waits_for_it() {
    let d = imported_model();
    let p = d.path();
    let want = ok(p, &["similarity", "w0001", "w0002", "--model", "model"]);
    // The swap's middle, as a writer leaves it: locked, a temp file there,
    // no manifest.
    let m = p.join("model");
    let lock = std::fs::File::open(&m).unwrap();
    lock.lock().unwrap();
    std::fs::rename(m.join("model.manifest.json"), p.join("aside.json")).unwrap();
    std::fs::write(m.join(".input.npy.a1b2c3.tmp"), b"").unwrap();
    let hold = std::time::Duration::from_millis(2000);
    let start = std::time::Instant::now();
    let child = Command::new(BIN)
        .args(["similarity", "w0001", "w0002", "--model", "model"])
        .current_dir(p)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(hold);
    std::fs::rename(p.join("aside.json"), m.join("model.manifest.json")).unwrap();
    std::fs::remove_file(m.join(".input.npy.a1b2c3.tmp")).unwrap();
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It answered after the swap, so it waited (before, it failed at once).
    assert!(start.elapsed() >= hold);
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}

#[test]
fn class8_eval_reports_malformed_lines_and_fails_when_none_is_usable() {
    let d = imported_model();
    let p = d.path();
    let write = |name: &str, s: &str| {
        std::fs::write(p.join(name), s).unwrap();
        name.to_string()
    };
    // Decimal commas (tab-separated, and after a 3-column CSV header).
    let f = write(
        "comma.tsv",
        "w0001\tw0002\t7,5\nw0003\tw0004\t1,25\nw0005\tw0009\t3\n",
    );
    let out = ok(p, &["eval", "--pairs", &f]);
    assert!(out.contains("coverage 3/3"), "{out}");
    let f = write(
        "comma.csv",
        "a,b,score\nw0001,w0002,7,5\nw0003,w0004,1,25\n",
    );
    assert!(ok(p, &["eval", "--pairs", &f]).contains("coverage 2/2"));
    // Malformed lines and NaN/inf scores: reported with line numbers.
    let f = write(
        "mixed.tsv",
        "# comment\nw0001\tw0002\t1\nw0003\tw0004\tNaN\nw0005\tw0006\nw0007\tw0008\tinf\nw0009\tw0010\t2\nw0011\tw0012\tx\nw0013\tw0014\t3\n",
    );
    let (code, out, err) = plain(p, &["eval", "--pairs", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("coverage 3/3"), "{out}");
    for needle in [
        "mixed.tsv: skipped 4 malformed line(s)",
        "line 3: score 'NaN' is not finite",
        "line 4: 2 column(s)",
        "line 5: score 'inf' is not finite",
        "line 7: score 'x' is not a number",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    let j: serde_json::Value =
        serde_json::from_str(&ok(p, &["eval", "--pairs", &f, "--json"])).unwrap();
    let lines: Vec<u64> = j["pairs"][0]["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5, 7]);
    // Nothing usable: an error, not "coverage 0/0".
    let f = write("none.csv", "w0001,w0002,7,5\nw0003,w0004,NaN\n");
    let err = fails(p, &["eval", "--pairs", &f], 1, "no usable word pair");
    assert!(err.contains("none.csv") && err.contains("line 1"), "{err}");
    let f = write("oov.tsv", "кот\tпес\t1\na\tb\t2\n");
    fails(p, &["eval", "--pairs", &f], 1, "only 0 of its 2 pairs");
    // Beside a file that scores, one that cannot is reported and the run
    // goes on: the other file's score is not lost.
    let (code, out, err) = plain(p, &["eval", "--pairs", "comma.tsv", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("comma.tsv: spearman "), "{out}");
    assert!(
        out.contains("oov.tsv: not scored: only 0 of its 2 pairs have both words in the model's vocabulary; a correlation needs two"),
        "{out}"
    );
    let (code, out, err) = plain(p, &["eval", "--pairs", "comma.tsv", &f, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("oov.tsv: not scored: only 0 of its 2"),
        "{err}"
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(j["pairs"][0]["spearman"].is_f64(), "{j}");
    assert!(j["pairs"][0]["unscored"].is_null(), "{j}");
    assert!(j["pairs"][1]["spearman"].is_null(), "{j}");
    assert!(j["pairs"][1]["pearson"].is_null(), "{j}");
    assert_eq!(j["pairs"][1]["found"], 0, "{j}");
    assert!(j["pairs"][1]["unscored"]
        .as_str()
        .unwrap()
        .contains("a correlation needs two"));
    // When no file scores, that is the error, naming each file; the
    // malformed lines are still reported.
    let g = write("oov2.tsv", "кот\tw0001\t1\nw0002\tпес\t2\nw0003\n");
    let (code, _, err) = plain(p, &["eval", "--pairs", &f, &g]);
    assert_eq!(code, 1, "{err}");
    let last = err.trim().lines().last().unwrap();
    assert!(
        last.starts_with("w2v: error: oov.tsv: only 0 of its 2")
            && last.contains("; oov2.tsv: only 0 of its 2"),
        "{err}"
    );
    assert!(
        err.contains("oov2.tsv: skipped 1 malformed line(s): line 3"),
        "{err}"
    );
    // Human scores all equal: no correlation, said so (not NaN, and not a
    // null without a reason).
    let c = write(
        "const.tsv",
        "w0001\tw0002\t5\nw0003\tw0004\t5\nw0005\tw0006\t5\n",
    );
    fails(
        p,
        &["eval", "--pairs", &c],
        1,
        "const.tsv: the human scores of its 3 scored pairs are all 5; a correlation needs them to differ",
    );
    let (code, out, err) = plain(p, &["eval", "--pairs", "comma.tsv", &c, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("NaN"), "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(j["pairs"][1]["spearman"].is_null(), "{j}");
    assert!(j["pairs"][1]["unscored"].is_string(), "{j}");
    // A one-line file whose score is not a number was read as a header:
    // the error says so instead of calling the file empty.
    let h = write("typo.tsv", "кот\tпес\tseven\n");
    fails(
        p,
        &["eval", "--pairs", &h],
        1,
        "typo.tsv: holds no word pairs: its only line (line 1) was read as a header, since 'seven' is not a number",
    );
    // Line ends of old Macs (a lone CR), and UTF-16 as prep reads it: the
    // same pairs score the same.
    let rows = "w0001\tw0002\t1\nw0003\tw0009\t3\nw0005\tw0006\t2\nw0007\tw0008\t4\n";
    let spearman = |name: &str, bytes: &[u8]| {
        std::fs::write(p.join(name), bytes).unwrap();
        let j: serde_json::Value =
            serde_json::from_str(&ok(p, &["eval", "--pairs", name, "--json"])).unwrap();
        assert_eq!(j["pairs"][0]["found"], 4, "{name}: {j}");
        j["pairs"][0]["spearman"].as_f64().unwrap()
    };
    let want = spearman("lf.tsv", rows.as_bytes());
    assert_eq!(
        spearman("cr.tsv", rows.replace('\n', "\r").as_bytes()),
        want
    );
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(rows.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(spearman("utf16.tsv", &utf16), want);
    std::fs::write(
        p.join("bad.tsv"),
        b"w0001\tw0002\t1\n\xff\xfe\xfd\x80\x81\tw0003\t2\n",
    )
    .unwrap();
    fails(
        p,
        &["eval", "--pairs", "bad.tsv"],
        1,
        "bad.tsv: is not valid UTF-8 (",
    );
    // A training run refuses such a file before it starts, not after the
    // first epoch.
    let t = super::corpus_only(100_000);
    ok(t.path(), &["vocab", "--corpus", "data/corpus.txt"]);
    let train_fails = |set: &Path, needle: &str| {
        let set = set.to_str().unwrap();
        let args = [
            "train",
            "--corpus",
            "vocab/corpus.ids",
            "--engine",
            "native",
            "--eval-pairs",
            set,
        ];
        fails(t.path(), &args, 1, needle)
    };
    let err = train_fails(
        &p.join(&f),
        "--eval-pairs: only 0 of its 2 pairs have both words in the vocabulary",
    );
    assert!(err.contains("oov.tsv"), "{err}");
    // Scores all equal among the pairs in the vocabulary: refused too.
    let words: Vec<String> = std::fs::read_to_string(t.path().join("vocab/words.txt"))
        .unwrap()
        .lines()
        .take(3)
        .map(str::to_string)
        .collect();
    let c = p.join("const-train.tsv");
    std::fs::write(
        &c,
        format!(
            "{}\t{}\t5\n{}\t{}\t5\nкот\tпес\t1\n",
            words[0], words[1], words[1], words[2]
        ),
    )
    .unwrap();
    train_fails(
        &c,
        "--eval-pairs: the human scores of its 2 pairs in the vocabulary are all 5",
    );
    assert!(!t.path().join("model").exists());
    let f = write("empty.tsv", "# nothing\n\n");
    fails(p, &["eval", "--pairs", &f], 1, "holds no word pairs");
    // Analogies: malformed lines reported, none usable is an error.
    let f = write(
        "an.txt",
        ": s\nw0001 w0002 w0003 w0004\nw0001 w0002\nкот пес a b\n",
    );
    let (code, out, err) = plain(p, &["eval", "--analogies", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[total]: ") && out.contains("/1 "), "{out}");
    assert!(err.contains("line 3: 2 words; a question is four"), "{err}");
    let f = write("bad.txt", ": s\nw0001 w0002\nкот пес a b\n");
    fails(
        p,
        &["eval", "--analogies", &f],
        1,
        "bad.txt: holds no question to evaluate: each of its 1 question(s) has a word outside the vocabulary",
    );
    // Beside a file that scores, it is reported as not scored.
    let (code, out, err) = plain(p, &["eval", "--analogies", "an.txt", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("an.txt [total]: "), "{out}");
    assert!(
        out.contains("bad.txt: not scored: holds no question to evaluate"),
        "{out}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(p, &["eval", "--analogies", "an.txt", &f, "--json"])).unwrap();
    assert!(j["analogies"][0]["unscored"].is_null(), "{j}");
    assert!(j["analogies"][1]["unscored"].is_string(), "{j}");
    assert!(
        j["analogies"][1]["sections"][0]["accuracy"].is_null(),
        "{j}"
    );
    // No well-formed question at all is bad input, whatever else scores.
    let f = write("junk.txt", ": s\nw0001 w0002\n");
    fails(
        p,
        &["eval", "--analogies", "an.txt", &f],
        1,
        "junk.txt: holds no question to evaluate (1 malformed line(s): line 2: 2 words; a question is four)",
    );
}

/// Found by fuzzing (`reader_parquet`, TESTING.md): a parquet file whose
/// metadata gives a column chunk a negative offset made the parquet crate
/// panic inside `prep`. It is refused with one line naming the file.
#[test]
fn fuzz_found_parquet_with_a_negative_column_offset_is_refused() {
    let d = super::fuzz_regression_as_parquet("reader_parquet-negative-column-offset.parquet");
    let err = fails(
        d.path(),
        &["prep", "x.parquet", "-o", "corpus.txt"],
        1,
        "corrupt parquet file: a column chunk at offset -89",
    );
    assert!(err.contains("x.parquet"), "{err}");
}

/// Found by fuzzing (`reader_parquet`, TESTING.md): a dictionary page that
/// declares 0 values but holds bytes made the parquet crate divide by zero
/// (`ByteArrayDecoderPlain::read`) inside `prep`.
#[test]
fn fuzz_found_parquet_with_an_empty_dictionary_page_holding_bytes_is_refused() {
    let d = super::fuzz_regression_as_parquet("reader_parquet-empty-dictionary-page.parquet");
    let err = fails(
        d.path(),
        &["prep", "x.parquet", "-o", "corpus.txt"],
        1,
        "corrupt parquet file: row group 1, column 1, page 0 at byte 323: 0 values in a page of",
    );
    assert!(err.contains("x.parquet"), "{err}");
    assert!(!d.path().join("corpus.txt").exists());
}

/// Found by fuzzing (`reader_parquet`, TESTING.md): a byte column without
/// the UTF-8 annotation, which the file's embedded arrow schema calls a
/// string column, holding invalid UTF-8. The parquet crate took the hint
/// without checking the bytes: it panicked in a debug build and would hand
/// invalid `&str`s on in a release one. prep now types the column from the
/// parquet schema alone and decodes a byte column as it decodes a text
/// file's lines: invalid sequences replaced and counted.
#[test]
fn fuzz_found_parquet_byte_column_hinted_as_strings_is_decoded_not_trusted() {
    let d = super::fuzz_regression_as_parquet("reader_parquet-utf8-hint-on-a-byte-column.parquet");
    // 8 invalid sequences in its 303 text bytes: over the limit, like a
    // text file with as many.
    let err = fails(
        d.path(),
        &["prep", "x.parquet", "-o", "corpus.txt"],
        1,
        "8 invalid UTF-8 sequences in the 303 bytes of column 'text'",
    );
    assert!(err.contains("x.parquet"), "{err}");
    assert!(!d.path().join("corpus.txt").exists());
    ok(
        d.path(),
        &["prep", "x.parquet", "-o", "corpus.txt", "--allow-invalid"],
    );
    let text = std::fs::read_to_string(d.path().join("corpus.txt")).unwrap();
    // The valid rows read as they are; the broken one keeps its valid
    // words, the normalizer splitting at each U+FFFD.
    assert!(text.contains("перенос слово e-mail и т д\n"), "{text}");
    assert!(
        text.contains("mixed english an d сский текст here\n"),
        "{text}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(d.path().join("corpus.txt.prep.manifest.json"))).unwrap();
    assert_eq!(
        manifest.pointer("/summary/read/invalid_utf8"),
        Some(&serde_json::json!(8)),
        "{manifest}"
    );
}

/// A text column written as plain bytes (no UTF-8 annotation, as some
/// writers store strings) reads as text; one whose bytes are mostly not
/// UTF-8 is refused as a text file would be, unless `--allow-invalid`.
#[test]
fn prep_reads_a_parquet_byte_column_as_utf8_text() {
    use arrow::array::{Array, BinaryArray, RecordBatch};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let write = |name: &str, rows: Vec<&[u8]>| {
        let col = BinaryArray::from(rows);
        let schema = Schema::new(vec![Field::new("text", col.data_type().clone(), false)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(col)]).unwrap();
        let f = std::fs::File::create(p.join(name)).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    };
    write(
        "bytes.parquet",
        vec!["Первая строка".as_bytes(), "Вторая строка".as_bytes()],
    );
    ok(p, &["prep", "bytes.parquet", "-o", "a/corpus.txt"]);
    assert_eq!(
        std::fs::read_to_string(p.join("a/corpus.txt")).unwrap(),
        "первая строка\nвторая строка\n"
    );
    let junk: Vec<u8> = (0..400u32).map(|i| 0x80 + (i % 64) as u8).collect();
    write("junk.parquet", vec![&junk, "Третья строка".as_bytes()]);
    let err = fails(
        p,
        &["prep", "junk.parquet", "-o", "b/corpus.txt"],
        1,
        "invalid UTF-8 sequences",
    );
    assert!(err.contains("junk.parquet"), "{err}");
    assert!(!p.join("b/corpus.txt").exists());
    ok(
        p,
        &[
            "prep",
            "junk.parquet",
            "-o",
            "b/corpus.txt",
            "--allow-invalid",
        ],
    );
    let kept = std::fs::read_to_string(p.join("b/corpus.txt")).unwrap();
    assert!(kept.contains("третья строка"), "{kept}");
    // UTF-16 is valid UTF-8 byte by byte (a Cyrillic letter is a byte and
    // 0x04): it was read as junk Latin letters. Refused as binary data, as
    // a text file of such bytes is, whatever --allow-invalid says.
    let utf16: Vec<u8> = "Четвёртая строка"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    write("utf16.parquet", vec![&utf16, &utf16]);
    for extra in [&[][..], &["--allow-invalid"][..]] {
        let args = [&["prep", "utf16.parquet", "-o", "c/corpus.txt"][..], extra].concat();
        let err = fails(
            p,
            &args,
            1,
            // "Четвёртая строка": 15 letters with a 0x04 byte, a space
            // with a NUL.
            "column 'text' holds binary data, not UTF-8 text (2 NUL and 30 other control bytes in 64 bytes)",
        );
        assert!(err.contains("utf16.parquet"), "{err}");
    }
    assert!(!p.join("c/corpus.txt").exists());
    // A string column (UTF-8 annotated) holding invalid bytes: the crate
    // refuses it; one line names the file and the column.
    let col = arrow::array::StringArray::from(vec!["Пятая строка", "QQQQQQQQQQQQQQQQ"]);
    let schema = Schema::new(vec![Field::new("text", col.data_type().clone(), false)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(col)]).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .build();
    let mut buf = Vec::new();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let at = buf.windows(16).position(|x| x == [b'Q'; 16]).unwrap();
    buf[at..at + 16].fill(0xFF);
    std::fs::write(p.join("bad-str.parquet"), buf).unwrap();
    for extra in [&[][..], &["--allow-invalid"][..]] {
        let args = [
            &["prep", "bad-str.parquet", "-o", "d/corpus.txt"][..],
            extra,
        ]
        .concat();
        let err = fails(
            p,
            &args,
            1,
            "column 'text' is a string column holding invalid UTF-8",
        );
        assert!(
            err.contains("bad-str.parquet") && !err.trim_end().contains('\n'),
            "{err}"
        );
    }
}

/// Found by fuzzing (`reader_parquet`, TESTING.md): a 1.5 kB parquet file
/// whose page header announces a Thrift collection of 255 million elements
/// stalled the parquet crate's skip loop for minutes. `prep` now walks the
/// page headers first (`src/parquet_guard.rs`) and refuses the file at once.
#[test]
fn fuzz_found_parquet_page_header_that_stalled_the_reader_is_refused_at_once() {
    let d = super::fuzz_regression_as_parquet("reader_parquet-timeout-2e49e2ce");
    let mut child = Command::new(BIN)
        .args([
            "prep",
            "x.parquet",
            "-o",
            "corpus.txt",
            "--progress",
            "silent",
        ])
        .current_dir(d.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Before the fix it ran for minutes; a refusal takes milliseconds, so
    // 60 s leaves room for a loaded CI box.
    let status = super::wait_at_most(&mut child, 60, "prep of the stalling parquet file");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("x.parquet: corrupt parquet file: row group 0, column 1, page 0"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!d.path().join("corpus.txt").exists());
}
