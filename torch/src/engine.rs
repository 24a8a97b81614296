//! The libtorch engine (CPU or CUDA): [`TorchEngine`] implements
//! `w2v::train::Engine`.
//!
//! Two steps:
//! - **ops** (the CPU, and `--cuda-kernel ops`): the SGNS gradient in closed
//!   form over a batch, applied with `index_add_` under `no_grad`: no
//!   autograd graph over the tables and no optimizer state. With the shared
//!   roles (`w2v::train::engine`: the context's input row `v = in[c]`
//!   against the centre's output row `u⁺ = out[t]` and negatives `u⁻ = out[n]`):
//!
//!   ```text
//!   s⁺ = v·u⁺            g⁺ = σ(s⁺) − 1        (∂L/∂s⁺)
//!   s⁻ = u⁻ v            g⁻ = σ(s⁻) · [n ≠ t]  (∂L/∂s⁻, B×K; a negative
//!                                              equal to the centre is skipped)
//!   in[c]  −= lr (g⁺ u⁺ + Σ_k g⁻_k u⁻_k)
//!   out[t] −= lr g⁺ v
//!   out[n] −= lr g⁻ v
//!   ```
//!
//!   Duplicate rows inside a batch get their gradients summed (mini-batch
//!   SGD, not word2vec.c's sequential SGD); the row cap and the batch size
//!   keep this close to sequential SGD (BENCHMARKS.md). Negatives are drawn
//!   on the device from the alias table uploaded once, with the global
//!   generator re-seeded per batch from the block seed, so CPU runs are
//!   reproducible and resumable.
//! - **fused** (CUDA): one kernel per block ([`crate::cuda_fused`]), fed
//!   through a ring of pinned buffers.
//!
//! Every libtorch call uses the fallible `f_*` form: an out-of-memory on the
//! device is an `Error::Torch` with advice, never a panic. The loss stays on
//! the device until `drain_loss`, which waits for the blocks in flight.

use tch::{Device, Kind, TchError, Tensor};

use crate::cuda_fused::{Fused, Step, StreamStep, Update};
use w2v::error::{Error, Result};
use w2v::train::{
    Block, CudaStep, Engine, LossSum, TokenBlock, TorchConfig, TrainConfig, Weights,
    OPS_BATCH_TESTED,
};
use w2v::unigram::AliasTable;
use w2v::TokenId;

/// A libtorch error as `Error::Torch`, with advice for an out-of-memory.
pub fn torch_err(e: TchError) -> Error {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or("").to_string();
    if msg.contains("out of memory") {
        Error::Torch(format!(
            "{first}: the device is out of memory; lower --batch-size or --dim, shrink the vocabulary (--max-vocab), or use --engine native"
        ))
    } else {
        Error::Torch(first)
    }
}

/// `r` with its libtorch error mapped by [`torch_err`].
pub fn tt<T>(r: std::result::Result<T, TchError>) -> Result<T> {
    r.map_err(torch_err)
}

/// The tch device of a w2v device.
pub fn tch_device(d: w2v::train::Device) -> Device {
    match d {
        w2v::train::Device::Cpu => Device::Cpu,
        w2v::train::Device::Cuda(n) => Device::Cuda(n),
    }
}

/// The torch engine.
pub struct TorchEngine {
    /// Input table, `V × dim`.
    pub input: Tensor,
    /// Output table, `V × dim`.
    pub output: Tensor,
    prob: Tensor,
    alias: Tensor,
    device: Device,
    dim: i64,
    negative: i64,
    batch: usize,
    /// Ops step: a row met n times in one batch gets min(1, cap / n) of its
    /// summed gradient (0 = plain sum).
    row_cap: f64,
    /// The fused kernel and its input pipeline (CUDA only).
    fused: Option<FusedState>,
    /// Ops step: the loss summed on the device since the last drain, and its pairs.
    loss_acc: Tensor,
    pending_pairs: u64,
}

/// Fused path: blocks in flight. The host fills slot k+1 while the GPU runs
/// slot k; reusing a slot waits on its event only, never on the whole device.
const RING: usize = 4;

/// One block's buffers in the fused pipeline.
struct Slot {
    /// Pinned host ids, written by the host, copied to `dev_*` asynchronously.
    host_in: cudarc::driver::PinnedHostSlice<TokenId>,
    host_out: cudarc::driver::PinnedHostSlice<TokenId>,
    dev_in: Tensor,
    dev_out: Tensor,
    /// Recorded after the block's last queued operation.
    done: cudarc::driver::CudaEvent,
}

