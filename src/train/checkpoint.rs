//! Checkpoints: `model/checkpoints/ckpt-<pairs>/{input,output}.f32` and the
//! pointer `model/checkpoints/checkpoint.json` (cursor, config, fingerprints,
//! per-epoch figures), replaced last so a crash mid-write leaves the
//! previous checkpoint in force.
//!
//! A checkpoint is only resumed by the run it came from: the vocabulary and
//! the shards must be the ones it was made with, and every setting that
//! changes the result must be unchanged ([`TrainConfig::resume_conflicts`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{io_err, json_err, Error, Result};
use crate::manifest::{write_atomic, AtomicFile};
use std::io::Write;

use super::config::TrainConfig;
use super::engine::{first_bad_in, LossSum, TableSink, Weights};
use super::{Cursor, EpochStats};

/// A weight past this magnitude means the run has diverged: word vectors
/// trained with SGNS stay within a few units.
pub const WEIGHT_LIMIT: f32 = 1e4;

/// What a checkpoint holds besides the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The next block to run.
    pub cursor: Cursor,
    /// Fingerprint of the vocabulary trained on.
    pub vocab_fingerprint: String,
    /// Fingerprint of the shards manifest trained on.
    pub shards_fingerprint: String,
    /// The run's settings.
    pub config: TrainConfig,
    /// Figures of the finished epochs.
    pub epochs: Vec<EpochStats>,
    /// The current epoch's loss and pairs so far.
    pub epoch_loss: LossSum,
    /// Pairs of the current epoch so far.
    pub epoch_pairs: u64,
    /// Seconds spent in the current epoch so far.
    #[serde(default)]
    pub epoch_seconds: f64,
    /// The weights' directory under `checkpoints/`.
    pub dir: String,
    /// xxh3 of `input.f32` and of `output.f32` as written, checked when
    /// they are read back (absent in checkpoints made before they were
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_xxh3: Option<[String; 2]>,
}

/// `model/checkpoints`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

