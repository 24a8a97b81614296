//! The fused CUDA kernel of the torch engine (`src/sgns.cu`).
//!
//! libtorch owns every buffer (the tables, the pair ids, the alias table,
//! the loss accumulator); this module compiles the kernel with NVRTC for the
//! device at hand, specialised to the run's `dim` and negatives, and launches
//! it on the legacy default stream, the one torch's own operations use, so it
//! is ordered with them. libnvrtc and the driver are loaded at run time
//! (cudarc, `dynamic-loading`): building needs no CUDA toolkit, and libnvrtc
//! is taken from the pip torch install next to the loaded libtorch.
//!
//! Why a kernel at all: the libtorch-ops step materialises every gathered
//! row, every gradient and every scaled copy (about 30 KB of memory traffic
//! per pair at dim 128, K 5); the fused step reads and writes each touched
//! row once (about 7 KB). The measured ratio is in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;

use cudarc::driver::{
    result as cu, CudaContext, CudaEvent, CudaFunction, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};

use w2v::error::{Error, Result};

/// The kernel source.
pub const SOURCE: &str = include_str!("sgns.cu");
/// Threads per block (must match BLOCK_THREADS in the source).
const BLOCK_THREADS: u32 = 256;

/// How the kernel applies its updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// atomicAdd: concurrent updates of a row all land.
    Atomic,
    /// Plain stores (Hogwild, as word2vec.c's threads do).
    Hogwild,
}

pub use w2v::train::config::fused_supports as supports;

/// Compile-time options of the kernel for this shape.
pub fn options(dim: usize, negative: usize, update: Update) -> Vec<String> {
    let vec = if dim.is_multiple_of(128) { 4 } else { 1 };
    vec![
        format!("-DDIM={dim}"),
        format!("-DNEG={negative}"),
        format!("-DVEC={vec}"),
        format!("-DATOMIC={}", (update == Update::Atomic) as u8),
    ]
}

/// Directories where pip wheels put libnvrtc, relative to torch's lib dir.
fn nvrtc_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(p) = std::env::var("W2V_NVRTC") {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = crate::libtorch_dir() {
        let site = PathBuf::from(dir).join("../..");
        out.push(site.join("nvidia/cu13/lib/libnvrtc.so.13"));
        out.push(site.join("nvidia/cuda_nvrtc/lib/libnvrtc.so.12"));
    }
    out
}

/// Loads libnvrtc from the torch install (once per process), so cudarc's
/// lookup by soname finds it without LD_LIBRARY_PATH.
pub fn preload_nvrtc() -> Result<()> {
    static LOADED: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            let mut tried = Vec::new();
            for p in nvrtc_candidates() {
                if !p.exists() {
                    tried.push(p.display().to_string());
                    continue;
                }
                // NVRTC opens its builtins library by name at compile time:
                // load it first from the same directory.
                if let Some(dir) = p.parent() {
                    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if name.starts_with("libnvrtc-builtins.so") {
                            // SAFETY: loading a shared library runs its
                            // initialisers; NVRTC's builtins library has none
                            // with preconditions, and it stays loaded for the
                            // process's life (forgotten below).
                            if let Ok(lib) = unsafe { libloading::Library::new(e.path()) } {
                                std::mem::forget(lib);
                            }
                        }
                    }
                }
                // SAFETY: libnvrtc's initialisers have no preconditions.
                match unsafe { libloading::Library::new(&p) } {
                    Ok(lib) => {
                        std::mem::forget(lib);
                        return Ok(());
                    }
                    Err(e) => tried.push(format!("{}: {e}", p.display())),
                }
            }
            // Maybe it is on the default search path.
            // SAFETY: loading libnvrtc runs its initialisers, which have no
            // preconditions; it stays loaded for the process's life.
            match unsafe { libloading::Library::new("libnvrtc.so.13") } {
                Ok(lib) => {
                    std::mem::forget(lib);
                    Ok(())
                }
                Err(_) => Err(format!(
                    "libnvrtc not found (tried {}); set W2V_NVRTC to its path",
                    tried.join(", ")
                )),
            }
        })
        .clone()
        .map_err(Error::Torch)
}