struct FusedState {
    kernel: Fused,
    /// The alias table as raw u32 thresholds and i32 aliases.
    thr: Tensor,
    alias: Tensor,
    /// The loss summed on the device since the last drain (one f64).
    loss_dev: Tensor,
    /// Pairs behind `loss_dev`.
    pending_pairs: u64,
    slots: Vec<Slot>,
    next: usize,
    /// The stream path ([`Engine::tokens`]): chunks of ids in flight.
    tokens: Vec<TokenSlot>,
    next_tokens: usize,
    /// Keep probabilities on the device (uploaded with the first chunk).
    keep: Option<Tensor>,
    /// Pairs the stream kernel trained since the last drain (one u64), and
    /// its flag for an id outside the vocabulary (one i32).
    pairs_dev: Tensor,
    bad_dev: Tensor,
    /// The file the token chunks come from (for errors).
    source: std::path::PathBuf,
}

/// One chunk of token ids in the stream pipeline (grown to the largest chunk).
struct TokenSlot {
    host: cudarc::driver::PinnedHostSlice<TokenId>,
    dev: Tensor,
    done: cudarc::driver::CudaEvent,
}

fn drv(e: cudarc::driver::DriverError) -> Error {
    Error::Torch(format!("CUDA driver: {e:?}"))
}

impl FusedState {
    fn new(kernel: Fused, table: &AliasTable, batch: usize, device: Device) -> Result<Self> {
        let thr: Vec<i32> = table.entries.iter().map(|e| e.threshold as i32).collect();
        let al: Vec<i32> = table.entries.iter().map(|e| e.alias).collect();
        let mut slots = Vec::with_capacity(RING);
        for _ in 0..RING {
            slots.push(Slot {
                host_in: kernel.pinned(batch)?,
                host_out: kernel.pinned(batch)?,
                dev_in: tt(Tensor::f_zeros([batch as i64], (Kind::Int, device)))?,
                dev_out: tt(Tensor::f_zeros([batch as i64], (Kind::Int, device)))?,
                done: kernel.event()?,
            });
        }
        Ok(FusedState {
            thr: tt(tt(Tensor::f_from_slice(&thr))?.f_to_device(device))?,
            alias: tt(tt(Tensor::f_from_slice(&al))?.f_to_device(device))?,
            loss_dev: tt(Tensor::f_zeros([1], (Kind::Double, device)))?,
            pending_pairs: 0,
            pairs_dev: tt(Tensor::f_zeros([1], (Kind::Int64, device)))?,
            bad_dev: tt(Tensor::f_zeros([1], (Kind::Int, device)))?,
            kernel,
            slots,
            next: 0,
            tokens: Vec::new(),
            next_tokens: 0,
            keep: None,
            source: std::path::PathBuf::new(),
        })
    }

