//! The reference SGNS updates in f64 with the exact sigmoid: the statement of
//! the rule in [`super::engine`] that every engine's tests check against
//! (compiled for tests and with the `test-support` feature, which the
//! `w2v-torch` crate's tests enable).
//!
//! For a pair (centre, context): the context's input row `h` meets the
//! centre's output row (label 1) and each negative's (label 0), with
//! `g = (label − σ(h·u)) · lr`; **a negative equal to the centre is
//! skipped**.

// Index loops keep the oracle a literal transcription of the formulas.
#![allow(clippy::needless_range_loop)]

use super::engine::Weights;

/// Both tables in f64.
#[derive(Clone, Debug)]
pub struct Tables {
    /// Input rows, `V × dim`.
    pub input: Vec<f64>,
    /// Output rows, `V × dim`.
    pub output: Vec<f64>,
    /// Row width.
    pub dim: usize,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Tables {
    /// The tables of `w`, widened.
    pub fn from_weights(w: &Weights, dim: usize) -> Self {
        Tables {
            input: w.input.iter().map(|&x| x as f64).collect(),
            output: w.output.iter().map(|&x| x as f64).collect(),
            dim,
        }
    }

    fn row(v: &[f64], r: usize, d: usize) -> Vec<f64> {
        v[r * d..(r + 1) * d].to_vec()
    }

    /// word2vec.c's sequential update of one pair: each output row is
    /// updated as it is met (a negative drawn twice sees its first update),
    /// the input row once at the end. Returns the pair's loss.
    pub fn pair(&mut self, centre: usize, context: usize, negs: &[usize], lr: f64) -> f64 {
        let d = self.dim;
        let h = Self::row(&self.input, context, d);
        let mut e = vec![0.0; d];
        let mut loss = 0.0;
        let outs = std::iter::once((centre, 1.0)).chain(negs.iter().map(|&n| (n, 0.0)));
        for (k, (o, label)) in outs.enumerate() {
            if k > 0 && o == centre {
                continue; // the rule: a negative equal to the centre is skipped
            }
            let u = Self::row(&self.output, o, d);
            let sg = sigmoid(dot(&h, &u));
            loss -= if label > 0.5 { sg } else { 1.0 - sg }.ln();
            let g = (label - sg) * lr;
            for j in 0..d {
                e[j] += g * u[j];
                self.output[o * d + j] += g * h[j];
            }
        }
        for j in 0..d {
            self.input[context * d + j] += e[j];
        }
        loss
    }

    /// pWord2Vec's window update: the centre's contexts in order, each input
    /// row updated at once (a context met twice sees its first update), the
    /// output rows read before the window and their summed updates applied
    /// after it (a negative drawn twice gets both). Returns the loss.
    pub fn window(&mut self, centre: usize, contexts: &[usize], negs: &[usize], lr: f64) -> f64 {
        let d = self.dim;
        let out0 = self.output.clone();
        let mut loss = 0.0;
        let outs: Vec<(usize, f64)> = std::iter::once((centre, 1.0))
            .chain(negs.iter().filter(|&&n| n != centre).map(|&n| (n, 0.0)))
            .collect();
        for &c in contexts {
            let h = Self::row(&self.input, c, d);
            for &(o, label) in &outs {
                let u = Self::row(&out0, o, d);
                let sg = sigmoid(dot(&h, &u));
                loss -= if label > 0.5 { sg } else { 1.0 - sg }.ln();
                let g = (label - sg) * lr;
                for j in 0..d {
                    self.input[c * d + j] += g * u[j];
                    self.output[o * d + j] += g * h[j];
                }
            }
        }
        loss
    }

    /// The subword window as fastText's skipgram runs it (fastText's roles,
    /// `native.rs` module docs), pair by pair: for each context, the centre's
    /// input `h` is composed afresh as the mean of `input[centre]` and
    /// `input[v + g]` for g in `grams`; the context is an output (label 1)
    /// against its own `negs.len() / contexts.len()` negatives (one equal to
    /// the context is skipped), output rows updated as met; the pair's input
    /// gradient is then added to every averaged row (a bucket listed twice
    /// gets it twice). Returns the loss.
    pub fn subword_window(
        &mut self,
        centre: usize,
        grams: &[usize],
        v: usize,
        contexts: &[usize],
        negs: &[usize],
        lr: f64,
    ) -> f64 {
        let d = self.dim;
        let rows: Vec<usize> = std::iter::once(centre)
            .chain(grams.iter().map(|&g| v + g))
            .collect();
        let k = negs.len() / contexts.len();
        let mut loss = 0.0;
        for (i, &c) in contexts.iter().enumerate() {
            let mut h = vec![0.0; d];
            for &r in &rows {
                for j in 0..d {
                    h[j] += self.input[r * d + j] / rows.len() as f64;
                }
            }
            let outs = std::iter::once((c, 1.0)).chain(
                negs[i * k..(i + 1) * k]
                    .iter()
                    .filter(|&&n| n != c) // the rule, with the context as the output
                    .map(|&n| (n, 0.0)),
            );
            let mut e = vec![0.0; d];
            for (o, label) in outs {
                let u = Self::row(&self.output, o, d);
                let sg = sigmoid(dot(&h, &u));
                loss -= if label > 0.5 { sg } else { 1.0 - sg }.ln();
                let g = (label - sg) * lr;
                for j in 0..d {
                    e[j] += g * u[j];
                    self.output[o * d + j] += g * h[j];
                }
            }
            for &r in &rows {
                for j in 0..d {
                    self.input[r * d + j] += e[j];
                }
            }
        }
        loss
    }

    /// The largest difference from `w`'s tables.
    pub fn max_diff(&self, w: &Weights) -> f64 {
        let m = |a: &[f64], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, &y)| (x - y as f64).abs())
                .fold(0.0, f64::max)
        };
        m(&self.input, &w.input).max(m(&self.output, &w.output))
    }
}