/// Compiles the kernel to PTX for `arch` (e.g. "sm_90").
pub fn compile(dim: usize, negative: usize, update: Update, arch: &'static str) -> Result<String> {
    preload_nvrtc()?;
    let opts = CompileOptions {
        arch: Some(arch),
        options: options(dim, negative, update),
        ..Default::default()
    };
    let ptx = std::panic::catch_unwind(|| compile_ptx_with_opts(SOURCE, opts))
        .map_err(|_| Error::Torch("NVRTC could not be loaded".into()))?
        .map_err(|e| Error::Torch(format!("NVRTC failed to compile src/sgns.cu: {e:?}")))?;
    Ok(ptx.to_src())
}

/// The compiled kernel on one device.
pub struct Fused {
    _ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    func: CudaFunction,
    /// The stream kernel (`sgns_stream`): pairs drawn from token ids.
    stream_func: CudaFunction,
    blocks: u32,
    /// "sm_90 atomic vec4", for the run description.
    pub describe: String,
}

/// Device pointers and scalars of one launch.
pub struct Step {
    pub input: u64,
    pub output: u64,
    /// Ids of the input rows (the contexts).
    pub in_ids: u64,
    /// Ids of the positive output rows (the centres).
    pub out_ids: u64,
    pub n: i64,
    pub thresholds: u64,
    pub aliases: u64,
    pub vocab: u32,
    pub lr: f32,
    pub seed: u64,
    pub loss: u64,
}

/// Device pointers and scalars of one stream launch (`sgns_stream`).
pub struct StreamStep {
    pub input: u64,
    pub output: u64,
    /// The chunk's token ids (-1 at line ends).
    pub ids: u64,
    pub n: i64,
    /// Centres trained: positions `lo..hi`.
    pub lo: i64,
    pub hi: i64,
    /// Keep probability per word (f32).
    pub keep: u64,
    pub window: i32,
    pub dynamic: bool,
    pub thresholds: u64,
    pub aliases: u64,
    pub vocab: u32,
    pub lr0: f32,
    pub lr1: f32,
    pub seed: u64,
    pub loss: u64,
    /// One u64: pairs trained.
    pub pairs: u64,
    /// One i32: set to 1 when an id is outside the vocabulary.
    pub bad: u64,
}

fn drv(e: cudarc::driver::DriverError) -> Error {
    Error::Torch(format!("CUDA driver: {e:?}"))
}

impl Fused {
    /// Compiles and loads the kernel on CUDA device `ordinal`.
    pub fn new(ordinal: usize, dim: usize, negative: usize, update: Update) -> Result<Self> {
        let ctx = std::panic::catch_unwind(|| CudaContext::new(ordinal))
            .map_err(|_| Error::Torch("the CUDA driver library could not be loaded".into()))?
            .map_err(drv)?;
        use cudarc::driver::sys::CUdevice_attribute as A;
        let major = ctx
            .attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
            .map_err(drv)?;
        let minor = ctx
            .attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
            .map_err(drv)?;
        let sms = ctx
            .attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(drv)?;
        let arch: &'static str = Box::leak(format!("sm_{major}{minor}").into_boxed_str());
        let ptx = compile(dim, negative, update, arch)?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(drv)?;
        let func = module.load_function("sgns_step").map_err(drv)?;
        let stream_func = module.load_function("sgns_stream").map_err(drv)?;
        let stream = ctx.default_stream();
        let vec = if dim.is_multiple_of(128) {
            "vec4"
        } else {
            "scalar"
        };
        Ok(Fused {
            _ctx: ctx,
            stream,
            func,
            stream_func,
            // Enough resident warps to keep many row loads in flight.
            blocks: sms.max(1) as u32 * 16,
            describe: format!(
                "fused {arch} {} {vec}",
                if update == Update::Atomic {
                    "atomic"
                } else {
                    "hogwild"
                }
            ),
        })
    }

    /// `len` values of pinned (page-locked) host memory.
    pub fn pinned<T: cudarc::driver::DeviceRepr>(
        &self,
        len: usize,
    ) -> Result<cudarc::driver::PinnedHostSlice<T>> {
        // SAFETY: the memory is uninitialised; callers write before they read.
        unsafe { self._ctx.alloc_pinned::<T>(len.max(1)) }.map_err(drv)
    }

    /// A new event on this device.
    pub fn event(&self) -> Result<CudaEvent> {
        self._ctx.new_event(None).map_err(drv)
    }

