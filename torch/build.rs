//! Links libtorch into `w2v-torch` (and the tests) so that CUDA works and the
//! binary runs without LD_LIBRARY_PATH.
//!
//! - `libtorch_cuda.so` has no symbol our code references directly, so the
//!   default `--as-needed` drops it and `tch::Cuda::is_available()` reports
//!   false even on a GPU. We link it with `--no-as-needed` when it exists.
//! - We embed an rpath to the torch lib dir found the same way torch-sys
//!   finds it (`LIBTORCH`, else `LIBTORCH_USE_PYTORCH=1` and the Python in
//!   `PYTHON_SYS_EXECUTABLE` or `python3`).
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    Some(PathBuf::from(dir))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=PYTHON_SYS_EXECUTABLE");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(dir) = torch_lib_dir() else {
        println!("cargo:warning=w2v: could not locate the torch lib dir; run `make setup` (no rpath embedded)");
        return;
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    // This crate is the only one that links libtorch; `w2v` never loads it
    // (0.5 s and ~450 MB of CUDA libraries at every start).
    let mut args = vec![format!("-Wl,-rpath,{}", dir.display())];
    if dir.join("libtorch_cuda.so").exists() {
        args.extend([
            "-Wl,--no-as-needed".into(),
            "-ltorch_cuda".into(),
            "-Wl,--as-needed".into(),
        ]);
    }
    // Every linked target of this crate: the binary, the integration tests
    // and the library's unit-test harness.
    for a in &args {
        println!("cargo:rustc-link-arg={a}");
    }
}