    /// Queues one chunk of tokens: the stream kernel draws and trains its
    /// pairs on the device.
    fn tokens(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        b: &TokenBlock<'_>,
        device: Device,
    ) -> Result<()> {
        let v = self.thr.size()[0] as usize;
        if b.keep.len() != v {
            return Err(Error::InvalidConfig(format!(
                "the stream's keep table has {} words, the vocabulary {v} (a bug)",
                b.keep.len()
            )));
        }
        if self.keep.is_none() {
            self.source = b.source.to_path_buf();
            self.keep = Some(tt(tt(Tensor::f_from_slice(b.keep))?.f_to_device(device))?);
        }
        let n = b.ids.len();
        if self.tokens.len() < RING {
            self.tokens.push(TokenSlot {
                host: self.kernel.pinned(n)?,
                dev: tt(Tensor::f_zeros([n.max(1) as i64], (Kind::Int, device)))?,
                done: self.kernel.event()?,
            });
        }
        let k = self.next_tokens % RING;
        self.next_tokens += 1;
        let slot = &mut self.tokens[k];
        // The slot's previous chunk must be done before its buffers are reused.
        slot.done.synchronize().map_err(drv)?;
        if slot.host.len() < n {
            slot.host = self.kernel.pinned(n)?;
            slot.dev = tt(Tensor::f_zeros([n as i64], (Kind::Int, device)))?;
        }
        slot.host.as_mut_slice().map_err(drv)?[..n].copy_from_slice(b.ids);
        let f = &self.kernel;
        let dev = slot.dev.data_ptr() as u64;
        let keep = self.keep.as_ref().map_or(0, |t| t.data_ptr() as u64);
        // SAFETY: `dev` holds ≥ n i32 and the pinned host buffer ≥ n ids,
        // next written only after `done` (recorded below) has completed; the
        // tables are live V×dim f32 tensors on this device, `keep` V f32,
        // `thr`/`alias` V entries, `loss_dev` one f64, `pairs_dev` one i64
        // and `bad_dev` one i32, all living as long as `self`; lo..hi = 0..n.
        // The kernel checks every id below V before it indexes anything.
        unsafe {
            f.h2d(dev, &slot.host.as_slice().map_err(drv)?[..n])?;
            f.launch_stream(&StreamStep {
                input: input.data_ptr() as u64,
                output: output.data_ptr() as u64,
                ids: dev,
                n: n as i64,
                lo: 0,
                hi: n as i64,
                keep,
                window: b.window as i32,
                dynamic: b.dynamic_window,
                thresholds: self.thr.data_ptr() as u64,
                aliases: self.alias.data_ptr() as u64,
                vocab: v as u32,
                lr0: b.lr_start,
                lr1: b.lr_end,
                seed: b.seed,
                loss: self.loss_dev.data_ptr() as u64,
                pairs: self.pairs_dev.data_ptr() as u64,
                bad: self.bad_dev.data_ptr() as u64,
            })?;
        }
        f.record(&slot.done)?;
        Ok(())
    }

    /// Queues one block (the ids already checked against the vocabulary by
    /// the driver): contexts as the input rows, centres as the output rows.
    fn block(&mut self, input: &Tensor, output: &Tensor, b: &Block<'_>) -> Result<()> {
        let k = self.next % RING;
        self.next += 1;
        let loss_ptr = self.loss_dev.data_ptr() as u64;
        let f = &self.kernel;
        let slot = &mut self.slots[k];
        // The slot's previous block must be done before its buffers are reused.
        slot.done.synchronize().map_err(drv)?;
        let n = b.centres.len();
        slot.host_in.as_mut_slice().map_err(drv)?[..n].copy_from_slice(b.contexts);
        slot.host_out.as_mut_slice().map_err(drv)?[..n].copy_from_slice(b.centres);
        let (di, dout) = (
            slot.dev_in.data_ptr() as u64,
            slot.dev_out.data_ptr() as u64,
        );
        // SAFETY: `dev_in`/`dev_out` hold `batch` ≥ n i32 ids and the pinned
        // host buffers `batch` ids; the host buffers are next written only
        // after `done` (recorded below, after the copies) has completed; the
        // tables are live V×dim f32 tensors on this device, `thr`/`alias`
        // hold V entries, every id was checked below V by the driver, and
        // `loss_dev` is one f64 that lives as long as `self`.
        unsafe {
            f.h2d(di, &slot.host_in.as_slice().map_err(drv)?[..n])?;
            f.h2d(dout, &slot.host_out.as_slice().map_err(drv)?[..n])?;
            f.launch(&Step {
                input: input.data_ptr() as u64,
                output: output.data_ptr() as u64,
                in_ids: di,
                out_ids: dout,
                n: n as i64,
                thresholds: self.thr.data_ptr() as u64,
                aliases: self.alias.data_ptr() as u64,
                vocab: self.thr.size()[0] as u32,
                lr: b.lr,
                seed: b.seed,
                loss: loss_ptr,
            })?;
        }
        f.record(&slot.done)?;
        self.pending_pairs += n as u64;
        Ok(())
    }

    /// Waits for every queued block and reads the loss sum back.
    fn drain(&mut self) -> Result<LossSum> {
        for s in &self.slots {
            s.done.synchronize().map_err(drv)?;
        }
        for s in &self.tokens {
            s.done.synchronize().map_err(drv)?;
        }
        if tt(self.bad_dev.f_int64_value(&[0]))? != 0 {
            return Err(Error::InvalidInput {
                path: self.source.clone(),
                message: "holds an id outside the vocabulary (found by the CUDA stream kernel); the file is corrupt, re-run `w2v vocab`".into(),
            });
        }
        let sum = tt(self.loss_dev.f_double_value(&[0]))?;
        let _ = tt(self.loss_dev.f_zero_())?;
        let drawn = tt(self.pairs_dev.f_int64_value(&[0]))? as u64;
        let _ = tt(self.pairs_dev.f_zero_())?;
        let count = std::mem::take(&mut self.pending_pairs) + drawn;
        Ok(LossSum { sum, count })
    }
}

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
    let ids = batch as u64 * 8 * RING as u64;
    // The ops path materialises gathered rows and gradients (about 4 copies).
    let work = if ops {
        batch as u64 * (negative as u64 + 2) * dim as u64 * 4 * 4
    } else {
        0
    };
    tables + alias + ids + work + (64 << 20)
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

