//! The libtorch engine (CPU or CUDA), feature `torch`. This file is compiled
//! into the `w2v-torch` binary only, so nothing else ever links libtorch.
//!
//! The SGNS gradient is computed in closed form over a batch and applied
//! with `index_add_` under `no_grad`: no autograd graph over the tables and
//! no optimizer state. For a batch of B pairs, K negatives, rows `v = in[t]`,
//! `u⁺ = out[c]`, `u⁻ = out[n]`:
//!
//! ```text
//! s⁺ = v·u⁺            g⁺ = σ(s⁺) − 1        (∂L/∂s⁺)
//! s⁻ = u⁻ v            g⁻ = σ(s⁻)            (∂L/∂s⁻, B×K)
//! in[t]  −= lr (g⁺ u⁺ + Σ_k g⁻_k u⁻_k)
//! out[c] −= lr g⁺ v
//! out[n] −= lr g⁻ v
//! ```
//!
//! Duplicate rows inside a batch get their gradients summed (mini-batch SGD,
//! not word2vec.c's sequential SGD); the batch size is the knob that keeps
//! this close to sequential SGD (see BENCHMARKS.md). Negatives are drawn on
//! the device from the alias table uploaded once, with the global generator
//! re-seeded per batch from the block seed, so CPU runs are reproducible and
//! resumable.

use tch::{Device, Kind, Tensor};

use w2v::error::{Error, Result};
use w2v::train::{TrainConfig, Trainer};
use w2v::unigram::AliasTable;
use w2v::TokenId;

/// The hooks `w2v-torch` hands to the shared application.
pub fn hooks() -> w2v::train::TorchHooks {
    w2v::train::TorchHooks {
        factory: |cfg, i, o, t| Ok(Box::new(TorchTrainer::new(cfg, i, o, t)?)),
        cuda_available: tch::Cuda::is_available,
        cuda_info: || {
            (
                tch::Cuda::is_available(),
                tch::Cuda::device_count(),
                tch::Cuda::cudnn_is_available(),
            )
        },
    }
}

/// Parses `auto|cpu|cuda|cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    Ok(match s {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        _ => match s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => Device::Cuda(n),
            None => {
                return Err(Error::InvalidConfig(format!(
                    "unknown device '{s}' (auto, cpu, cuda, cuda:N)"
                )))
            }
        },
    })
}

/// The torch trainer.
pub struct TorchTrainer {
    pub input: Tensor,
    pub output: Tensor,
    prob: Tensor,
    alias: Tensor,
    device: Device,
    dim: i64,
    negative: i64,
    batch: usize,
}

impl TorchTrainer {
    /// A trainer starting from the given weights.
    pub fn new(
        cfg: &TrainConfig,
        input: Vec<f32>,
        output: Vec<f32>,
        table: &AliasTable,
    ) -> Result<Self> {
        let device = parse_device(&cfg.device)?;
        if let Device::Cuda(n) = device {
            if !tch::Cuda::is_available() || n as i64 >= tch::Cuda::device_count() {
                return Err(Error::InvalidConfig(format!(
                    "CUDA device {n} is not usable here; run `w2v doctor`, or use --device cpu"
                )));
            }
        }
        if device == Device::Cpu && cfg.threads > 0 {
            tch::set_num_threads(cfg.threads as i32);
        }
        let dim = cfg.dim as i64;
        let v = (input.len() / cfg.dim) as i64;
        let _g = tch::no_grad_guard();
        let prob: Vec<f32> = table
            .entries
            .iter()
            .map(|e| {
                if e.threshold == u32::MAX {
                    2.0
                } else {
                    (e.threshold as f64 / 4294967296.0) as f32
                }
            })
            .collect();
        let alias: Vec<i64> = table.entries.iter().map(|e| e.alias as i64).collect();
        let batch = cfg
            .batch_size
            .unwrap_or(if device == Device::Cpu { 4096 } else { 262_144 });
        Ok(TorchTrainer {
            input: Tensor::from_slice(&input).view([v, dim]).to_device(device),
            output: Tensor::from_slice(&output).view([v, dim]).to_device(device),
            prob: Tensor::from_slice(&prob).to_device(device),
            alias: Tensor::from_slice(&alias).to_device(device),
            device,
            dim,
            negative: cfg.negative as i64,
            batch,
        })
    }

