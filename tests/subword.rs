//! Subword models (`train --subwords`): training, resume, out-of-vocabulary
//! queries, eval coverage and the fastText export's refusals. The fastText
//! and gensim cross-checks of the n-grams and of the export are in
//! tests/python/run_tests.py.

use super::{fails, ok, prepared, read, topic_precision, w2v};
use w2v::embeddings::NpyMatrix;

fn train_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "train",
        "--engine",
        "native",
        "--dim",
        "32",
        "--epochs",
        "2",
        "--deterministic",
        "--subwords",
        "3-5",
        "--buckets",
        "5000",
        "-o",
        out,
    ];
    a.extend_from_slice(extra);
    a
}

/// `--subwords` without a range takes the measured default, 4-6, whether
/// another flag or nothing follows it.
#[test]
fn bare_subwords_flag_takes_the_measured_range() {
    let d = prepared(200_000, 1);
    let p = d.path();
    let base = [
        "train", "--engine", "native", "--dim", "16", "--epochs", "1",
    ];
    for (out, tail) in [
        ("a", &["--subwords", "--buckets", "5000"][..]),
        ("b", &["--buckets", "5000", "--subwords"][..]),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(&["-o", out]);
        args.extend_from_slice(tail);
        ok(p, &args);
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(p.join(out).join("model.manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m["subwords"]["minn"], 4, "{}", m["subwords"]);
        assert_eq!(m["subwords"]["maxn"], 6, "{}", m["subwords"]);
        assert_eq!(m["subwords"]["buckets"], 5000, "{}", m["subwords"]);
    }
    // `<ъ>` is shorter than any n-gram of 4-6: no vector, and the error
    // says why (any word gets a vector only when it has an n-gram).
    fails(
        p,
        &["vector", "--model", "a", "ъ"],
        1,
        "'ъ' is not in vocabulary, and too short for the model's n-grams of 4-6 characters",
    );
    ok(p, &["vector", "--model", "a", "ъъ"]);
}

#[test]
fn subword_model_trains_resumes_and_answers_for_unseen_words() {
    let d = prepared(600_000, 2);
    let p = d.path();
    ok(p, &train_args("full", &[]));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("full/model.manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["subwords"]["buckets"], 5000);
    // fastText's power by default for a subword model (the sweep's choice),
    // recorded so a resume checks it.
    assert_eq!(m["config"]["ns_exponent"], 0.5, "{}", m["config"]);
    // fastText's learning rate, kept by the sweep (session 15).
    // f32 settings are written as typed, not widened (0.05, not 0.0500000007).
    assert_eq!(m["config"]["lr"], 0.05, "{}", m["config"]);
    // The saved vectors' composition, chosen the same way (session 15).
    assert_eq!(m["config"]["own_weight"], 4.0, "{}", m["config"]);
    assert_eq!(m["config"]["output_weight"], 0.1, "{}", m["config"]);
    assert!(m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["path"].as_str().unwrap().ends_with("ngrams.npy")));
    // Random neighbours would score ~0.004.
    let prec = topic_precision(p, "full");
    assert!(prec >= 0.5, "precision@10 {prec}");

    // A checkpoint carries the n-gram rows: a resumed run is bitwise equal.
    let o = w2v(p, &train_args("cut", &["--stop-after-pairs", "200000"]));
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Other subword settings, or none, are refused on resume.
    let mut other = train_args("cut", &["--resume"]);
    other[11] = "6000";
    fails(p, &other, 1, "--buckets was 5000, now 6000");
    let word_level: Vec<&str> = train_args("cut", &["--resume"])
        .into_iter()
        .filter(|a| !["--subwords", "3-5", "--buckets", "5000"].contains(a))
        .collect();
    fails(p, &word_level, 1, "--subwords");
    let mut power = train_args("cut", &["--resume"]);
    power.extend(["--ns-exponent", "0.75"]);
    fails(p, &power, 1, "--ns-exponent was 0.5, now 0.75");
    ok(p, &train_args("cut", &["--resume"]));
    for f in ["input.npy", "ngrams.npy"] {
        assert_eq!(
            read(p.join("full").join(f)),
            read(p.join("cut").join(f)),
            "{f}"
        );
    }

    // An in-vocabulary word and an unseen form of it.
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("data/sample.groups.json")).unwrap())
            .unwrap();
    let word = g["groups"][0]["members"][0].as_str().unwrap().to_string();
    let unseen = format!("{word}ость");
    let out = ok(
        p,
        &["vector", &word, &unseen, "--ngrams", "--model", "full"],
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["oov"], false);
    assert_eq!(lines[1]["oov"], true);
    assert_eq!(lines[1]["vector"].as_array().unwrap().len(), 32);
    assert!(!lines[1]["ngrams"].as_array().unwrap().is_empty());
    let n = ok(p, &["neighbors", &unseen, "-k", "5", "--model", "full"]);
    assert!(n.contains("(oov)"), "{n}");
    let j: serde_json::Value = serde_json::from_str(&ok(
        p,
        &["neighbors", &unseen, "-k", "5", "--json", "--model", "full"],
    ))
    .unwrap();
    assert_eq!(j[0]["oov"], true);
    // The unseen form is close to its stem word.
    let sim: f64 = ok(p, &["similarity", &word, &unseen, "--model", "full"])
        .trim()
        .parse()
        .unwrap();
    assert!(sim > 0.3, "similarity {sim}");
    // A word longer than the 40 characters prep keeps still has n-grams.
    let long = word.repeat(41 / word.chars().count() + 1);
    let v: serde_json::Value =
        serde_json::from_str(ok(p, &["vector", &long, "--model", "full"]).trim()).unwrap();
    assert_eq!(v["oov"], true, "{v}");
    assert_eq!(v["vector"].as_array().unwrap().len(), 32);

    // eval: every pair is covered; the in-vocabulary score is reported too.
    let w2 = g["groups"][0]["members"][1].as_str().unwrap();
    let w3 = g["groups"][1]["members"][0].as_str().unwrap();
    let pairs = format!("{word}\t{w2}\t9\n{word}\t{w3}\t1\n{unseen}\t{w2}\t8\n{w2}\t{w3}\t2\n");
    std::fs::write(p.join("pairs.tsv"), pairs).unwrap();
    let e: serde_json::Value = serde_json::from_str(&ok(
        p,
        &["eval", "--pairs", "pairs.tsv", "--json", "--model", "full"],
    ))
    .unwrap();
    let s = &e["pairs"][0];
    assert_eq!(s["found"], 4, "{e}");
    assert_eq!(s["in_vocab"]["found"], 3, "{e}");
    // Only punctuation has no vector even here; with one pair left, the
    // file is not scored, and the message does not blame the vocabulary
    // (an unseen form has a vector).
    std::fs::write(
        p.join("punct.tsv"),
        format!("!!!\t{w2}\t9\n{unseen}\t{w2}\t8\n"),
    )
    .unwrap();
    fails(
        p,
        &["eval", "--pairs", "punct.tsv", "--model", "full"],
        1,
        "punct.tsv: only 1 of its 2 pairs have vectors for both words; a correlation needs two",
    );
    let e: serde_json::Value = serde_json::from_str(&ok(
        p,
        &[
            "eval",
            "--pairs",
            "pairs.tsv",
            "punct.tsv",
            "--json",
            "--model",
            "full",
        ],
    ))
    .unwrap();
    assert!(e["pairs"][0]["spearman"].is_f64(), "{e}");
    assert!(e["pairs"][1]["spearman"].is_null(), "{e}");
    assert!(e["pairs"][1]["in_vocab"]["spearman"].is_null(), "{e}");

    // fastText export: refused for a word-level model and for stdout.
    ok(
        p,
        &[
            "export",
            "--format",
            "fasttext-bin",
            "-o",
            "m.bin",
            "--model",
            "full",
        ],
    );
    assert!(std::fs::metadata(p.join("m.bin")).unwrap().len() > 5000 * 32 * 4);
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", "wl",
        ],
    );
    fails(
        p,
        &[
            "export",
            "--format",
            "fasttext-bin",
            "-o",
            "w.bin",
            "--model",
            "wl",
        ],
        1,
        "needs a subword model",
    );
    fails(
        p,
        &[
            "export",
            "--format",
            "fasttext-bin",
            "-o",
            "-",
            "--model",
            "full",
        ],
        2,
        "give a file name",
    );
    // --subwords is validated, and needs the native window update.
    fails(
        p,
        &[
            "train",
            "--engine",
            "native",
            "--subwords",
            "0-3",
            "-o",
            "bad",
        ],
        2,
        "MINN",
    );
    fails(
        p,
        &train_args("bad2", &["--native-update", "pair"]),
        2,
        "window update",
    );

    // n-gram rows changed after the save (same size): an unseen word was
    // composed from them with exit 0. Now the first one checks the file.
    let grams = p.join("full/ngrams.npy");
    let mut bytes = std::fs::read(&grams).unwrap();
    // .npy version 1: magic, version, then the header's length at 8..10.
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    for c in bytes[header..].chunks_exact_mut(4) {
        c.copy_from_slice(&1000f32.to_le_bytes());
    }
    std::fs::write(&grams, &bytes).unwrap();
    fails(
        p,
        &["vector", &unseen, "--model", "full"],
        1,
        "ngrams.npy: does not match model.manifest.json",
    );
    // A word in the vocabulary does not read the n-gram rows.
    ok(p, &["vector", &word, "--model", "full"]);
}

