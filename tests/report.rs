//! The training log (`model/train.jsonl`) and `w2v report`: records written
//! while training runs, continued by a resumption, evaluations equal to
//! `w2v eval`, and a report whose PNGs and HTML hold what the log holds.

use std::path::Path;
use std::process::Command;

use w2v::train::log::{read_log, LogRecord, Outcome};

use super::{fails, ok, prepared, read, w2v, BIN};

/// The records of `dir/train.jsonl`, with no malformed line.
fn records(dir: &Path) -> Vec<LogRecord> {
    let log = read_log(&dir.join("train.jsonl")).unwrap();
    assert!(log.malformed.is_empty(), "{:?}", log.malformed);
    log.records
}

fn blocks(r: &[LogRecord]) -> usize {
    r.iter()
        .filter(|r| matches!(r, LogRecord::Block(_)))
        .count()
}

/// `pairs_seen` never goes back.
fn assert_monotonic(r: &[LogRecord]) {
    let seen: Vec<u64> = r.iter().map(LogRecord::pairs_seen).collect();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
}

/// A pair file of frequent words with made-up scores (and one unknown word).
fn pair_file(dir: &Path) -> String {
    let words = std::fs::read_to_string(dir.join("vocab/words.txt")).unwrap();
    let w: Vec<&str> = words.lines().skip(5).take(40).collect();
    let mut text = String::from("word1\tword2\tscore\n");
    for i in 0..20 {
        text.push_str(&format!(
            "{}\t{}\t{}\n",
            w[i].to_uppercase(),
            w[39 - i],
            (i * 7 % 11) as f64 / 2.0
        ));
    }
    text.push_str("небывальщинаъ\tкот\t3\n");
    std::fs::write(dir.join("pairs.tsv"), text).unwrap();
    "pairs.tsv".into()
}

const TRAIN: [&str; 8] = [
    "train",
    "--engine",
    "native",
    "--dim",
    "16",
    "--epochs",
    "2",
    "--deterministic",
];

/// A run long enough (50 epochs) to be caught running.
const LONG: [&str; 10] = [
    "train",
    "--engine",
    "native",
    "--dim",
    "16",
    "--epochs",
    "50",
    "--deterministic",
    "-o",
    "m",
];

fn train(p: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut a: Vec<&str> = TRAIN.to_vec();
    a.extend(["-o", out]);
    a.extend_from_slice(extra);
    w2v(p, &a)
}