impl TorchEngine {
    /// An engine for `t` starting from `w`, drawing negatives from `table`.
    pub fn new(cfg: &TrainConfig, t: &TorchConfig, w: Weights, table: &AliasTable) -> Result<Self> {
        let device = tch_device(t.device);
        if let Device::Cuda(n) = device {
            if !tch::Cuda::is_available() || n as i64 >= tch::Cuda::device_count() {
                return Err(Error::InvalidConfig(format!(
                    "CUDA device {n} is not usable here; run `w2v doctor`, or use --device cpu"
                )));
            }
        }
        if device == Device::Cpu {
            tch::set_num_threads(t.threads as i32);
        }
        let dim = cfg.dim as i64;
        let v = (w.input.len() / cfg.dim) as i64;
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
        let fused_update = match t.effective_step() {
            CudaStep::Ops => None,
            CudaStep::Hogwild => Some(Update::Hogwild),
            CudaStep::Fused => Some(Update::Atomic),
        };
        let fused = match (device, fused_update) {
            (Device::Cuda(n), Some(update)) => {
                let f = Fused::new(n, cfg.dim, cfg.negative, update)?;
                check_device_memory(device_memory_estimate(
                    v as usize,
                    cfg.dim,
                    t.batch,
                    cfg.negative,
                    false,
                ))?;
                Some(FusedState::new(f, table, t.batch, device)?)
            }
            (Device::Cuda(_), None) => {
                // The driver context exists once torch has touched the device.
                let _ = tt(Tensor::f_zeros([1], (Kind::Float, device)))?;
                check_device_memory(device_memory_estimate(
                    v as usize,
                    cfg.dim,
                    t.batch,
                    cfg.negative,
                    true,
                ))?;
                None
            }
            _ => None,
        };
        let up = |x: &[f32]| -> Result<Tensor> {
            tt(tt(tt(Tensor::f_from_slice(x))?.f_view([v, dim]))?.f_to_device(device))
        };
        Ok(TorchEngine {
            input: up(&w.input)?,
            output: up(&w.output)?,
            prob: tt(tt(Tensor::f_from_slice(&prob))?.f_to_device(device))?,
            alias: tt(tt(Tensor::f_from_slice(&alias))?.f_to_device(device))?,
            device,
            dim,
            negative: cfg.negative as i64,
            batch: t.batch,
            row_cap: t.row_cap as f64,
            fused,
            loss_acc: tt(Tensor::f_zeros([1], (Kind::Double, device)))?,
            pending_pairs: 0,
        })
    }

    /// Draws `b × K` negatives on the device.
    pub fn negatives(&self, b: i64) -> Result<Tensor> {
        let v = self.prob.size()[0];
        let k = self.negative;
        let idx = tt(Tensor::f_randint(v, [b, k], (Kind::Int64, self.device)))?;
        let u = tt(Tensor::f_rand([b, k], (Kind::Float, self.device)))?;
        let flat = tt(idx.f_view([-1]))?;
        let p = tt(tt(self.prob.f_index_select(0, &flat))?.f_view([b, k]))?;
        let keep = tt(u.f_lt_tensor(&p))?;
        let alias = tt(tt(self.alias.f_index_select(0, &flat))?.f_view([b, k]))?;
        tt(idx.f_where_self(&keep, &alias))
    }