/// Weights with non-zero output rows, so every gradient term is exercised.
pub fn test_weights(vocab: usize, dim: usize, seed: u64) -> Weights {
    let mut w = Weights::init(vocab, dim, seed);
    for (k, x) in w.output.iter_mut().enumerate() {
        *x = ((k * 7919 % 101) as f32 / 101.0 - 0.5) * 0.4;
    }
    w
}

/// synth → prep in `dir` (about `bytes` of text); returns the corpus path.
pub fn test_corpus(dir: &std::path::Path, bytes: u64) -> crate::Result<std::path::PathBuf> {
    let text = dir.join("sample.txt");
    crate::synth::generate(&crate::synth::SynthConfig {
        out: text.clone(),
        seed: 3,
        bytes,
        ..Default::default()
    })?;
    let corpus = dir.join("corpus.txt");
    crate::prep::run(
        &crate::prep::PrepConfig {
            inputs: vec![text],
            output: corpus.clone(),
            ..Default::default()
        },
        &crate::progress::Progress::silent(),
    )?;
    Ok(corpus)
}

/// synth → prep → pairs in `dir` (about `bytes` of text, `draws` draws of
/// pairs in shards of 100k pairs); returns a train config reading them and
/// writing `dir/model`.
pub fn test_shards(
    dir: &std::path::Path,
    bytes: u64,
    draws: u32,
) -> crate::Result<super::TrainConfig> {
    let p = crate::progress::Progress::silent();
    let corpus = test_corpus(dir, bytes)?;
    let shards_dir = dir.join("shards");
    crate::pairs::run(
        &crate::pairs::PairsConfig {
            vocab: crate::vocab::VocabConfig {
                corpus,
                vocab_dir: dir.join("vocab"),
                ..Default::default()
            },
            shards_dir: shards_dir.clone(),
            epochs: draws,
            shard_size: 100_000,
            ..Default::default()
        },
        &p,
    )?;
    Ok(super::TrainConfig {
        shards_dir,
        vocab_dir: Some(dir.join("vocab")),
        output: dir.join("model"),
        dim: 16,
        epochs: draws,
        checkpoint_every_secs: 0,
        ..Default::default()
    })
}