    /// Marks the work queued so far in `ev`.
    pub fn record(&self, ev: &CudaEvent) -> Result<()> {
        ev.record(&self.stream).map_err(drv)
    }

    /// Queues a copy of `src` (pinned host memory) to device address `dst`.
    ///
    /// # Safety
    /// `dst` must hold `src.len()` values, and `src` must stay untouched
    /// until an event recorded after this call has completed.
    pub unsafe fn h2d<T>(&self, dst: u64, src: &[T]) -> Result<()> {
        // SAFETY: the caller guarantees `dst` holds `src.len()` values and
        // that `src` stays untouched until the copy has completed.
        unsafe { cu::memcpy_htod_async(dst, src, self.stream.cu_stream()) }.map_err(drv)
    }

    /// Queues a copy of device memory at `src` into `dst` (pinned host memory).
    ///
    /// # Safety
    /// As for [`Fused::h2d`], with the roles swapped: `dst` is valid only
    /// once a later event has completed.
    pub unsafe fn d2h<T>(&self, dst: &mut [T], src: u64) -> Result<()> {
        // SAFETY: the caller guarantees `src` holds `dst.len()` values and
        // that `dst` is read only after the copy has completed.
        unsafe { cu::memcpy_dtoh_async(dst, src, self.stream.cu_stream()) }.map_err(drv)
    }

    /// Queues zeroing `bytes` bytes at device address `dst`.
    ///
    /// # Safety
    /// `dst` must be a device buffer of at least `bytes` bytes.
    pub unsafe fn zero(&self, dst: u64, bytes: usize) -> Result<()> {
        // SAFETY: the caller guarantees `dst` is a device buffer of at
        // least `bytes` bytes.
        unsafe { cu::memset_d8_async(dst, 0, bytes, self.stream.cu_stream()) }.map_err(drv)
    }