    /// One closed-form SGD step on int64 ids: `inp` the input rows (the
    /// contexts), `centre` the positive output rows, `neg` B×K negatives.
    /// Returns the summed loss as a 0-d f64 tensor (negatives equal to the
    /// centre add neither loss nor update).
    pub fn step(&mut self, inp: &Tensor, centre: &Tensor, neg: &Tensor, lr: f64) -> Result<Tensor> {
        let _g = tch::no_grad_guard();
        let b = inp.size()[0];
        let k = neg.size()[1];
        let negf = tt(neg.f_view([-1]))?;
        let v = tt(self.input.f_index_select(0, inp))?;
        let up = tt(self.output.f_index_select(0, centre))?;
        let un = tt(tt(self.output.f_index_select(0, &negf))?.f_view([b, k, self.dim]))?;
        // 1 where a negative counts, 0 where it equals the centre.
        let live = tt(tt(neg.f_ne_tensor(&tt(centre.f_unsqueeze(1))?))?.f_to_kind(Kind::Float))?;
        let sp = tt(tt(v.f_mul(&up))?.f_sum_dim_intlist(&[1i64][..], false, Kind::Float))?;
        let sn = tt(tt(un.f_bmm(&tt(v.f_unsqueeze(2))?))?.f_squeeze_dim(2))?;
        let neg_loss = tt(tt(tt(sn.f_neg())?.f_log_sigmoid())?.f_mul(&live))?;
        let loss = tt(tt(
            tt(sp.f_log_sigmoid())?.f_add(&tt(neg_loss.f_sum_dim_intlist(
                &[1i64][..],
                false,
                Kind::Float,
            ))?),
        )?
        .f_sum(Kind::Double))?;
        let loss = tt(loss.f_neg())?;
        let gp = tt(tt(sp.f_sigmoid())?.f_add_scalar(-1.0))?;
        let gn = tt(tt(sn.f_sigmoid())?.f_mul(&live))?;
        let grad_v =
            tt(tt(tt(gp.f_unsqueeze(1))?.f_mul(&up))?
                .f_add(&tt(tt(tt(gn.f_unsqueeze(1))?.f_bmm(&un))?.f_squeeze_dim(1))?))?;
        let grad_up = tt(tt(gp.f_unsqueeze(1))?.f_mul(&v))?;
        let grad_un = tt(
            tt(tt(gn.f_unsqueeze(2))?.f_mul(&tt(v.f_unsqueeze(1))?))?.f_view([b * k, self.dim])
        )?;
        if self.row_cap > 0.0 {
            // Positives and negatives share the output table, so they are
            // counted together.
            let out_idx = tt(Tensor::f_cat(&[centre, &negf], 0))?;
            let grad_out =
                tt(tt(Tensor::f_cat(&[grad_up, grad_un], 0))?
                    .f_mul(&self.cap_factor(&out_idx, -lr)?))?;
            let gin = tt(grad_v.f_mul(&self.cap_factor(inp, -lr)?))?;
            let _ = tt(self.input.f_index_add_(0, inp, &gin))?;
            let _ = tt(self.output.f_index_add_(0, &out_idx, &grad_out))?;
        } else {
            let _ = tt(self
                .input
                .f_index_add_(0, inp, &tt(grad_v.f_mul_scalar(-lr))?))?;
            let _ = tt(self
                .output
                .f_index_add_(0, centre, &tt(grad_up.f_mul_scalar(-lr))?))?;
            let _ = tt(self
                .output
                .f_index_add_(0, &negf, &tt(grad_un.f_mul_scalar(-lr))?))?;
        }
        Ok(loss)
    }

    /// `scale · min(1, row_cap / n)` per occurrence in `idx` (n: the row's
    /// occurrences in `idx`), as a column to multiply gradient rows by.
    fn cap_factor(&self, idx: &Tensor, scale: f64) -> Result<Tensor> {
        let v = self.input.size()[0];
        let n = tt(
            tt(tt(idx.f_bincount(None::<Tensor>, v))?.f_index_select(0, idx))?
                .f_to_kind(Kind::Float),
        )?;
        let f = tt(tt(tt(n.f_reciprocal())?.f_mul_scalar(self.row_cap))?.f_clamp_max(1.0))?;
        tt(tt(f.f_mul_scalar(scale))?.f_unsqueeze(1))
    }

    /// Ids to the device as int64 (ops path).
    fn upload(&self, ids: &[TokenId]) -> Result<Tensor> {
        tt(tt(tt(Tensor::f_from_slice(ids))?.f_to_device(self.device))?.f_to_kind(Kind::Int64))
    }
}

impl Engine for TorchEngine {
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

    fn block_size(&self) -> usize {
        self.batch
    }

