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

use crate::cuda_fused::{self, Fused, Step, Update};
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
    /// Ops path: a row met n times in one batch gets min(1, cap / n) of its
    /// summed gradient (0 = plain sum).
    row_cap: f64,
    /// The fused kernel and its input pipeline (CUDA only).
    fused: Option<FusedState>,
    /// Ops path: loss summed on the device since the last read-back, and its pairs.
    loss_acc: Tensor,
    pending_pairs: u64,
    pending_blocks: u32,
}

/// Ops path on CUDA: the loss is read back (a host sync) once per this many blocks.
const LOSS_READ_EVERY: u32 = 8;
/// Fused path: blocks in flight. The host fills slot k+1 while the GPU runs
/// slot k; reusing a slot waits on its event only, never on the whole device.
const RING: usize = 4;

/// One block's buffers in the fused pipeline.
struct Slot {
    /// Pinned host ids, written by the host, copied to `dev_*` asynchronously.
    host_t: cudarc::driver::PinnedHostSlice<TokenId>,
    host_c: cudarc::driver::PinnedHostSlice<TokenId>,
    dev_t: Tensor,
    dev_c: Tensor,
    /// The block's loss sum, copied back asynchronously.
    host_loss: cudarc::driver::PinnedHostSlice<f64>,
    /// Recorded after the block's last queued operation.
    done: cudarc::driver::CudaEvent,
    /// Pairs of the block in flight (0 = none).
    pending: u64,
}

struct FusedState {
    kernel: Fused,
    /// The alias table as raw u32 thresholds and i32 aliases.
    thr: Tensor,
    alias: Tensor,
    /// One loss accumulator per slot.
    loss_dev: Tensor,
    slots: Vec<Slot>,
    next: usize,
}

impl FusedState {
    fn new(kernel: Fused, table: &AliasTable, batch: usize, device: Device) -> Result<Self> {
        let thr: Vec<i32> = table.entries.iter().map(|e| e.threshold as i32).collect();
        let al: Vec<i32> = table.entries.iter().map(|e| e.alias).collect();
        let mut slots = Vec::with_capacity(RING);
        for _ in 0..RING {
            slots.push(Slot {
                host_t: kernel.pinned(batch)?,
                host_c: kernel.pinned(batch)?,
                dev_t: Tensor::zeros([batch as i64], (Kind::Int, device)),
                dev_c: Tensor::zeros([batch as i64], (Kind::Int, device)),
                host_loss: kernel.pinned(1)?,
                done: kernel.event()?,
                pending: 0,
            });
        }
        Ok(FusedState {
            thr: Tensor::from_slice(&thr).to_device(device),
            alias: Tensor::from_slice(&al).to_device(device),
            loss_dev: Tensor::zeros([RING as i64], (Kind::Double, device)),
            kernel,
            slots,
            next: 0,
        })
    }

    /// Queues one block; returns the loss of the block that last used this
    /// slot (RING blocks ago), now complete.
    fn block(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        t: &[TokenId],
        c: &[TokenId],
        lr: f32,
        seed: u64,
    ) -> Result<(f64, u64)> {
        let k = self.next % RING;
        self.next += 1;
        let loss_ptr = self.loss_dev.data_ptr() as u64 + 8 * k as u64;
        let f = &self.kernel;
        let slot = &mut self.slots[k];
        let drv = |e: cudarc::driver::DriverError| Error::Torch(format!("CUDA driver: {e:?}"));
        slot.done.synchronize().map_err(drv)?;
        let finished = if slot.pending > 0 {
            (slot.host_loss.as_slice().map_err(drv)?[0], slot.pending)
        } else {
            (0.0, 0)
        };
        let n = t.len();
        slot.host_t.as_mut_slice().map_err(drv)?[..n].copy_from_slice(t);
        slot.host_c.as_mut_slice().map_err(drv)?[..n].copy_from_slice(c);
        let (dt, dc) = (slot.dev_t.data_ptr() as u64, slot.dev_c.data_ptr() as u64);
        // SAFETY: the device buffers hold `batch` ≥ n ids; the pinned host
        // buffers are next written only after `done` (recorded below) has
        // completed; the loss slot is one f64 of `loss_dev`.
        unsafe {
            f.h2d(dt, &slot.host_t.as_slice().map_err(drv)?[..n])?;
            f.h2d(dc, &slot.host_c.as_slice().map_err(drv)?[..n])?;
            f.zero(loss_ptr, 8)?;
            f.launch(&Step {
                input: input.data_ptr() as u64,
                output: output.data_ptr() as u64,
                targets: dt,
                contexts: dc,
                n: n as i64,
                thresholds: self.thr.data_ptr() as u64,
                aliases: self.alias.data_ptr() as u64,
                vocab: self.thr.size()[0] as u32,
                lr,
                seed,
                loss: loss_ptr,
            })?;
            f.d2h(slot.host_loss.as_mut_slice().map_err(drv)?, loss_ptr)?;
        }
        f.record(&slot.done)?;
        slot.pending = n as u64;
        Ok(finished)
    }
}