#[test]
fn eval_pairs_log_what_w2v_eval_finds_and_leave_the_model_unchanged() {
    let d = prepared(400_000, 2);
    let p = d.path();
    let pairs = pair_file(p);
    assert!(train(p, "plain", &[]).status.success());
    let o = train(p, "evald", &["--eval-pairs", &pairs]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        read(p.join("plain/input.npy")),
        read(p.join("evald/input.npy")),
        "--eval-pairs changed the model"
    );
    let r = records(&p.join("evald"));
    assert_monotonic(&r);
    let evals: Vec<_> = r
        .iter()
        .filter_map(|r| match r {
            LogRecord::Eval(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(evals.iter().map(|e| e.epoch).collect::<Vec<_>>(), [1, 2]);
    let out = ok(
        p,
        &["eval", "--pairs", &pairs, "--json", "--model", "evald"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want = &v["pairs"][0];
    let last = evals[1];
    assert_eq!(last.set, "pairs.tsv");
    assert_eq!(last.spearman, want["spearman"].as_f64().unwrap());
    assert_eq!(last.pearson, want["pearson"].as_f64().unwrap());
    assert_eq!(
        last.coverage,
        [
            want["found"].as_u64().unwrap() as usize,
            want["total"].as_u64().unwrap() as usize
        ]
    );
    assert_eq!(last.coverage, [20, 21]);
    // The run without evaluations logs none; both end done.
    let plain = records(&p.join("plain"));
    assert!(!plain.iter().any(|r| matches!(r, LogRecord::Eval(_))));
    for r in [&plain, &r] {
        assert!(matches!(r.last(), Some(LogRecord::End(e)) if e.outcome == Outcome::Done));
        assert!(blocks(r) >= 2, "a block record at each epoch end at least");
    }
    // A missing pair file stops the run before it starts, leaving nothing.
    let o = train(p, "never", &["--eval-pairs", "missing.tsv"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("missing.tsv"), "{err}");
    assert!(!p.join("never").exists());
}

#[test]
fn the_log_is_readable_while_training_and_a_resume_continues_it() {
    let d = prepared(400_000, 1);
    let p = d.path();
    // Long enough (50 epochs) to be caught running; SIGINT stops it.
    let mut child = Command::new(BIN)
        .args(LONG)
        .args(["--progress", "silent"])
        .current_dir(p)
        .spawn()
        .unwrap();
    // An unfinished run's log lives beside its checkpoints.
    let log = p.join("m/checkpoints/train.jsonl");
    let mut seen_running = false;
    for _ in 0..6000 {
        if let Ok(l) = read_log(&log) {
            if blocks(&l.records) > 0 {
                seen_running = child.try_wait().unwrap().is_none();
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(seen_running, "no block record was read while training ran");
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let r = records(&p.join("m/checkpoints"));
    let stop = match r.last() {
        Some(LogRecord::End(e)) if e.outcome == Outcome::Interrupted => e.pairs_seen,
        other => panic!("{other:?}"),
    };
    assert!(stop > 0);
    // What a run killed after its checkpoint would have left: records past it.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(&format!(
        "{{\"kind\":\"block\",\"epoch\":9,\"pairs_seen\":{},\"elapsed_s\":99.0,\"loss\":1.0,\"lr\":0.01,\"pairs_per_s\":1.0}}\n",
        stop + 12345
    ));
    std::fs::write(&log, text).unwrap();
    let before = r.len();
    let mut resume = LONG.to_vec();
    resume.extend(["--resume", "--stop-after-pairs"]);
    let next = (stop + 300_000).to_string();
    resume.push(&next);
    assert_eq!(w2v(p, &resume).status.code(), Some(130));
    let r = records(&p.join("m/checkpoints"));
    assert_monotonic(&r);
    assert!(
        !r.iter().any(|x| x.pairs_seen() == stop + 12345),
        "the stale record past the checkpoint is gone"
    );
    match &r[before] {
        LogRecord::Start(s) => assert!(s.resumed && s.pairs_seen == stop, "{s:?}"),
        other => panic!("{other:?}"),
    }
    assert!(blocks(&r[before..]) > 0);
    // Time goes on from the first run's.
    let t = |r: &LogRecord| r.elapsed_s().unwrap_or(0.0);
    assert!(t(r.last().unwrap()) >= t(&r[before - 1]));
}

/// Width, height and RGB pixels of a PNG file.
fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    let px = buf[..info.buffer_size()]
        .chunks(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

/// Checks that a plot image is not blank: several colours, and a share of
/// the plot area (inside the axes' margins) that is not white.
fn assert_drawn(path: &Path, w: u32, h: u32) {
    let (gw, gh, px) = decode(path);
    assert_eq!((gw, gh), (w, h), "{}", path.display());
    let colours: std::collections::HashSet<[u8; 3]> = px.iter().copied().collect();
    assert!(
        colours.len() >= 4,
        "{}: {} colours",
        path.display(),
        colours.len()
    );
    let inner = (0..h)
        .filter(|y| (h / 8..h * 7 / 8).contains(y))
        .flat_map(|y| (w / 8..w * 7 / 8).map(move |x| (x, y)));
    let (mut ink, mut all) = (0usize, 0usize);
    for (x, y) in inner {
        all += 1;
        ink += (px[(y * w + x) as usize] != [255, 255, 255]) as usize;
    }
    let share = ink as f64 / all as f64;
    assert!(
        share > 0.005,
        "{}: {share} of the plot area drawn",
        path.display()
    );
}

/// Points of an SVG polyline's `points` attribute.
fn polyline_points(e: &scraper::ElementRef) -> usize {
    e.value()
        .attr("points")
        .unwrap_or_default()
        .split_whitespace()
        .count()
}

#[test]
fn report_draws_the_log_as_png_and_html() {
    let d = prepared(400_000, 2);
    let p = d.path();
    let pairs = pair_file(p);
    assert!(train(p, "model", &["--eval-pairs", &pairs])
        .status
        .success());
    let r = records(&p.join("model"));
    let n_blocks = blocks(&r);
    let n_evals = r.iter().filter(|r| matches!(r, LogRecord::Eval(_))).count();
    ok(
        p,
        &[
            "report",
            "--model",
            "model",
            "-o",
            "report.html",
            "--png",
            "plots",
        ],
    );
    ok(p, &["report", "--model", "model", "--png", "all.png"]);
    let (w, h) = w2v::report::PLOT_SIZE;
    for plot in w2v::report::Plot::ALL {
        assert_drawn(&p.join(format!("plots/{}.png", plot.id())), w, h);
    }
    assert_drawn(&p.join("all.png"), 2 * w, 3 * h);

    let html = std::fs::read_to_string(p.join("report.html")).unwrap();
    let doc = scraper::Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let sections: Vec<_> = doc.select(&sel("section")).collect();
    let ids: Vec<&str> = sections.iter().filter_map(|s| s.value().id()).collect();
    assert_eq!(ids, ["loss", "throughput", "lr", "eval", "rank-frequency"]);
    for s in &sections {
        assert_eq!(s.select(&sel("svg")).count(), 1, "{:?}", s.value().id());
        assert_eq!(s.select(&sel("h2")).count(), 1);
    }
    // The data lines hold one point per log record.
    let longest = |id: &str| {
        doc.select(&sel(&format!("section#{id} polyline")))
            .map(|e| polyline_points(&e))
            .max()
            .unwrap_or(0)
    };
    for id in ["loss", "throughput", "lr"] {
        assert_eq!(longest(id), n_blocks, "{id}");
    }
    assert_eq!(
        doc.select(&sel("section#eval circle")).count(),
        n_evals,
        "one marker per eval record"
    );
    assert!(longest("rank-frequency") > 50);
    assert!(doc.select(&sel("#summary tr")).count() >= 5);
    // Self-contained: no script, nothing fetched.
    assert_eq!(doc.select(&sel("script, [src], link")).count(), 0);
}

#[test]
fn report_draws_what_it_can_and_refuses_when_there_is_nothing() {
    let d = prepared(300_000, 1);
    let p = d.path();
    assert!(train(p, "model", &[]).status.success());
    // Bad lines: reported by number, the rest drawn.
    let log = p.join("model/train.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{not json\n");
    std::fs::write(&log, &text).unwrap();
    let bad_line = text.lines().count();
    let o = Command::new(BIN)
        .args([
            "report",
            "--model",
            "model",
            "-o",
            "r.html",
            "--progress",
            "plain",
        ])
        .current_dir(p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("line {bad_line}: not JSON")), "{err}");
    assert!(std::fs::read_to_string(p.join("r.html"))
        .unwrap()
        .contains("not records"));
    // No log: the vocabulary is still drawn, and the page says why the rest is not.
    std::fs::remove_file(&log).unwrap();
    let o = Command::new(BIN)
        .args([
            "report",
            "--model",
            "model",
            "-o",
            "r2.html",
            "--progress",
            "plain",
        ])
        .current_dir(p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("train.jsonl not found"), "{err}");
    let page = std::fs::read_to_string(p.join("r2.html")).unwrap();
    assert!(page.contains("no data: no training records"));
    // An imported model: no log, no vocabulary, nothing to draw.
    ok(p, &["export", "--format", "word2vec-text", "-o", "v.txt"]);
    ok(p, &["import", "v.txt", "-o", "imp"]);
    fails(
        p,
        &["report", "--model", "imp", "-o", "r3.html"],
        1,
        "nothing to report",
    );
    std::fs::write(p.join("imp/train.jsonl"), "").unwrap();
    fails(
        p,
        &["report", "--model", "imp", "-o", "r3.html"],
        1,
        "no training record",
    );
    assert!(!p.join("r3.html").exists());
    // A directory that is not there, or holds no model and no log, is named
    // as such (the message used to list both missing files at length).
    fails(
        p,
        &["report", "--model", "nope", "-o", "r3.html"],
        1,
        "nope: does not exist: give the model directory",
    );
    std::fs::create_dir(p.join("empty")).unwrap();
    fails(
        p,
        &["report", "--model", "empty", "-o", "r3.html"],
        1,
        "empty: holds no model and no training log (model.manifest.json or train.jsonl)",
    );
    // A log that is not a regular file: a FIFO hung the report, and a link
    // to /dev/zero grew it by gigabytes a second.
    let imp_log = p.join("imp/train.jsonl");
    std::fs::remove_file(&imp_log).unwrap();
    let fifo = std::ffi::CString::new(imp_log.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    fails(
        p,
        &["report", "--model", "imp", "-o", "r3.html"],
        1,
        "cannot read training log imp/train.jsonl: not a regular file",
    );
    std::fs::remove_file(&imp_log).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &imp_log).unwrap();
    fails(
        p,
        &["report", "--model", "imp", "-o", "r3.html"],
        1,
        "not a regular file",
    );
    // No output named: a usage error.
    fails(p, &["report", "--model", "model"], 2, "-o FILE.html");
    // A manifest as output: refused.
    fails(
        p,
        &[
            "report",
            "--model",
            "model",
            "-o",
            "model/model.manifest.json",
        ],
        1,
        "manifest",
    );
}
