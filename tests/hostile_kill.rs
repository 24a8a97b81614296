//! Kill at random (issue #16, "Beyond the listed cases"): each stage is run
//! and killed with SIGKILL at seeded random times, 20 times a stage, the
//! delays drawn over an uninterrupted run's duration. After each kill the
//! stage's outputs must be either what they were before the run (intact) or
//! exactly what an uninterrupted run writes (complete), never a mix or a
//! partial file under a final name. Stages alternate between two inputs so
//! the two states differ. Then an uninterrupted re-run (`--resume` for
//! `train` when a checkpoint is there) must give the uninterrupted result
//! bitwise (`--deterministic` for train), and leave no temp file behind.
//! TESTING.md records the counts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand_core::{RngCore, SeedableRng};

use super::hostile_diskfull::stray_temps;
use super::{ok, BIN};

/// Kills per stage that must strike while the stage runs.
const KILLS: usize = 20;
/// Most runs per stage (kills that came too late included).
const MAX_TRIES: usize = 3 * KILLS;
/// What a kill that came after the exit multiplies later delays by.
const SHRINK: f64 = 0.7;

/// The state of `dirs`: every file (but temp files and `checkpoints/`) with
/// its xxh3; a manifest is hashed without what changes from run to run
/// (`created_unix`, `summary` with its timings).
fn state(root: &Path, dirs: &[&str]) -> BTreeMap<String, u64> {
    fn walk(d: &Path, root: &Path, out: &mut BTreeMap<String, u64>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            // The training log records timings, which no two runs share.
            if name.starts_with('.') || name == "checkpoints" || name == "train.jsonl" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(&p, root, out);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let h = if name.ends_with("manifest.json") {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    panic!("{}: a manifest that is not JSON: {e}", p.display())
                });
                let o = v.as_object_mut().unwrap();
                o.remove("created_unix");
                o.remove("summary");
                // Provenance: whether this run was resumed.
                if let Some(c) = o.get_mut("config").and_then(|c| c.as_object_mut()) {
                    c.remove("resume");
                }
                xxhash_rust::xxh3::xxh3_64(v.to_string().as_bytes())
            } else {
                xxhash_rust::xxh3::xxh3_64(&bytes)
            };
            out.insert(p.strip_prefix(root).unwrap().display().to_string(), h);
        }
    }
    let mut out = BTreeMap::new();
    for d in dirs {
        walk(&root.join(d), root, &mut out);
    }
    out
}

/// What the kills of one stage did.
#[derive(Debug, Default)]
struct Tally {
    /// Kills that struck while the process ran.
    during: usize,
    /// Kills that came after it had exited.
    after: usize,
    /// Outputs found as they were before the run.
    intact: usize,
    /// Outputs found complete (the uninterrupted result).
    complete: usize,
    /// Outputs caught in the final renames: a manifest is missing, so
    /// every reader refuses them until a re-run.
    incomplete: usize,
}

/// True when `after` lacks a manifest that `complete` has (a directory
/// caught between removing its old manifest and renaming in the new one).
fn manifest_missing(after: &BTreeMap<String, u64>, complete: &BTreeMap<String, u64>) -> bool {
    complete
        .keys()
        .any(|k| k.ends_with("manifest.json") && !after.contains_key(k))
}