    /// Draws `b × K` negatives on the device.
    pub fn negatives(&self, b: i64) -> Tensor {
        let v = self.prob.size()[0];
        let idx = Tensor::randint(v, [b, self.negative], (Kind::Int64, self.device));
        let u = Tensor::rand([b, self.negative], (Kind::Float, self.device));
        let keep = u.lt_tensor(
            &self
                .prob
                .index_select(0, &idx.view([-1]))
                .view([b, self.negative]),
        );
        idx.where_self(
            &keep,
            &self
                .alias
                .index_select(0, &idx.view([-1]))
                .view([b, self.negative]),
        )
    }

    /// One closed-form SGD step; returns the mean loss as a 0-d tensor.
    pub fn step(&mut self, t: &Tensor, c: &Tensor, neg: &Tensor, lr: f64) -> Tensor {
        let _g = tch::no_grad_guard();
        let b = t.size()[0];
        let k = neg.size()[1];
        let v = self.input.index_select(0, t);
        let up = self.output.index_select(0, c);
        let un = self
            .output
            .index_select(0, &neg.view([-1]))
            .view([b, k, self.dim]);
        let sp = (&v * &up).sum_dim_intlist(&[1i64][..], false, Kind::Float);
        let sn = un.bmm(&v.unsqueeze(2)).squeeze_dim(2);
        let loss = -(sp.log_sigmoid()
            + (-&sn)
                .log_sigmoid()
                .sum_dim_intlist(&[1i64][..], false, Kind::Float))
        .mean(Kind::Float);
        let gp = sp.sigmoid() - 1.0;
        let gn = sn.sigmoid();
        let grad_v = gp.unsqueeze(1) * &up + gn.unsqueeze(1).bmm(&un).squeeze_dim(1);
        let grad_up = gp.unsqueeze(1) * &v;
        let grad_un = gn.unsqueeze(2) * v.unsqueeze(1);
        let _ = self.input.index_add_(0, t, &(grad_v * (-lr)));
        let _ = self.output.index_add_(0, c, &(grad_up * (-lr)));
        let _ = self.output.index_add_(
            0,
            &neg.view([-1]),
            &(grad_un.view([b * k, self.dim]) * (-lr)),
        );
        loss
    }

    fn to_device_ids(&self, ids: &[TokenId]) -> Tensor {
        Tensor::from_slice(ids)
            .to_device(self.device)
            .to_kind(Kind::Int64)
    }
}

impl Trainer for TorchTrainer {
    fn describe(&self) -> String {
        format!("torch {:?} batch {}", self.device, self.batch)
    }