/// Default pairs per block: CPU (ops), CUDA ops, CUDA fused. The ops step
/// applies a batch's summed gradients at once; with the row cap it keeps
/// gensim's quality at 4,096 and 16,384 pairs (three seeds each), loses it
/// at 65,536 and diverges at 262,144 (BENCHMARKS.md), so ops batches stay
/// small. On CUDA 16,384 runs 2.6× faster than 4,096; on the CPU it was no
/// faster. The fused kernel applies each pair's update at once (Hogwild with
/// atomics): its batch is only a launch size.
pub const DEFAULT_BATCH: [usize; 3] = [4096, 16_384, 1 << 20];

/// Bytes of device memory a CUDA run needs.
pub fn device_memory_estimate(
    v: usize,
    dim: usize,
    batch: usize,
    negative: usize,
    ops: bool,
) -> u64 {
    let tables = 2 * v as u64 * dim as u64 * 4;
    let alias = v as u64 * 16;
    let ids = batch as u64 * 8 * 3;
    // The ops path materialises gathered rows and gradients (about 4 copies).
    let work = if ops {
        batch as u64 * (negative as u64 + 2) * dim as u64 * 4 * 4
    } else {
        0
    };
    tables + alias + ids + work + (64 << 20)
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
        let use_fused = match device {
            Device::Cuda(_) => match cfg.cuda_kernel.as_str() {
                "ops" => None,
                "hogwild" => Some(Update::Hogwild),
                _ => Some(Update::Atomic),
            }
            .filter(|_| cuda_fused::supports(cfg.dim, cfg.negative)),
            _ => None,
        };
        let batch = cfg.batch_size.unwrap_or(match (device, use_fused) {
            (Device::Cpu, _) => DEFAULT_BATCH[0],
            (_, None) => DEFAULT_BATCH[1],
            (_, Some(_)) => DEFAULT_BATCH[2],
        });
        let fused = match (device, use_fused) {
            (Device::Cuda(n), Some(update)) => {
                let f = Fused::new(n, cfg.dim, cfg.negative, update)?;
                let need = device_memory_estimate(v as usize, cfg.dim, batch, cfg.negative, false);
                check_device_memory(need)?;
                Some(FusedState::new(f, table, batch, device)?)
            }
            (Device::Cuda(_), None) => {
                let need = device_memory_estimate(v as usize, cfg.dim, batch, cfg.negative, true);
                // The driver context exists once torch has touched the device.
                let _ = Tensor::zeros([1], (Kind::Float, device));
                check_device_memory(need)?;
                None
            }
            _ => None,
        };
        Ok(TorchTrainer {
            input: Tensor::from_slice(&input).view([v, dim]).to_device(device),
            output: Tensor::from_slice(&output).view([v, dim]).to_device(device),
            prob: Tensor::from_slice(&prob).to_device(device),
            alias: Tensor::from_slice(&alias).to_device(device),
            device,
            dim,
            negative: cfg.negative as i64,
            batch,
            row_cap: cfg.row_cap as f64,
            fused,
            loss_acc: Tensor::zeros([1], (Kind::Double, device)),
            pending_pairs: 0,
            pending_blocks: 0,
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
        let grad_un = grad_un.view([b * k, self.dim]);
        let negf = neg.view([-1]);
        if self.row_cap > 0.0 {
            // Positives and negatives share the output table, so they are
            // counted together.
            let out_idx = Tensor::cat(&[c, &negf], 0);
            let grad_out = Tensor::cat(&[grad_up, grad_un], 0) * self.cap_factor(&out_idx, -lr);
            let _ = self
                .input
                .index_add_(0, t, &(grad_v * self.cap_factor(t, -lr)));
            let _ = self.output.index_add_(0, &out_idx, &grad_out);
        } else {
            let _ = self.input.index_add_(0, t, &(grad_v * (-lr)));
            let _ = self.output.index_add_(0, c, &(grad_up * (-lr)));
            let _ = self.output.index_add_(0, &negf, &(grad_un * (-lr)));
        }
        loss
    }

    /// `scale · min(1, row_cap / n)` per occurrence in `idx` (n: the row's
    /// occurrences in `idx`), as a column to multiply gradient rows by.
    fn cap_factor(&self, idx: &Tensor, scale: f64) -> Tensor {
        let v = self.input.size()[0];
        let n = idx
            .bincount(None::<Tensor>, v)
            .index_select(0, idx)
            .to_kind(Kind::Float);
        ((n.reciprocal() * self.row_cap).clamp_max(1.0) * scale).unsqueeze(1)
    }

    /// Ids to the device as int64 (ops path).
    fn upload(&self, ids: &[TokenId]) -> Tensor {
        Tensor::from_slice(ids)
            .to_device(self.device)
            .to_kind(Kind::Int64)
    }

    /// Reads the device-side loss sum back (a host sync) and clears it.
    fn read_loss(&mut self) -> (f64, u64) {
        let l = self.loss_acc.double_value(&[0]);
        let _ = self.loss_acc.zero_();
        let n = self.pending_pairs;
        (self.pending_pairs, self.pending_blocks) = (0, 0);
        (l, n)
    }
}

/// Refuses to start when the device has less free memory than `need`.
fn check_device_memory(need: u64) -> Result<()> {
    if let Ok((free, total)) = cudarc::driver::result::mem_get_info() {
        if need > free as u64 {
            return Err(Error::InvalidConfig(format!(
                "training needs about {:.1} GiB of GPU memory but {:.1} of {:.1} GiB is free; lower --batch-size, --dim or the vocabulary (--max-vocab)",
                need as f64 / (1u64 << 30) as f64,
                free as f64 / (1u64 << 30) as f64,
                total as f64 / (1u64 << 30) as f64
            )));
        }
    }
    Ok(())
}

impl Trainer for TorchTrainer {
    fn describe(&self) -> String {
        match &self.fused {
            Some(f) => format!(
                "torch {:?} {} batch {}",
                self.device, f.kernel.describe, self.batch
            ),
            None => format!(
                "torch {:?} ops batch {} row-cap {}",
                self.device, self.batch, self.row_cap
            ),
        }
    }

    fn block(&mut self, t: &[TokenId], c: &[TokenId], lr: f32, seed: u64) -> Result<(f64, u64)> {
        let _g = tch::no_grad_guard();
        if let Some(f) = &mut self.fused {
            return f.block(&self.input, &self.output, t, c, lr, seed);
        }
        tch::manual_seed((seed >> 1) as i64);
        let (ti, ci) = (self.upload(t), self.upload(c));
        let neg = self.negatives(t.len() as i64);
        let loss = self.step(&ti, &ci, &neg, lr as f64);
        let _ = self
            .loss_acc
            .g_add_(&(loss.to_kind(Kind::Double) * t.len() as f64));
        self.pending_pairs += t.len() as u64;
        self.pending_blocks += 1;
        if self.device == Device::Cpu || self.pending_blocks >= LOSS_READ_EVERY {
            return Ok(self.read_loss());
        }
        Ok((0.0, 0))
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

    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.fused.is_some() {
            return w;
        }
        if self.batch > w2v::train::OPS_BATCH_TESTED {
            w.push(format!(
                "--batch-size {} on the libtorch-ops step: above {} it lost quality or diverged at lr 0.025 on a real corpus (BENCHMARKS.md); use a smaller batch{}",
                self.batch,
                w2v::train::OPS_BATCH_TESTED,
                if self.device == Device::Cpu { " or --engine native" } else { " or the fused kernel" }
            ));
        }
        if self.row_cap == 0.0 {
            w.push("--row-cap 0 sums duplicate rows' gradients, which lost most of the quality on a real corpus (BENCHMARKS.md)".into());
        }
        w
    }
}

/// The largest elementwise difference of two equal-length slices (tests).
#[cfg(test)]
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trainer(v: usize, dim: usize, seed: u64) -> TorchTrainer {
        capped_trainer(v, dim, seed, 0.0)
    }

    fn capped_trainer(v: usize, dim: usize, seed: u64, row_cap: f32) -> TorchTrainer {
        let cfg = TrainConfig {
            dim,
            device: "cpu".into(),
            row_cap,
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
    fn row_cap_scales_only_rows_met_more_than_cap_times() {
        // Input row 1 is met 4 times, row 2 once; output row 3 is met 4
        // times (2 positives, 2 negatives), the others once.
        let t = Tensor::from_slice(&[1i64, 1, 1, 1, 2]);
        let c = Tensor::from_slice(&[3i64, 4, 3, 5, 6]);
        let neg = Tensor::from_slice(&[7i64, 3, 8, 9, 3, 10, 11, 12, 13, 14]).view([5, 2]);
        let delta = |cap: f32| {
            let mut tr = capped_trainer(20, 8, 5, cap);
            let (i0, o0) = (tr.input.copy(), tr.output.copy());
            let _ = tr.step(&t, &c, &neg, 0.1);
            (&tr.input - i0, &tr.output - o0)
        };
        let (di, dout) = delta(0.0);
        let (ci, cout) = delta(2.0);
        let diff = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        // Met 4 times with cap 2: half the summed step.
        assert!(diff(&ci.get(1), &(di.get(1) * 0.5)) < 1e-7);
        assert!(diff(&cout.get(3), &(dout.get(3) * 0.5)) < 1e-7);
        assert!(di.get(1).abs().max().double_value(&[]) > 1e-4);
        // Met once: unchanged (a non-zero update in both).
        assert!(diff(&ci.get(2), &di.get(2)) < 1e-7);
        assert!(diff(&cout.get(7), &dout.get(7)) < 1e-7);
        assert!(di.get(2).abs().max().double_value(&[]) > 1e-5);
    }

    #[test]
    fn ops_warns_only_outside_the_measured_settings() {
        let with = |batch: usize, row_cap: f32| {
            let cfg = TrainConfig {
                dim: 8,
                device: "cpu".into(),
                batch_size: Some(batch),
                row_cap,
                ..Default::default()
            };
            let (i, o) = w2v::train::init_weights(10, 8, 1);
            TorchTrainer::new(&cfg, i, o, &AliasTable::new(&[1; 10], 0.75))
                .unwrap()
                .warnings()
        };
        assert!(with(4096, w2v::train::ROW_CAP).is_empty());
        let big = with(w2v::train::OPS_BATCH_TESTED + 1, w2v::train::ROW_CAP);
        assert!(big.len() == 1 && big[0].contains("--batch-size"), "{big:?}");
        let off = with(4096, 0.0);
        assert!(off.len() == 1 && off[0].contains("--row-cap 0"), "{off:?}");
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
        let md = max_abs_diff;
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