/// Runs `args` and kills it after `delay`; true when it was still running.
fn run_and_kill(dir: &Path, args: &[String], delay: Duration) -> bool {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--progress", "silent"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn w2v");
    std::thread::sleep(delay);
    let running = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    running
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Kills a stage whose runs alternate between `variants` (argument lists
/// writing into `dirs`), [`KILLS`] times, checking the outputs after each.
fn kill_stage(
    root: &Path,
    name: &str,
    variants: &[Vec<String>],
    dirs: &[&str],
    rng: &mut rand_xoshiro::Xoshiro256PlusPlus,
) -> Tally {
    let mut refs = Vec::new();
    let mut longest = Duration::ZERO;
    for v in variants {
        let args: Vec<&str> = v.iter().map(String::as_str).collect();
        let t = Instant::now();
        ok(root, &args);
        longest = longest.max(t.elapsed());
        refs.push(state(root, dirs));
    }
    assert!(
        refs.windows(2).all(|w| w[0] != w[1]),
        "{name}: the variants must write different outputs"
    );
    let mut tally = Tally::default();
    // A kill that comes after the process exited tests nothing, and how long
    // a run takes depends on the machine's load: each such kill shrinks the
    // delays, until KILLS kills have struck during a run.
    let mut scale = 1.0;
    let mut k = 0;
    while tally.during < KILLS && k < MAX_TRIES {
        let v = k % variants.len();
        let before = state(root, dirs);
        let delay = longest.mul_f64(scale * (rng.next_u64() % 10_000) as f64 / 10_000.0);
        k += 1;
        if run_and_kill(root, &variants[v], delay) {
            tally.during += 1;
        } else {
            tally.after += 1;
            scale *= SHRINK;
        }
        let after = state(root, dirs);
        if after == before {
            tally.intact += 1;
        } else if after == refs[v] {
            tally.complete += 1;
        } else if manifest_missing(&after, &refs[v]) {
            tally.incomplete += 1;
        } else {
            panic!(
                "{name}, kill {k} after {delay:?}: outputs neither intact nor complete:\nbefore {before:#?}\nafter {after:#?}\nexpected {:#?}",
                refs[v]
            );
        }
    }
    // An uninterrupted re-run gives the uninterrupted result and cleans up.
    let last: Vec<&str> = variants[0].iter().map(String::as_str).collect();
    ok(root, &last);
    assert_eq!(state(root, dirs), refs[0], "{name}: the re-run differs");
    for d in dirs {
        let t = stray_temps(&root.join(d));
        assert!(
            t.is_empty(),
            "{name}: temp files left after a re-run: {t:?}"
        );
    }
    tally
}

/// `train --deterministic` killed at random and resumed: the final model is
/// the uninterrupted one, bitwise.
fn kill_train(root: &Path, rng: &mut rand_xoshiro::Xoshiro256PlusPlus) -> Tally {
    let base = [
        "train",
        "--engine",
        "native",
        "--deterministic",
        "--dim",
        "16",
        "--epochs",
        "2",
        "--checkpoint-every",
        "40000",
        "-o",
        "model",
    ];
    let t = Instant::now();
    ok(root, &base);
    let full = t.elapsed();
    let reference = state(root, &["model"]);
    let json = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let total = json(&root.join("model/model.manifest.json"))["summary"]["total_pairs"]
        .as_u64()
        .unwrap();
    std::fs::remove_dir_all(root.join("model")).unwrap();
    // The share of the run a resumed run still has to do.
    let left = |root: &Path| {
        let ptr = root.join("model/checkpoints/checkpoint.json");
        if !ptr.exists() {
            return 1.0;
        }
        let done = json(&ptr)["cursor"]["pairs_done"].as_u64().unwrap();
        (1.0 - done as f64 / total as f64).max(0.1)
    };
    let mut tally = Tally::default();
    let mut resumes = 0;
    let args = |root: &Path, resumes: &mut usize| {
        let mut a = strings(&base);
        if root.join("model/checkpoints/checkpoint.json").exists() {
            a.push("--resume".into());
            *resumes += 1;
        }
        a
    };
    let mut scale = 1.0;
    let mut k = 0;
    while tally.during < KILLS && k < MAX_TRIES {
        let before = state(root, &["model"]);
        let u = (rng.next_u64() % 10_000) as f64 / 10_000.0;
        let delay = full.mul_f64(scale * u * left(root));
        k += 1;
        if run_and_kill(root, &args(root, &mut resumes), delay) {
            tally.during += 1;
        } else {
            tally.after += 1;
            scale *= SHRINK;
        }
        let after = state(root, &["model"]);
        if after == before {
            tally.intact += 1;
        } else if after == reference {
            tally.complete += 1;
        } else if manifest_missing(&after, &reference) {
            tally.incomplete += 1;
        } else {
            panic!("train, kill {k} after {delay:?}: model neither intact nor complete:\n{after:#?}\nexpected {reference:#?}");
        }
    }
    let a = args(root, &mut resumes);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    ok(root, &a);
    assert_eq!(
        state(root, &["model"]),
        reference,
        "train: the resumed result differs"
    );
    assert!(resumes > 0, "no kill left a checkpoint to resume");
    let t = stray_temps(&root.join("model"));
    assert!(t.is_empty(), "train: temp files left: {t:?}");
    eprintln!("train: {resumes} runs resumed from a checkpoint");
    tally
}

#[test]
fn stages_killed_at_random_leave_old_or_complete_outputs_and_rerun_identically() {
    let seed = 16;
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for (f, s) in [("raw/a.txt", "3"), ("raw/b.txt", "4")] {
        ok(p, &["synth", "--out", f, "--seed", s, "--bytes", "400000"]);
    }
    let mut report = Vec::new();
    let prep = |src: &str| strings(&["prep", src, "-o", "data/corpus.txt"]);
    report.push((
        "prep",
        kill_stage(
            p,
            "prep",
            &[prep("raw/a.txt"), prep("raw/b.txt")],
            &["data"],
            &mut rng,
        ),
    ));
    ok(p, &["prep", "raw/a.txt", "-o", "data/a.txt"]);
    ok(p, &["prep", "raw/b.txt", "-o", "data/b.txt"]);
    let vocab = |c: &str| strings(&["vocab", "--corpus", c, "--vocab-dir", "v"]);
    report.push((
        "vocab",
        kill_stage(
            p,
            "vocab",
            &[vocab("data/a.txt"), vocab("data/b.txt")],
            &["v"],
            &mut rng,
        ),
    ));
    let pairs = |c: &str| {
        strings(&[
            "pairs",
            "--corpus",
            c,
            "--force",
            "--epochs",
            "2",
            "--shard-size",
            "100000",
        ])
    };
    report.push((
        "pairs",
        kill_stage(
            p,
            "pairs",
            &[pairs("data/a.txt"), pairs("data/b.txt")],
            &["vocab", "shards"],
            &mut rng,
        ),
    ));
    report.push(("train", kill_train(p, &mut rng)));
    ok(
        p,
        &[
            "train", "--engine", "native", "--dim", "16", "--epochs", "1", "-o", "m",
        ],
    );
    let export = |f: &str| strings(&["export", "--model", "m", "--format", f, "-o", "out/v"]);
    report.push((
        "export",
        kill_stage(
            p,
            "export",
            &[export("word2vec-bin"), export("word2vec-text")],
            &["out"],
            &mut rng,
        ),
    ));
    ok(
        p,
        &[
            "export",
            "--model",
            "m",
            "--format",
            "word2vec-bin",
            "-o",
            "v.bin",
        ],
    );
    ok(
        p,
        &[
            "export",
            "--model",
            "m",
            "--format",
            "word2vec-text",
            "-o",
            "v.txt",
        ],
    );
    let import = |f: &str| strings(&["import", f, "-o", "imp", "--force"]);
    report.push((
        "import",
        kill_stage(
            p,
            "import",
            &[import("v.bin"), import("v.txt")],
            &["imp"],
            &mut rng,
        ),
    ));
    for (stage, t) in &report {
        eprintln!(
            "kill at random (seed {seed}): {stage}: {} kills, {} during the run, {} after it; outputs intact {}, complete {}, caught in the renames (no manifest, refused) {}",
            t.during + t.after, t.during, t.after, t.intact, t.complete, t.incomplete
        );
    }
    for (stage, t) in &report {
        assert_eq!(
            t.during,
            KILLS,
            "{stage}: only {} of {} kills struck during the run",
            t.during,
            t.during + t.after
        );
    }
}