/// Writes the tables that `visit` hands to its sink (input, then output,
/// chunk by chunk: [`super::Engine::visit_weights`]) and `state` (whose
/// `dir` is set here). Refuses weights that are not finite or past
/// [`WEIGHT_LIMIT`]: the previous checkpoint stays in force.
pub fn save(
    out: &Path,
    mut state: CheckpointState,
    visit: impl FnOnce(&mut TableSink<'_>) -> Result<()>,
) -> Result<PathBuf> {
    let root = checkpoint_dir(out);
    let name = format!("ckpt-{:015}", state.cursor.pairs_done);
    let dir = root.join(&name);
    let ptr = root.join("checkpoint.json");
    state.dir = name.clone();
    let written = (|| {
        // Removed by a second stop signal's sweep if that leaves it empty.
        let _new = crate::manifest::create_new_dir(&dir)?;
        let mut files = [
            (AtomicFile::create(&dir.join("input.f32"))?, 0usize),
            (AtomicFile::create(&dir.join("output.f32"))?, 0usize),
        ];
        let mut hashes = [
            xxhash_rust::xxh3::Xxh3::new(),
            xxhash_rust::xxh3::Xxh3::new(),
        ];
        super::fault_delay("W2V_FAULT_CHECKPOINT_DELAY_MS");
        let step = state.cursor.pairs_done;
        visit(&mut |table, chunk| {
            let k = usize::from(table != "input");
            let (f, seen) = &mut files[k];
            if let Some(i) = first_bad_in(chunk, WEIGHT_LIMIT) {
                return Err(Error::Diverged {
                    step,
                    what: format!("{table} weight {} is {}", *seen + i, chunk[i]),
                    checkpoint: existing(out),
                });
            }
            *seen += chunk.len();
            let path = f.path().to_path_buf();
            let bytes: &[u8] = bytemuck::cast_slice(chunk);
            hashes[k].update(bytes);
            f.write_all(bytes).map_err(io_err(&path, "write"))
        })?;
        for (f, _) in files {
            f.commit()?;
        }
        state.weights_xxh3 = Some(hashes.map(|h| format!("{:016x}", h.digest())));
        let text =
            serde_json::to_string_pretty(&state).map_err(json_err(&ptr, "encode checkpoint"))?;
        write_atomic(&ptr, text.as_bytes())
    })();
    if let Err(e) = written {
        // A failed write (a full disk) leaves no half checkpoint behind;
        // the one in force stays.
        if dir_in_force(&root).as_deref() != Some(name.as_str()) {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return Err(e);
    }
    // Older checkpoints are no longer needed.
    if let Ok(rd) = std::fs::read_dir(&root) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("ckpt-") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(root)
}

/// The checkpoint directory the pointer in `root` names, if it can be read.
fn dir_in_force(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join("checkpoint.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["dir"].as_str().map(str::to_owned))
}

/// Removes the temp files that an interrupted checkpoint write left in
/// `out/checkpoints` and its `ckpt-*` directories (the caller holds the
/// model directory's lock).
pub fn clean_stale(out: &Path) {
    let root = checkpoint_dir(out);
    crate::manifest::clean_stale_temps(&root);
    // The checkpoint in force is the one the pointer names; another
    // `ckpt-*` is one a kill interrupted (possibly empty), never resumed.
    let in_force = dir_in_force(&root);
    if let Ok(rd) = std::fs::read_dir(&root) {
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("ckpt-") && in_force.as_deref() != Some(name.as_str()) {
                let _ = std::fs::remove_dir_all(e.path());
            } else {
                crate::manifest::clean_stale_temps(&e.path());
            }
        }
    }
}

/// The checkpoint directory when a checkpoint is in force.
pub fn existing(out: &Path) -> Option<PathBuf> {
    let root = checkpoint_dir(out);
    root.join("checkpoint.json").is_file().then_some(root)
}

/// Loads the checkpoint in `out` for a run of `cfg` on the given vocabulary
/// and shards, refusing any change that alters the result.
pub fn load(
    out: &Path,
    cfg: &TrainConfig,
    vocab_fp: &str,
    shards_fp: &str,
    n: usize,
) -> Result<(CheckpointState, Weights)> {
    let root = checkpoint_dir(out);
    let ptr = root.join("checkpoint.json");
    let text = std::fs::read_to_string(&ptr)
        .map_err(io_err(&ptr, "read checkpoint (nothing to resume)"))?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(json_err(&ptr, "parse checkpoint"))?;
    let refuse = |message: String| Error::Mismatch {
        path: ptr.clone(),
        message,
    };
    if state.vocab_fingerprint != vocab_fp {
        return Err(refuse(
            "was made with another vocabulary; start afresh with --force instead of --resume"
                .into(),
        ));
    }
    if state.shards_fingerprint != shards_fp {
        return Err(refuse(
            "was made with other shards; start afresh with --force instead of --resume".into(),
        ));
    }
    let conflicts = cfg.resume_conflicts(&state.config);
    if !conflicts.is_empty() {
        return Err(refuse(format!(
            "cannot resume with changed settings that alter the result ({}); resume with the checkpoint's settings, or start afresh with --force instead of --resume",
            conflicts.join("; ")
        )));
    }
    // A subword model's input table also holds the n-gram rows.
    let n_in = n + cfg.subwords.map_or(0, |s| s.buckets as usize * cfg.dim);
    let read = |f: &str, n: usize, k: usize| -> Result<Vec<f32>> {
        let p = root.join(&state.dir).join(f);
        let bytes = std::fs::read(&p).map_err(io_err(&p, "read checkpoint weights"))?;
        if bytes.len() != n * 4 {
            return Err(Error::Mismatch {
                path: p,
                message: format!("holds {} bytes, expected {}", bytes.len(), n * 4),
            });
        }
        if let Some(want) = state.weights_xxh3.as_ref().map(|h| &h[k]) {
            let got = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
            if &got != want {
                return Err(Error::Mismatch {
                    path: p,
                    message: format!(
                        "does not match its fingerprint in {} (xxh3 {got}, recorded {want}): it changed after it was written; start afresh with --force instead of --resume",
                        ptr.display()
                    ),
                });
            }
        }
        let mut v = crate::hogwild::table(n);
        v.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok(v)
    };
    let weights = Weights {
        input: read("input.f32", n_in, 0)?,
        output: read("output.f32", n, 1)?,
    };
    if let Some((table, i, x)) = weights.first_bad(WEIGHT_LIMIT) {
        return Err(refuse(format!(
            "{table} weight {i} is {x}; the checkpoint is unusable, start afresh with --force instead of --resume"
        )));
    }
    Ok((state, weights))
}

/// When checkpoints are due during a run.
pub struct Schedule {
    every_pairs: u64,
    every_secs: u64,
    last: Instant,
    last_pairs: u64,
}

/// An epoch's end also writes a checkpoint when the last one is at least
/// this old: short epochs (seconds on a GPU) are not slowed by a full
/// weights copy each.
pub const EPOCH_CHECKPOINT_AFTER_S: u64 = 60;

impl Schedule {
    /// The schedule of `cfg`, starting at `pairs_done`.
    pub fn new(cfg: &TrainConfig, pairs_done: u64) -> Self {
        Schedule {
            every_pairs: cfg.checkpoint_every_pairs,
            every_secs: cfg.checkpoint_every_secs,
            last: Instant::now(),
            last_pairs: pairs_done,
        }
    }

    /// Whether `--checkpoint-every` (pairs or seconds) has come round.
    pub fn due(&self, pairs_done: u64) -> bool {
        (self.every_pairs > 0 && pairs_done - self.last_pairs >= self.every_pairs)
            || (self.every_secs > 0 && self.last.elapsed().as_secs() >= self.every_secs)
    }

    /// Whether an epoch end should checkpoint (by pairs only when no pair
    /// interval is set, and not more than once a minute).
    pub fn due_at_epoch_end(&self) -> bool {
        self.every_pairs == 0 && self.last.elapsed().as_secs() >= EPOCH_CHECKPOINT_AFTER_S
    }

    /// Restarts both clocks.
    pub fn saved(&mut self, pairs_done: u64) {
        self.last = Instant::now();
        self.last_pairs = pairs_done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: u64) -> CheckpointState {
        CheckpointState {
            cursor: Cursor {
                pairs_done: pairs,
                ..Default::default()
            },
            vocab_fingerprint: "v".into(),
            shards_fingerprint: "s".into(),
            config: TrainConfig::default(),
            epochs: Vec::new(),
            epoch_loss: LossSum::default(),
            epoch_pairs: 0,
            epoch_seconds: 0.0,
            dir: String::new(),
            weights_xxh3: None,
        }
    }

    /// Saves `w` as one chunk per table.
    fn save(out: &Path, w: &Weights, st: CheckpointState) -> Result<PathBuf> {
        super::save(out, st, |sink| {
            sink("input", &w.input)?;
            sink("output", &w.output)
        })
    }

    #[test]
    fn clean_stale_keeps_only_the_checkpoint_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let w = Weights {
            input: vec![0.5; 4],
            output: vec![0.0; 4],
        };
        save(dir.path(), &w, state(7)).unwrap();
        // A kill mid-checkpoint leaves a directory the pointer never named.
        let root = checkpoint_dir(dir.path());
        std::fs::create_dir(root.join("ckpt-000000000000009")).unwrap();
        std::fs::create_dir(root.join("mine")).unwrap();
        clean_stale(dir.path());
        assert!(!root.join("ckpt-000000000000009").exists());
        assert!(root.join("ckpt-000000000000007/input.f32").is_file());
        assert!(root.join("mine").is_dir());
    }

    #[test]
    fn tables_saved_in_chunks_equal_tables_saved_whole() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let w = Weights {
            input: (0..10).map(|i| i as f32 / 10.0).collect(),
            output: (0..6).map(|i| -(i as f32)).collect(),
        };
        save(a.path(), &w, state(3)).unwrap();
        super::save(b.path(), state(3), |sink| {
            for c in w.input.chunks(3) {
                sink("input", c)?;
            }
            for c in w.output.chunks(4) {
                sink("output", c)?;
            }
            Ok(())
        })
        .unwrap();
        for f in ["input.f32", "output.f32"] {
            let read = |d: &Path| std::fs::read(d.join("checkpoints/ckpt-000000000000003").join(f));
            assert_eq!(read(a.path()).unwrap(), read(b.path()).unwrap(), "{f}");
        }
        // A bad value in a later chunk is named by its index in the table.
        let e = super::save(b.path(), state(4), |sink| {
            sink("input", &[0.0; 4])?;
            sink("input", &[0.0, f32::INFINITY])
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("input weight 5 is inf"), "{e}");
        assert!(!b.path().join("checkpoints/ckpt-000000000000004").exists());
    }

    #[test]
    fn diverged_weights_are_not_saved_and_the_message_is_true() {
        let dir = tempfile::tempdir().unwrap();
        let bad = |x: f32| Weights {
            input: vec![0.1, x],
            output: vec![0.0, 0.0],
        };
        // No checkpoint yet: the error says so.
        let e = save(dir.path(), &bad(f32::NAN), state(77)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Diverged { step: 77, .. }));
        assert!(msg.contains("no checkpoint had been written"), "{msg}");
        // A good one, then a huge (finite) weight: refused, the good one kept and named.
        save(dir.path(), &bad(0.5), state(10)).unwrap();
        let e = save(dir.path(), &bad(5e18), state(20))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("input weight 1 is 5") && e.contains("kept in"),
            "{e}"
        );
        let (s, w) = load(dir.path(), &TrainConfig::default(), "v", "s", 2).unwrap();
        assert_eq!(s.cursor.pairs_done, 10);
        assert_eq!(w.input, [0.1, 0.5]);
    }

    #[test]
    fn weights_changed_after_the_save_are_refused_by_name() {
        // A flipped low bit keeps every weight finite and small, which the
        // value checks cannot see: the recorded xxh3 does.
        let dir = tempfile::tempdir().unwrap();
        let w = Weights {
            input: vec![0.1, 0.2, 0.3, 0.4],
            output: vec![0.5; 4],
        };
        save(dir.path(), &w, state(9)).unwrap();
        let (_, got) = load(dir.path(), &TrainConfig::default(), "v", "s", 4).unwrap();
        assert_eq!(got, w);
        for f in ["input.f32", "output.f32"] {
            let p = dir.path().join("checkpoints/ckpt-000000000000009").join(f);
            let good = std::fs::read(&p).unwrap();
            let mut bad = good.clone();
            bad[4] ^= 1;
            std::fs::write(&p, &bad).unwrap();
            let e = load(dir.path(), &TrainConfig::default(), "v", "s", 4)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(f) && e.contains("does not match its fingerprint in"),
                "{e}"
            );
            std::fs::write(&p, &good).unwrap();
        }
        // A checkpoint from before the fingerprints still loads.
        let ptr = dir.path().join("checkpoints/checkpoint.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&ptr).unwrap()).unwrap();
        assert!(v["weights_xxh3"].is_array());
        v.as_object_mut().unwrap().remove("weights_xxh3");
        std::fs::write(&ptr, v.to_string()).unwrap();
        assert!(load(dir.path(), &TrainConfig::default(), "v", "s", 4).is_ok());
    }

    #[test]
    fn a_checkpoint_at_20_billion_pairs_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(20_000_000_000);
        s.cursor = Cursor {
            epoch: 4,
            shard: 400,
            block: 4_300_000_000,
            shard_pairs: 4_500_000_001,
            pairs_done: 20_000_000_000,
        };
        s.epoch_pairs = 4_500_000_123;
        s.epoch_loss = LossSum {
            sum: 2.5 * 4_500_000_123.0,
            count: 4_500_000_123,
        };
        s.epochs = vec![EpochStats {
            epoch: 0,
            pairs: 5_000_000_001,
            loss: 2.7,
            loss_pairs: 4_999_999_999,
            seconds: 36_000.0,
            pairs_per_s: 1.4e5,
        }];
        let w = Weights {
            input: vec![0.1; 4],
            output: vec![0.0; 4],
        };
        let root = save(dir.path(), &w, s.clone()).unwrap();
        assert!(root.join("ckpt-000020000000000").is_dir());
        let (got, _) = load(dir.path(), &TrainConfig::default(), "v", "s", 4).unwrap();
        assert_eq!(got.cursor, s.cursor);
        assert_eq!(got.epoch_pairs, 4_500_000_123);
        assert_eq!(got.epoch_loss, s.epoch_loss);
        assert_eq!(
            (got.epochs[0].pairs, got.epochs[0].loss_pairs),
            (5_000_000_001, 4_999_999_999)
        );
    }

    #[test]
    fn resume_refuses_other_inputs_and_changed_settings() {
        let dir = tempfile::tempdir().unwrap();
        let w = Weights {
            input: vec![0.1; 4],
            output: vec![0.0; 4],
        };
        save(dir.path(), &w, state(5)).unwrap();
        let cfg = TrainConfig::default();
        let e = load(dir.path(), &cfg, "other", "s", 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another vocabulary"), "{e}");
        let e = load(dir.path(), &cfg, "v", "other", 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("other shards"), "{e}");
        let changed = TrainConfig {
            epochs: 9,
            ..Default::default()
        };
        let e = load(dir.path(), &changed, "v", "s", 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--epochs was 5, now 9"), "{e}");
        let harmless = TrainConfig {
            checkpoint_every_secs: 1,
            resume: true,
            ..Default::default()
        };
        assert!(load(dir.path(), &harmless, "v", "s", 4).is_ok());
        let e = load(dir.path(), &cfg, "v", "s", 5).unwrap_err().to_string();
        assert!(e.contains("expected 20"), "{e}");
    }
}