    /// Launches one step over `s.n` pairs (asynchronous).
    ///
    /// # Safety
    /// Every pointer must be a live device buffer of the right size and type:
    /// `input`/`output` V×dim f32, `in_ids`/`out_ids` n i32 ids below V,
    /// `thresholds`/`aliases` V u32/i32, `loss` one f64.
    pub unsafe fn launch(&self, s: &Step) -> Result<()> {
        if s.n == 0 {
            return Ok(());
        }
        let mut b = self.stream.launch_builder(&self.func);
        b.arg(&s.input)
            .arg(&s.output)
            .arg(&s.in_ids)
            .arg(&s.out_ids)
            .arg(&s.n)
            .arg(&s.thresholds)
            .arg(&s.aliases)
            .arg(&s.vocab)
            .arg(&s.lr)
            .arg(&s.seed)
            .arg(&s.loss);
        let warps_needed = (s.n as u64).div_ceil((BLOCK_THREADS / 32) as u64);
        let cfg = LaunchConfig {
            grid_dim: ((self.blocks as u64).min(warps_needed) as u32, 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the caller guarantees the buffers; the argument list matches
        // the kernel's signature in src/sgns.cu.
        unsafe { b.launch(cfg) }.map_err(drv)?;
        Ok(())
    }
}

impl Fused {
    /// Launches the stream kernel over centres `s.lo..s.hi` (asynchronous).
    ///
    /// # Safety
    /// Every pointer must be a live device buffer of the right size and type:
    /// `input`/`output` V×dim f32, `ids` n i32, `keep` V f32,
    /// `thresholds`/`aliases` V u32/i32, `loss` one f64, `pairs` one u64,
    /// `bad` one i32; `0 ≤ lo ≤ hi ≤ n`.
    pub unsafe fn launch_stream(&self, s: &StreamStep) -> Result<()> {
        if s.hi <= s.lo {
            return Ok(());
        }
        let dynamic = s.dynamic as i32;
        let mut b = self.stream.launch_builder(&self.stream_func);
        b.arg(&s.input)
            .arg(&s.output)
            .arg(&s.ids)
            .arg(&s.n)
            .arg(&s.lo)
            .arg(&s.hi)
            .arg(&s.keep)
            .arg(&s.window)
            .arg(&dynamic)
            .arg(&s.thresholds)
            .arg(&s.aliases)
            .arg(&s.vocab)
            .arg(&s.lr0)
            .arg(&s.lr1)
            .arg(&s.seed)
            .arg(&s.loss)
            .arg(&s.pairs)
            .arg(&s.bad);
        let warps_needed = ((s.hi - s.lo) as u64).div_ceil((BLOCK_THREADS / 32) as u64);
        let cfg = LaunchConfig {
            grid_dim: ((self.blocks as u64).min(warps_needed) as u32, 1, 1),
            block_dim: (BLOCK_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the caller guarantees the buffers; the argument list matches
        // `sgns_stream`'s signature in src/sgns.cu.
        unsafe { b.launch(cfg) }.map_err(drv)?;
        Ok(())
    }
}

/// The negatives the kernel draws for pair `p` of a launch with `seed`
/// (`None` where one equals the centre and is skipped).
#[cfg(test)]
pub fn kernel_negatives(
    entries: &[w2v::unigram::Entry],
    seed: u64,
    p: u64,
    k: usize,
    centre: usize,
) -> Vec<Option<usize>> {
    let base = w2v::train::stream::device_rules::mix(seed ^ p.wrapping_mul(0x9e3779b97f4a7c15));
    (1..=k as u64)
        .map(|j| {
            let w = w2v::unigram::sample(
                entries,
                w2v::train::stream::device_rules::mix(base.wrapping_add(j)),
            ) as usize;
            (w != centre).then_some(w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};
    use w2v::unigram::AliasTable;

    #[test]
    fn kernel_compiles_for_each_shape() {
        // NVRTC needs no GPU: this runs wherever pip torch brought libnvrtc.
        for (dim, neg, update, arch) in [
            (128, 5, Update::Atomic, "sm_90"),
            (128, 5, Update::Hogwild, "sm_80"),
            (100, 5, Update::Atomic, "sm_75"),
            (300, 10, Update::Hogwild, "sm_90"),
        ] {
            let ptx = compile(dim, neg, update, arch).unwrap();
            assert!(ptx.contains(".entry sgns_step"), "{dim} {neg} {arch}");
            assert!(ptx.contains(".entry sgns_stream"), "{dim} {neg} {arch}");
            let wide = ptx.contains("ld.global.v4.f32") || ptx.contains("ld.global.nc.v4.f32");
            assert_eq!(wide, dim.is_multiple_of(128), "16-byte loads for dim {dim}");
            // Table updates are f32 atomics exactly when asked for (the loss
            // sum is an f64 atomic in both).
            // The stream kernel adds its output rows' window sums with
            // atomics in both modes.
            let section = |name: &str| {
                let at = ptx.find(&format!(".entry {name}")).unwrap();
                let rest = &ptx[at + 1..];
                rest[..rest.find(".entry").unwrap_or(rest.len())].to_string()
            };
            let f32_atomics =
                |p: &str| p.contains("global.add.f32") || p.contains("global.add.v4.f32");
            let step = section("sgns_step");
            assert_eq!(
                f32_atomics(&step),
                update == Update::Atomic,
                "{dim} {update:?}"
            );
            assert!(f32_atomics(&section("sgns_stream")), "{dim} {update:?}");
        }
        assert!(supports(128, 5) && supports(512, 7) && !supports(1024, 5));
    }

    #[test]
    fn kernel_negatives_follow_the_alias_table() {
        let counts = [1000u64, 100, 10, 1];
        let t = AliasTable::new(&counts, 0.75);
        let mut hist = [0f64; 4];
        let n = 50_000;
        for p in 0..n {
            for w in kernel_negatives(&t.entries, 99, p, 4, usize::MAX) {
                hist[w.unwrap()] += 1.0;
            }
        }
        for (h, want) in hist.iter().zip(w2v::unigram::distribution(&counts, 0.75)) {
            assert!((h / (4 * n) as f64 - want).abs() < 0.005, "{h} {want}");
        }
    }

    /// On a GPU: one pair per launch, so the kernel must match the
    /// reference sequential update (w2v::train::oracle), colliding negatives
    /// included.
    #[test]
    fn fused_kernel_matches_the_oracle_on_cuda() {
        if !tch::Cuda::is_available() {
            eprintln!("no CUDA device: the fused kernel is checked on the GPU machine only");
            return;
        }
        for (dim, update) in [
            (128usize, Update::Atomic),
            (128, Update::Hogwild),
            (100, Update::Atomic),
        ] {
            let (v, k) = (60usize, 5usize);
            // A heavy head, so negatives often collide with a frequent centre.
            let counts: Vec<u64> = (0..v as u64).map(|i| 1000 / (i + 1) + 1).collect();
            let table = AliasTable::new(&counts, 0.75);
            let w0 = w2v::train::oracle::test_weights(v, dim, 5);
            let mut want = w2v::train::oracle::Tables::from_weights(&w0, dim);
            let dev = Device::Cuda(0);
            let fused = Fused::new(0, dim, k, update).unwrap();
            let input = Tensor::from_slice(&w0.input).to_device(dev);
            let output = Tensor::from_slice(&w0.output).to_device(dev);
            let thr: Vec<i32> = table.entries.iter().map(|e| e.threshold as i32).collect();
            let al: Vec<i32> = table.entries.iter().map(|e| e.alias).collect();
            let (thr, al) = (
                Tensor::from_slice(&thr).to_device(dev),
                Tensor::from_slice(&al).to_device(dev),
            );
            let loss = Tensor::zeros([1], (Kind::Double, dev));
            let (mut want_loss, mut collisions) = (0f64, 0);
            for p in 0..200u64 {
                let (centre, context) =
                    ((p * 7 % 5) as usize, (p * 13 % v as u64 + 1) as usize % v);
                // The kernel loads a pair's rows before updating them, so a
                // row drawn twice in one pair would differ from sequential
                // SGD by design: pick seeds whose live negatives are distinct.
                let (seed, negs) = (1000 * p..)
                    .map(|seed| {
                        let n: Vec<usize> = kernel_negatives(&table.entries, seed, 0, k, centre)
                            .into_iter()
                            .map(|w| w.unwrap_or(centre))
                            .collect();
                        (seed, n)
                    })
                    .find(|(_, n)| {
                        let mut d: Vec<usize> =
                            n.iter().copied().filter(|&w| w != centre).collect();
                        let len = d.len();
                        d.sort();
                        d.dedup();
                        d.len() == len
                    })
                    .unwrap();
                collisions += negs.iter().filter(|&&n| n == centre).count();
                want_loss += want.pair(centre, context, &negs, 0.05);
                let ids_in = Tensor::from_slice(&[context as i32]).to_device(dev);
                let ids_out = Tensor::from_slice(&[centre as i32]).to_device(dev);
                let step = Step {
                    input: input.data_ptr() as u64,
                    output: output.data_ptr() as u64,
                    in_ids: ids_in.data_ptr() as u64,
                    out_ids: ids_out.data_ptr() as u64,
                    n: 1,
                    thresholds: thr.data_ptr() as u64,
                    aliases: al.data_ptr() as u64,
                    vocab: v as u32,
                    lr: 0.05,
                    seed,
                    loss: loss.data_ptr() as u64,
                };
                // SAFETY: every pointer is a live tensor on this device of the
                // size `launch` documents (V×dim tables, one id each, V alias
                // entries, one f64), and the ids are below V.
                unsafe { fused.launch(&step).unwrap() };
            }
            assert!(collisions > 0, "the test must exercise the collision rule");
            let got = w2v::train::Weights {
                input: Vec::<f32>::try_from(&input.to_device(Device::Cpu)).unwrap(),
                output: Vec::<f32>::try_from(&output.to_device(Device::Cpu)).unwrap(),
            };
            let d = want.max_diff(&got);
            assert!(d < 1e-4, "dim {dim} {update:?}: {d}");
            let md = crate::engine::max_abs_diff;
            assert!(
                md(&got.input, &w0.input) > 1e-3,
                "the kernel changed nothing"
            );
            let got_loss = loss.double_value(&[0]);
            assert!(
                (got_loss - want_loss).abs() < 1e-3 * want_loss,
                "loss {got_loss} vs {want_loss}"
            );
        }
    }

    /// The stream kernel's buffers for one chunk on the GPU.
    struct StreamRig {
        fused: Fused,
        input: Tensor,
        output: Tensor,
        ids: Tensor,
        keep: Tensor,
        thr: Tensor,
        al: Tensor,
        loss: Tensor,
        pairs: Tensor,
        bad: Tensor,
        n: usize,
        v: usize,
    }

    impl StreamRig {
        fn new(
            dim: usize,
            k: usize,
            update: Update,
            ids: &[i32],
            keep: &[f32],
            table: &AliasTable,
            w: &w2v::train::Weights,
        ) -> StreamRig {
            let dev = Device::Cuda(0);
            let thr: Vec<i32> = table.entries.iter().map(|e| e.threshold as i32).collect();
            let al: Vec<i32> = table.entries.iter().map(|e| e.alias).collect();
            StreamRig {
                fused: Fused::new(0, dim, k, update).unwrap(),
                input: Tensor::from_slice(&w.input).to_device(dev),
                output: Tensor::from_slice(&w.output).to_device(dev),
                ids: Tensor::from_slice(ids).to_device(dev),
                keep: Tensor::from_slice(keep).to_device(dev),
                thr: Tensor::from_slice(&thr).to_device(dev),
                al: Tensor::from_slice(&al).to_device(dev),
                loss: Tensor::zeros([1], (Kind::Double, dev)),
                pairs: Tensor::zeros([1], (Kind::Int64, dev)),
                bad: Tensor::zeros([1], (Kind::Int, dev)),
                n: ids.len(),
                v: keep.len(),
            }
        }

        /// Trains centres `lo..hi` (window `window`, dynamic or not).
        fn launch(&self, lo: usize, hi: usize, window: usize, dynamic: bool, lr: f32, seed: u64) {
            let s = StreamStep {
                input: self.input.data_ptr() as u64,
                output: self.output.data_ptr() as u64,
                ids: self.ids.data_ptr() as u64,
                n: self.n as i64,
                lo: lo as i64,
                hi: hi as i64,
                keep: self.keep.data_ptr() as u64,
                window: window as i32,
                dynamic,
                thresholds: self.thr.data_ptr() as u64,
                aliases: self.al.data_ptr() as u64,
                vocab: self.v as u32,
                lr0: lr,
                lr1: lr,
                seed,
                loss: self.loss.data_ptr() as u64,
                pairs: self.pairs.data_ptr() as u64,
                bad: self.bad.data_ptr() as u64,
            };
            // SAFETY: every pointer is a live tensor on this device of the
            // size `launch_stream` documents, and lo ≤ hi ≤ n.
            unsafe { self.fused.launch_stream(&s).unwrap() };
        }

        fn weights(&self) -> w2v::train::Weights {
            w2v::train::Weights {
                input: Vec::<f32>::try_from(&self.input.to_device(Device::Cpu)).unwrap(),
                output: Vec::<f32>::try_from(&self.output.to_device(Device::Cpu)).unwrap(),
            }
        }
    }

    /// On a GPU: the stream kernel launched one centre at a time must be
    /// the sequence of window updates the f64 oracle applies (the native
    /// `window` update), for the contexts and negatives the host rules
    /// (`w2v::train::stream::device_rules`) draw, a context met twice in one
    /// window and negatives equal to the centre included.
    #[test]
    fn stream_kernel_matches_the_oracle_on_cuda() {
        use w2v::train::stream::device_rules as rules;
        if !tch::Cuda::is_available() {
            eprintln!("no CUDA device: the stream kernel is checked on the GPU machine only");
            return;
        }
        for (dim, update) in [
            (128usize, Update::Atomic),
            (128, Update::Hogwild),
            (100, Update::Atomic),
        ] {
            let (v, k) = (40usize, 5usize);
            let counts: Vec<u64> = (0..v as u64).map(|i| 1000 / (i + 1) + 1).collect();
            let table = AliasTable::new(&counts, 0.75);
            // Three lines; word 3 repeats inside one window.
            let ids: Vec<i32> = vec![3, 7, 3, 9, 1, 0, -1, 5, 2, 8, 11, 2, 4, 0, 6, -1, 30, 1, -1];
            // Some words dropped by subsampling now and then.
            let keep: Vec<f32> = (0..v).map(|i| if i % 3 == 0 { 0.6 } else { 1.0 }).collect();
            let w0 = w2v::train::oracle::test_weights(v, dim, 7);
            let mut want = w2v::train::oracle::Tables::from_weights(&w0, dim);
            let rig = StreamRig::new(dim, k, update, &ids, &keep, &table, &w0);
            let (lr, window) = (0.05f32, 3usize);
            let (mut want_loss, mut want_pairs, mut collisions, mut repeats) = (0f64, 0u64, 0, 0);
            for seed in [11u64, 12, 13] {
                for i in 0..ids.len() {
                    let ctx = rules::contexts(&ids, &keep, window, true, seed, i);
                    if ctx.is_empty() {
                        continue;
                    }
                    let centre = ids[i] as usize;
                    let negs: Vec<usize> = rules::negatives(&table.entries, seed, i, k, centre)
                        .into_iter()
                        .flatten()
                        .collect();
                    collisions += k - negs.len();
                    let c: Vec<usize> = ctx.iter().map(|&j| ids[j] as usize).collect();
                    let mut d = c.clone();
                    d.sort();
                    d.dedup();
                    repeats += c.len() - d.len();
                    want_loss += want.window(centre, &c, &negs, lr as f64);
                    want_pairs += c.len() as u64;
                    rig.launch(i, i + 1, window, true, lr, seed);
                }
            }
            assert!(collisions > 0, "the test must exercise the collision rule");
            assert!(
                repeats > 0,
                "the test must meet a context twice in a window"
            );
            let got = rig.weights();
            let diff = want.max_diff(&got);
            assert!(diff < 1e-4, "dim {dim} {update:?}: {diff}");
            let md = crate::engine::max_abs_diff;
            assert!(
                md(&got.input, &w0.input) > 1e-3,
                "the kernel changed nothing"
            );
            assert_eq!(rig.pairs.int64_value(&[0]) as u64, want_pairs);
            let got_loss = rig.loss.double_value(&[0]);
            assert!(
                (got_loss - want_loss).abs() < 1e-3 * want_loss,
                "loss {got_loss} vs {want_loss}"
            );
            assert_eq!(rig.bad.int64_value(&[0]), 0);
        }
    }

    /// On a GPU: a whole chunk in one launch draws exactly the pairs the host
    /// rules draw (subsampling and dynamic windows on), and an id outside the
    /// vocabulary is flagged, not used.
    #[test]
    fn stream_kernel_draws_the_host_rules_on_cuda() {
        use w2v::train::stream::device_rules as rules;
        if !tch::Cuda::is_available() {
            eprintln!("no CUDA device: the stream kernel is checked on the GPU machine only");
            return;
        }
        let (v, dim, k) = (500usize, 128usize, 5usize);
        let counts: Vec<u64> = (0..v as u64).map(|i| 100_000 / (i + 1) + 1).collect();
        let table = AliasTable::new(&counts, 0.75);
        let keep = w2v::pairs::keep_probs(&counts, 1e-3);
        assert!(keep.iter().any(|&p| p < 0.5), "subsampling must drop words");
        let mut ids = Vec::new();
        let mut x = 1u64;
        for _ in 0..2000 {
            let len = 1 + (rules::mix(x) % 30) as usize;
            for _ in 0..len {
                x += 1;
                // Zipf-ish: small ids often.
                let r = rules::mix(x) % 1_000_000;
                ids.push(((r * r / 1_000_000) * v as u64 / 1_000_000) as i32);
            }
            ids.push(-1);
        }
        let w0 = w2v::train::oracle::test_weights(v, dim, 3);
        let rig = StreamRig::new(dim, k, Update::Atomic, &ids, &keep, &table, &w0);
        let seed = 77;
        rig.launch(0, ids.len(), 5, true, 0.025, seed);
        let mut want = w2v::pairs::Pairs::default();
        rules::draw(&ids, &keep, 5, true, seed, &mut want);
        let got = rig.pairs.int64_value(&[0]) as usize;
        assert!(want.len() > 10_000, "{}", want.len());
        assert_eq!(
            got,
            want.len(),
            "pairs drawn on the device vs the host rules"
        );
        assert_eq!(rig.bad.int64_value(&[0]), 0);
        // A corrupt id: flagged, and nothing indexes with it.
        let mut bad_ids = ids[..200].to_vec();
        bad_ids[17] = v as i32 + 5;
        let rig = StreamRig::new(dim, k, Update::Atomic, &bad_ids, &keep, &table, &w0);
        rig.launch(0, bad_ids.len(), 5, true, 0.025, seed);
        assert_eq!(
            rig.bad.int64_value(&[0]),
            1,
            "an id outside V must be flagged"
        );
    }
}
