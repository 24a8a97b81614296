//! `w2v-torch`: the libtorch engine of w2v, the only crate that links
//! libtorch.
//!
//! - [`engine`]: [`engine::TorchEngine`], the ops step (CPU or CUDA) and the
//!   fused CUDA pipeline behind `w2v::train::Engine`, and
//!   [`engine::TorchBuilder`];
//! - [`cuda_fused`]: the fused kernel (`src/sgns.cu`), compiled at run time
//!   by NVRTC.
//!
//! The `w2v-torch` binary (`src/main.rs`) takes a resolved
//! `w2v::train::TrainConfig` from `w2v train` and runs
//! `w2v::train::run` with [`engine::TorchBuilder`]; `w2v doctor` asks it for
//! [`facts`].

pub mod cuda_fused;
pub mod engine;

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

/// What this process finds of libtorch and CUDA.
pub fn facts() -> w2v::doctor::TorchFacts {
    w2v::doctor::TorchFacts {
        libtorch: libtorch_version(),
        loaded_from: libtorch_dir(),
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn: tch::Cuda::cudnn_is_available(),
    }
}