/// `--own-weight A --output-weight B` change the saved word vectors only:
/// training is the same (the n-gram rows are the plain run's, bit for bit),
/// and each word's vector is (A·own + Σ n-gram rows)/(A + n) plus B times
/// its output vector at that length, computed here from the plain run's
/// tables.
#[test]
fn own_and_output_weights_shape_the_saved_vectors_only() {
    let d = prepared(300_000, 1);
    let p = d.path();
    let plain = ["--save-output", "--own-weight", "1", "--output-weight", "0"];
    ok(p, &train_args("plain", &plain));
    let weights = ["--own-weight", "3", "--output-weight", "0.2"];
    ok(p, &train_args("heavy", &weights));
    let npy = |dir: &str, f: &str| NpyMatrix::open(&p.join(dir).join(f)).unwrap();
    let (plain, grams, out) = (
        npy("plain", "input.npy"),
        npy("plain", "ngrams.npy"),
        npy("plain", "output.npy"),
    );
    let heavy = npy("heavy", "input.npy");
    assert_eq!(grams.data(), npy("heavy", "ngrams.npy").data());
    assert_ne!(plain.data(), heavy.data());
    let cfg = w2v::subword::SubwordConfig {
        minn: 3,
        maxn: 5,
        buckets: 5000,
    };
    let norm = |r: &[f32]| r.iter().map(|x| x * x).sum::<f32>().sqrt();
    let words = std::fs::read_to_string(p.join("plain/words.txt")).unwrap();
    for (i, w) in words.lines().enumerate() {
        let ids = cfg.ngrams(w);
        let n = ids.len() as f32;
        let mut sum = vec![0f32; plain.cols()];
        for &g in &ids {
            sum.iter_mut()
                .zip(grams.row(g as usize))
                .for_each(|(a, b)| *a += b);
        }
        let h: Vec<f32> = plain
            .row(i)
            .iter()
            .zip(&sum)
            .map(|(v, s)| (3.0 * (v * (1.0 + n) - s) + s) / (3.0 + n))
            .collect();
        let c = out.row(i);
        let k = 0.2 * norm(&h) / norm(c);
        for (got, (a, b)) in heavy.row(i).iter().zip(h.iter().zip(c)) {
            let want = a + k * b;
            assert!(
                (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{w}: {got} vs {want}"
            );
        }
    }
    // A word-level model has no n-grams to weigh its own row against.
    fails(
        p,
        &[
            "train",
            "--engine",
            "native",
            "--own-weight",
            "2",
            "-o",
            "x",
        ],
        2,
        "needs --subwords",
    );
}
