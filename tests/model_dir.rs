//! Model directories carry the corpus's normalization to every query:
//! `prep --yo keep` and `prep --hyphens split` models are queried with the
//! same settings (issue: "Queries ignore the prep normalization").

use std::path::Path;

use super::{fails, ok, w2v};

/// Writes `data/raw.txt` from `templates`, each line many times with a
/// rotating filler word, so that every word passes `--min-count`.
fn write_raw(dir: &Path, name: &str, templates: &[&str]) {
    let fillers = ["утром", "вечером", "зимой", "летом", "сегодня", "вчера"];
    let mut text = String::new();
    for i in 0..60 {
        for (j, t) in templates.iter().enumerate() {
            text.push_str(t);
            text.push(' ');
            text.push_str(fillers[(i + j) % fillers.len()]);
            text.push('\n');
        }
    }
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join(name), text).unwrap();
}

/// prep (with `norm` flags) → pairs → train into `model`, in directories
/// suffixed by `tag`.
fn pipeline(dir: &Path, raw: &str, norm: &[&str], tag: &str) -> String {
    let corpus = format!("data{tag}/corpus.txt");
    let (vocab, shards, model) = (
        format!("vocab{tag}"),
        format!("shards{tag}"),
        format!("model{tag}"),
    );
    let mut prep = vec!["prep", raw, "-o", &corpus];
    prep.extend_from_slice(norm);
    ok(dir, &prep);
    ok(
        dir,
        &[
            "pairs",
            "--corpus",
            &corpus,
            "--vocab-dir",
            &vocab,
            "--shards-dir",
            &shards,
            "--epochs",
            "1",
            "--min-count",
            "3",
        ],
    );
    ok(
        dir,
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "--shards", &shards,
            "-o", &model,
        ],
    );
    model
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn read_json(p: &Path) -> serde_json::Value {
    json(&std::fs::read_to_string(p).unwrap())
}

/// The neighbour words of `word` (all of them: k is larger than the vocabulary).
fn neighbour_words(dir: &Path, model: &str, word: &str) -> Vec<String> {
    let v = json(&ok(
        dir,
        &["neighbors", word, "-k", "1000", "--json", "--model", model],
    ));
    v[0]["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["word"].as_str().unwrap().to_string())
        .collect()
}

fn similarity(dir: &Path, model: &str, a: &str, b: &str) -> f64 {
    json(&ok(dir, &["similarity", a, b, "--json", "--model", model]))["similarity"]
        .as_f64()
        .unwrap()
}

#[test]
fn yo_keep_model_is_queried_with_yo_kept() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write_raw(
        p,
        "yo.txt",
        &[
            "Ёлка зелёная стоит в лесу",
            "ёлка растёт на опушке леса",
            "елка из пластика стоит в магазине",
            "новая елка лежит в магазине",
            "зелёный лес шумит",
        ],
    );
    let model = pipeline(p, "data/yo.txt", &["--yo", "keep"], "");
    // The setting travels prep → vocab → model manifest.
    let vm = read_json(&p.join("vocab/vocab.manifest.json"));
    assert_eq!(vm["summary"]["normalize"]["yo"], "keep");
    assert_eq!(vm["summary"]["normalize_source"], "prep");
    let mm = read_json(&p.join("model/model.manifest.json"));
    assert_eq!(mm["normalize"]["yo"], "keep");
    assert_eq!(mm["normalize_source"], "prep");
    assert_eq!(mm["format_version"], 1);
    assert_eq!(mm["dim"], 16);
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    assert!(words.lines().any(|w| w == "ёлка") && words.lines().any(|w| w == "елка"));

    // ёлка is found as itself: it is the excluded query, and елка, another
    // word, is among its neighbours.
    let n = neighbour_words(p, &model, "ЁЛКА");
    assert!(!n.iter().any(|w| w == "ёлка"), "ёлка is the query: {n:?}");
    assert!(n.iter().any(|w| w == "елка"), "{n:?}");
    let n = neighbour_words(p, &model, "елка");
    assert!(n.iter().any(|w| w == "ёлка"), "{n:?}");
    // Words seen only with ё are in the vocabulary.
    let n = neighbour_words(p, &model, "зелёный");
    assert!(!n.iter().any(|w| w == "зелёный"), "{n:?}");
    assert!((similarity(p, &model, "Ёлка", "ёлка") - 1.0).abs() < 1e-5);
    let s = similarity(p, &model, "ёлка", "елка");
    assert!(s < 0.999, "ёлка and елка are two rows, similarity {s}");
    ok(
        p,
        &["analogy", "ёлка", "зелёная", "елка", "--model", &model],
    );

    // eval normalizes its words the same way.
    std::fs::write(
        p.join("pairs.tsv"),
        "зелёная\tёлка\t8\nёлка\tелка\t3\nзелёный\tлес\t6\n",
    )
    .unwrap();
    let e = json(&ok(
        p,
        &["eval", "--pairs", "pairs.tsv", "--json", "--model", &model],
    ));
    assert_eq!(e["pairs"][0]["found"], 3, "{e}");
}

#[test]
fn hyphen_split_model_refuses_a_hyphenated_query_clearly() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write_raw(
        p,
        "hy.txt",
        &[
            "кто-то пришёл домой",
            "кто знает то место",
            "то ли дождь то ли снег",
            "что-то случилось в городе",
            "кто там стучит",
        ],
    );
    let split = pipeline(p, "data/hy.txt", &["--hyphens", "split"], "");
    let mm = read_json(&p.join("model/model.manifest.json"));
    assert_eq!(mm["normalize"]["hyphens"], "split");
    let words = std::fs::read_to_string(p.join("model/words.txt")).unwrap();
    assert!(!words.lines().any(|w| w.contains('-')), "{words}");

    // A hyphenated query is two words under this model's settings: a clear
    // one-line error, for every query command.
    let needle = "'кто-то' is 2 words after this model's normalization (кто то)";
    fails(p, &["neighbors", "кто-то", "--model", &split], 1, needle);
    fails(
        p,
        &["similarity", "кто-то", "кто", "--model", &split],
        1,
        needle,
    );
    fails(
        p,
        &["analogy", "кто", "то", "кто-то", "--model", &split],
        1,
        needle,
    );
    // Its parts are words; in a batch the two-word query is skipped with a warning.
    assert!(neighbour_words(p, &split, "Кто").iter().any(|w| w == "то"));
    let o = w2v(
        p,
        &["neighbors", "кто-то", "то", "--json", "--model", &split],
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains(needle));
    let v = json(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["query"], "то");

    // The same corpus prepared with hyphens kept: кто-то is one word there.
    let kept = pipeline(p, "data/hy.txt", &[], "-kept");
    assert_eq!(
        read_json(&p.join("model-kept/model.manifest.json"))["normalize"]["hyphens"],
        "keep"
    );
    let n = neighbour_words(p, &kept, "Кто-То");
    assert!(!n.iter().any(|w| w == "кто-то") && n.iter().any(|w| w == "кто"));
}