    fn block(&mut self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> Result<(f64, u64)> {
        let _g = tch::no_grad_guard();
        tch::manual_seed((seed >> 1) as i64);
        let tt = self.to_device_ids(t);
        let ct = self.to_device_ids(c);
        let neg = self.negatives(t.len() as i64);
        let loss = self.step(&tt, &ct, &neg, lr as f64);
        let l = loss.double_value(&[]);
        Ok((l * t.len() as f64, t.len() as u64))
    }

    fn weights(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let get = |x: &Tensor| -> Result<Vec<f32>> {
            Vec::<f32>::try_from(&x.to_device(Device::Cpu).contiguous().view([-1]))
                .map_err(|e| Error::Torch(e.to_string()))
        };
        Ok((get(&self.input)?, get(&self.output)?))
    }

    fn block_size(&self) -> usize {
        self.batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trainer(v: usize, dim: usize, seed: u64) -> TorchTrainer {
        let cfg = TrainConfig {
            dim,
            device: "cpu".into(),
            ..Default::default()
        };
        let (i, mut o) = w2v::train::init_weights(v, dim, seed);
        // Non-zero output rows so every gradient term is exercised.
        for (k, x) in o.iter_mut().enumerate() {
            *x = ((k * 7919 % 101) as f32 / 101.0 - 0.5) * 0.2;
        }
        let table = AliasTable::new(&vec![1; v], 0.75);
        TorchTrainer::new(&cfg, i, o, &table).unwrap()
    }

    #[test]
    fn closed_form_gradient_matches_autograd() {
        let mut tr = trainer(20, 8, 3);
        let t = Tensor::from_slice(&[1i64, 2, 1, 5]);
        let c = Tensor::from_slice(&[3i64, 4, 3, 6]);
        let neg = Tensor::from_slice(&[7i64, 8, 9, 10, 11, 12, 3, 13]).view([4, 2]);
        // Autograd on copies of the tables.
        let inp = tr.input.copy().set_requires_grad(true);
        let out = tr.output.copy().set_requires_grad(true);
        let v = inp.index_select(0, &t);
        let up = out.index_select(0, &c);
        let un = out.index_select(0, &neg.view([-1])).view([4, 2, 8]);
        let sp = (&v * &up).sum_dim_intlist(&[1i64][..], false, Kind::Float);
        let sn = un.bmm(&v.unsqueeze(2)).squeeze_dim(2);
        let loss = -(sp.log_sigmoid()
            + (-&sn)
                .log_sigmoid()
                .sum_dim_intlist(&[1i64][..], false, Kind::Float))
        .sum(Kind::Float);
        loss.backward();
        let lr = 0.1;
        let want_in = inp.detach() - inp.grad() * lr;
        let want_out = out.detach() - out.grad() * lr;
        let _ = tr.step(&t, &c, &neg, lr);
        let d_in = (&tr.input - want_in).abs().max().double_value(&[]);
        let d_out = (&tr.output - want_out).abs().max().double_value(&[]);
        assert!(d_in < 1e-6 && d_out < 1e-6, "{d_in} {d_out}");
    }

    #[test]
    fn native_and_torch_agree_on_one_batch() {
        // Distinct rows in every pair make sequential SGD equal to one batch step.
        let (v, dim) = (40, 16);
        let mut tr = trainer(v, dim, 11);
        let (i0, o0) = tr.weights().unwrap();
        let cfg = TrainConfig {
            dim,
            negative: 2,
            threads: 1,
            ..Default::default()
        };
        let table = AliasTable::new(&vec![1; v], 0.75);
        let native = w2v::train::native::NativeTrainer::new(&cfg, i0, o0, table);
        let t = [0usize, 1, 2, 3];
        let c = [4usize, 5, 6, 7];
        let negs = [[8usize, 9], [10, 11], [12, 13], [14, 15]];
        let mut s = w2v::train::native::Scratch::new(dim);
        for k in 0..4 {
            native.apply_pair(t[k], c[k], &negs[k], 0.05, &mut s);
        }
        let ti = Tensor::from_slice(&t.map(|x| x as i64));
        let ci = Tensor::from_slice(&c.map(|x| x as i64));
        let ni = Tensor::from_slice(&negs.concat().iter().map(|&x| x as i64).collect::<Vec<_>>())
            .view([4, 2]);
        let _ = tr.step(&ti, &ci, &ni, 0.05);
        let (ti_w, to_w) = tr.weights().unwrap();
        let (ni_w, no_w) = native.weights().unwrap();
        let md = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max)
        };
        let (di, dout) = (md(&ti_w, &ni_w), md(&to_w, &no_w));
        assert!(
            di < 1e-6 && dout < 1e-6,
            "input diff {di}, output diff {dout}"
        );
        // And the update was not a no-op.
        assert!(md(&ti_w, &trainer(v, dim, 11).weights().unwrap().0) > 1e-4);
    }

    #[test]
    fn negatives_follow_the_alias_table() {
        let cfg = TrainConfig {
            dim: 4,
            negative: 5,
            device: "cpu".into(),
            ..Default::default()
        };
        let counts = [1000u64, 100, 10, 1];
        let table = AliasTable::new(&counts, 0.75);
        let (i, o) = w2v::train::init_weights(4, 4, 1);
        let tr = TorchTrainer::new(&cfg, i, o, &table).unwrap();
        tch::manual_seed(7);
        let neg = tr.negatives(100_000);
        let hist = Vec::<i64>::try_from(&neg.view([-1]).bincount(None::<Tensor>, 4)).unwrap();
        let want = w2v::unigram::distribution(&counts, 0.75);
        for (h, p) in hist.iter().zip(want) {
            let got = *h as f64 / 500_000.0;
            assert!((got - p).abs() < 0.005, "{got} vs {p}");
        }
    }
}