    fn block(&mut self, b: Block<'_>) -> Result<()> {
        let _g = tch::no_grad_guard();
        if let Some(f) = &mut self.fused {
            return f.block(&self.input, &self.output, &b);
        }
        tch::manual_seed((b.seed >> 1) as i64);
        let (inp, centre) = (self.upload(b.contexts)?, self.upload(b.centres)?);
        let neg = self.negatives(b.centres.len() as i64)?;
        let loss = self.step(&inp, &centre, &neg, b.lr as f64)?;
        let _ = tt(self.loss_acc.f_add_(&loss))?;
        self.pending_pairs += b.centres.len() as u64;
        Ok(())
    }

    fn drain_loss(&mut self) -> Result<LossSum> {
        if let Some(f) = &mut self.fused {
            return f.drain();
        }
        let sum = tt(self.loss_acc.f_double_value(&[0]))?;
        let _ = tt(self.loss_acc.f_zero_())?;
        Ok(LossSum {
            sum,
            count: std::mem::take(&mut self.pending_pairs),
        })
    }

    fn weights(&mut self) -> Result<Weights> {
        let get = |x: &Tensor| -> Result<Vec<f32>> {
            let flat = tt(tt(tt(x.f_to_device(Device::Cpu))?.f_contiguous())?.f_view([-1]))?;
            tt(Vec::<f32>::try_from(&flat))
        };
        Ok(Weights {
            input: get(&self.input)?,
            output: get(&self.output)?,
        })
    }

    fn draws_pairs(&self) -> bool {
        self.fused.is_some()
    }

    fn tokens(&mut self, b: TokenBlock<'_>) -> Result<()> {
        let _g = tch::no_grad_guard();
        let device = self.device;
        match &mut self.fused {
            Some(f) => f.tokens(&self.input, &self.output, &b, device),
            None => Err(Error::InvalidConfig(
                "only the fused CUDA kernel draws pairs from tokens".into(),
            )),
        }
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.fused.is_some() {
            return w;
        }
        if self.batch > OPS_BATCH_TESTED {
            w.push(format!(
                "--batch-size {} on the libtorch-ops step: above {} it lost quality or diverged at lr 0.025 on a real corpus (BENCHMARKS.md); use a smaller batch{}",
                self.batch,
                OPS_BATCH_TESTED,
                if self.device == Device::Cpu { " or --engine native" } else { " or the fused kernel" }
            ));
        }
        if self.row_cap == 0.0 {
            w.push("--row-cap 0 sums duplicate rows' gradients, which lost most of the quality on a real corpus (BENCHMARKS.md)".into());
        }
        w
    }
}

/// Builds the engine a resolved config names: torch here, native through
/// `NativeBuilder` (so `w2v-torch` runs any config it is handed).
pub struct TorchBuilder;

impl w2v::train::EngineBuilder for TorchBuilder {
    fn build(
        &self,
        cfg: &TrainConfig,
        weights: Weights,
        table: &AliasTable,
    ) -> Result<Box<dyn Engine>> {
        match &cfg.engine {
            w2v::train::EngineConfig::Torch(t) => {
                if matches!(t.device, w2v::train::Device::Cuda(_))
                    && t.effective_step() != CudaStep::Ops
                    && !w2v::train::config::fused_supports(cfg.dim, cfg.negative)
                {
                    return Err(Error::InvalidConfig(format!(
                        "the fused CUDA kernel holds (negatives + 1) × dim ≤ {} floats per warp; --dim {} with --negative {} needs --cuda-kernel ops",
                        w2v::train::config::FUSED_MAX_ROW_FLOATS,
                        cfg.dim,
                        cfg.negative
                    )));
                }
                Ok(Box::new(TorchEngine::new(cfg, t, weights, table)?))
            }
            _ => w2v::train::NativeBuilder.build(cfg, weights, table),
        }
    }

