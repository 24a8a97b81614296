//! `w2v doctor`: what this binary can use, and what to do when CUDA is missing.

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

/// Directory of the libtorch actually mapped into this process.
pub fn libtorch_dir() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("libtorch_cpu.so"))
        .and_then(|p| {
            std::path::Path::new(p)
                .parent()
                .map(|d| d.display().to_string())
        })
}

/// libtorch version, read from the `torch/version.py` next to the loaded library.
pub fn libtorch_version() -> Option<String> {
    let dir = libtorch_dir()?;
    let py = std::path::Path::new(&dir).parent()?.join("version.py");
    let text = std::fs::read_to_string(py).ok()?;
    text.lines()
        .find(|l| l.starts_with("__version__"))
        .and_then(|l| l.split(['\'', '"']).nth(1))
        .map(str::to_owned)
}

/// Builds the report; `torch` is `Some` in the binary that links libtorch.
pub fn report(torch: Option<&crate::train::TorchHooks>) -> Report {
    let (cuda, count, cudnn) = torch.map(|t| (t.cuda_info)()).unwrap_or((false, 0, false));
    let libtorch = libtorch_version();
    let loaded = libtorch_dir();
    let has_cuda_lib = loaded
        .as_ref()
        .is_some_and(|d| std::path::Path::new(d).join("libtorch_cuda.so").exists());
    let advice = if torch.is_none() {
        "the torch engine (w2v-torch) is not available: built without the default `torch` feature or not installed next to w2v; only --engine native works".to_string()
    } else if cuda {
        format!("CUDA usable on {count} device(s): `w2v train` uses the torch engine on cuda:0")
    } else if !has_cuda_lib {
        "CUDA not usable: the loaded libtorch has no libtorch_cuda.so (a CPU-only build); install the CUDA build of torch==2.11.0 (`make setup`) and rebuild".to_string()
    } else if !std::path::Path::new("/dev/nvidiactl").exists() {
        "CUDA not usable: libtorch_cuda is linked but no NVIDIA driver/GPU is visible (/dev/nvidiactl missing); training uses the native CPU engine".to_string()
    } else {
        "CUDA not usable although a driver is present: check that the driver supports CUDA 13 (nvidia-smi) and that this binary was built with build.rs linking libtorch_cuda (`make build`)".to_string()
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
