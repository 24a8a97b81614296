//! `w2v doctor`: what this machine can use, and what to do when CUDA is missing.
//!
//! The facts about libtorch and CUDA come from the `w2v-torch` binary, the
//! only one that links libtorch ([`TorchFacts`]); this module turns them
//! into a report with advice.

use serde::{Deserialize, Serialize};

/// The environment report.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub w2v: String,
    pub torch_feature: bool,
    pub libtorch: Option<String>,
    pub libtorch_loaded_from: Option<String>,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn: bool,
    pub threads: usize,
    pub simd: String,
    pub advice: String,
}

/// What the binary that links libtorch found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TorchFacts {
    /// libtorch version ("2.11.0+cu130").
    pub libtorch: Option<String>,
    /// Directory of the loaded libtorch.
    pub loaded_from: Option<String>,
    /// Whether CUDA is usable.
    pub cuda_available: bool,
    /// CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn: bool,
}

/// Builds the report; `torch` is what `w2v-torch` found, `None` when it is
/// not available.
pub fn report(torch: Option<&TorchFacts>) -> Report {
    let f = torch.cloned().unwrap_or_default();
    let (cuda, count, cudnn) = (f.cuda_available, f.cuda_devices, f.cudnn);
    let libtorch = f.libtorch;
    let loaded = f.loaded_from;
    let has_cuda_lib = loaded
        .as_ref()
        .is_some_and(|d| std::path::Path::new(d).join("libtorch_cuda.so").exists());
    let advice = if torch.is_none() {
        "the torch engine (w2v-torch) is not available: not built (`make build` or `cargo build --release --workspace` builds it) or not installed next to w2v; only --engine native works".to_string()
    } else if cuda {
        format!("CUDA usable on {count} device(s): `w2v train` uses the torch engine on cuda:0")
    } else if !has_cuda_lib {
        "CUDA not usable: the loaded libtorch has no libtorch_cuda.so (a CPU-only build); install the CUDA build of torch==2.11.0 (`make setup`) and rebuild".to_string()
    } else if !std::path::Path::new("/dev/nvidiactl").exists() {
        "CUDA not usable: libtorch_cuda is linked but no NVIDIA driver/GPU is visible (/dev/nvidiactl missing); training uses the native CPU engine".to_string()
    } else {
        "CUDA not usable although a driver is present: check that the driver supports CUDA 13 (nvidia-smi) and that w2v-torch was built with its build.rs linking libtorch_cuda (`make build`)".to_string()
    };
    Report {
        w2v: env!("CARGO_PKG_VERSION").to_string(),
        torch_feature: torch.is_some(),
        libtorch,
        libtorch_loaded_from: loaded,
        cuda_available: cuda,
        cuda_devices: count,
        cudnn,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        simd: crate::simd::Kernels::detect().name.to_string(),
        advice,
    }
}