    fn libtorch(&self) -> Option<String> {
        crate::libtorch_version()
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
    use w2v::train::oracle::{test_weights, Tables};
    use w2v::train::{Device as WDevice, EngineConfig};

    fn cpu_cfg(dim: usize, negative: usize, row_cap: f32, batch: usize) -> TrainConfig {
        let mut t = TorchConfig::on(WDevice::Cpu);
        t.row_cap = row_cap;
        t.batch = batch;
        t.threads = 1;
        TrainConfig {
            dim,
            negative,
            engine: EngineConfig::Torch(t),
            ..Default::default()
        }
    }

    fn engine_with(
        v: usize,
        dim: usize,
        negative: usize,
        row_cap: f32,
        batch: usize,
    ) -> TorchEngine {
        let cfg = cpu_cfg(dim, negative, row_cap, batch);
        let EngineConfig::Torch(t) = &cfg.engine else {
            unreachable!()
        };
        let table = AliasTable::new(&vec![1; v], 0.75);
        TorchEngine::new(&cfg, t, test_weights(v, dim, 3), &table).unwrap()
    }

    fn ids(x: &[i64]) -> Tensor {
        Tensor::from_slice(x)
    }

    #[test]
    fn closed_form_gradient_matches_autograd_with_the_collision_masked() {
        let mut tr = engine_with(20, 8, 2, 0.0, 4096);
        let inp = ids(&[1, 2, 1, 5]);
        let centre = ids(&[3, 4, 3, 6]);
        // Pair 2's second negative equals its centre (3): masked out.
        let neg = ids(&[7, 8, 9, 10, 11, 3, 12, 13]).view([4, 2]);
        let live = Tensor::from_slice(&[1f32, 1., 1., 1., 1., 0., 1., 1.]).view([4, 2]);
        let w_in = tr.input.copy().set_requires_grad(true);
        let w_out = tr.output.copy().set_requires_grad(true);
        let v = w_in.index_select(0, &inp);
        let up = w_out.index_select(0, &centre);
        let un = w_out.index_select(0, &neg.view([-1])).view([4, 2, 8]);
        let sp = (&v * &up).sum_dim_intlist(&[1i64][..], false, Kind::Float);
        let sn = un.bmm(&v.unsqueeze(2)).squeeze_dim(2);
        let loss = -(sp.log_sigmoid()
            + ((-&sn).log_sigmoid() * &live).sum_dim_intlist(&[1i64][..], false, Kind::Float))
        .sum(Kind::Float);
        loss.backward();
        let lr = 0.1;
        let want_in = w_in.detach() - w_in.grad() * lr;
        let want_out = w_out.detach() - w_out.grad() * lr;
        let got_loss = tr.step(&inp, &centre, &neg, lr).unwrap().double_value(&[]);
        let d_in = (&tr.input - want_in).abs().max().double_value(&[]);
        let d_out = (&tr.output - want_out).abs().max().double_value(&[]);
        assert!(d_in < 1e-6 && d_out < 1e-6, "{d_in} {d_out}");
        assert!((got_loss - loss.double_value(&[])).abs() < 1e-5);
    }

    #[test]
    fn ops_step_matches_the_oracle_and_skips_a_negative_equal_to_the_centre() {
        // Distinct rows across the batch make one batch step equal to
        // sequential SGD, so the oracle applies pair by pair.
        let (v, dim, lr) = (40, 16, 0.05);
        let mut tr = engine_with(v, dim, 2, 0.0, 4096);
        let w0 = tr.weights().unwrap();
        let centres = [0usize, 1, 2, 3];
        let contexts = [4usize, 5, 6, 7];
        // Pair 1's first negative is its centre.
        let negs = [[8usize, 9], [1, 11], [12, 13], [14, 15]];
        let mut want = Tables::from_weights(&w0, dim);
        let mut want_loss = 0.0;
        for k in 0..4 {
            want_loss += want.pair(centres[k], contexts[k], &negs[k], lr);
        }
        let as_t = |x: &[usize]| ids(&x.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let loss = tr
            .step(
                &as_t(&contexts),
                &as_t(&centres),
                &as_t(&negs.concat()).view([4, 2]),
                lr,
            )
            .unwrap()
            .double_value(&[]);
        let got = tr.weights().unwrap();
        assert!(want.max_diff(&got) < 1e-6, "{}", want.max_diff(&got));
        assert!((loss - want_loss).abs() < 1e-4, "{loss} vs {want_loss}");
        assert!(max_abs_diff(&got.input, &w0.input) > 1e-4);
    }

    #[test]
    fn a_libtorch_failure_is_an_error_not_a_panic() {
        // Id 99 is outside the 20-row tables: index_select fails inside libtorch.
        let mut tr = engine_with(20, 8, 2, 64.0, 4096);
        let e = tr
            .step(
                &ids(&[1, 99]),
                &ids(&[3, 4]),
                &ids(&[5, 6, 7, 8]).view([2, 2]),
                0.1,
            )
            .unwrap_err();
        assert!(matches!(e, Error::Torch(_)), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
        let oom = torch_err(TchError::Torch(
            "CUDA out of memory. Tried to allocate 2 GiB".into(),
        ));
        assert!(oom.to_string().contains("--batch-size"), "{oom}");
    }

    #[test]
    fn row_cap_scales_only_rows_met_more_than_cap_times() {
        // Input row 1 is met 4 times, row 2 once; output row 3 is met 4
        // times (2 positives, 2 negatives), the others once.
        let inp = ids(&[1, 1, 1, 1, 2]);
        let centre = ids(&[3, 4, 3, 5, 6]);
        let neg = ids(&[7, 3, 8, 9, 3, 10, 11, 12, 13, 14]).view([5, 2]);
        let delta = |cap: f32| {
            let mut tr = engine_with(20, 8, 2, cap, 4096);
            let (i0, o0) = (tr.input.copy(), tr.output.copy());
            let _ = tr.step(&inp, &centre, &neg, 0.1).unwrap();
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
        let with = |batch: usize, row_cap: f32| engine_with(10, 8, 5, row_cap, batch).warnings();
        assert!(with(4096, w2v::train::ROW_CAP).is_empty());
        let big = with(OPS_BATCH_TESTED + 1, w2v::train::ROW_CAP);
        assert!(big.len() == 1 && big[0].contains("--batch-size"), "{big:?}");
        let off = with(4096, 0.0);
        assert!(off.len() == 1 && off[0].contains("--row-cap 0"), "{off:?}");
    }

    #[test]
    fn negatives_follow_the_alias_table() {
        let counts = [1000u64, 100, 10, 1];
        let table = AliasTable::new(&counts, 0.75);
        let cfg = cpu_cfg(4, 5, 64.0, 4096);
        let EngineConfig::Torch(t) = &cfg.engine else {
            unreachable!()
        };
        let tr = TorchEngine::new(&cfg, t, test_weights(4, 4, 1), &table).unwrap();
        tch::manual_seed(7);
        let neg = tr.negatives(100_000).unwrap();
        let hist = Vec::<i64>::try_from(&neg.view([-1]).bincount(None::<Tensor>, 4)).unwrap();
        let want = w2v::unigram::distribution(&counts, 0.75);
        for (h, p) in hist.iter().zip(want) {
            let got = *h as f64 / 500_000.0;
            assert!((got - p).abs() < 0.005, "{got} vs {p}");
        }
    }

    /// Runs three blocks on a fresh engine, draining after each or once.
    fn three_blocks(device: WDevice, each: bool) -> LossSum {
        let (v, dim) = (50, 16);
        let mut cfg = cpu_cfg(dim, 3, 64.0, 64);
        let EngineConfig::Torch(t) = &mut cfg.engine else {
            unreachable!()
        };
        t.device = device;
        t.step = CudaStep::Fused;
        let t = t.clone();
        let table = AliasTable::new(&vec![1; v], 0.75);
        let mut e = TorchEngine::new(&cfg, &t, test_weights(v, dim, 2), &table).unwrap();
        let c: Vec<TokenId> = (0..64).map(|i| i % 9).collect();
        let x: Vec<TokenId> = (0..64).map(|i| 10 + i % 31).collect();
        let mut sum = LossSum::default();
        for s in 0..3 {
            e.block(Block {
                centres: &c,
                contexts: &x,
                lr: 0.05,
                seed: s,
            })
            .unwrap();
            if each {
                sum += e.drain_loss().unwrap();
            }
        }
        sum += e.drain_loss().unwrap();
        assert_eq!(e.drain_loss().unwrap(), LossSum::default());
        sum
    }

    #[test]
    fn drained_loss_is_every_block_once_on_cpu() {
        let (each, once) = (
            three_blocks(WDevice::Cpu, true),
            three_blocks(WDevice::Cpu, false),
        );
        assert_eq!(once.count, 192);
        assert!(once.sum > 0.0);
        assert_eq!(each, once);
    }

    #[test]
    fn drained_loss_is_every_block_once_on_cuda() {
        if !tch::Cuda::is_available() {
            eprintln!(
                "no CUDA device: the fused pipeline's loss is checked on the GPU machine only"
            );
            return;
        }
        let each = three_blocks(WDevice::Cuda(0), true);
        let once = three_blocks(WDevice::Cuda(0), false);
        assert_eq!(once.count, 192);
        // Atomics make the sum's rounding order vary slightly.
        assert!((each.sum - once.sum).abs() < 1e-6 * once.sum && once.sum > 0.0);
    }
}
