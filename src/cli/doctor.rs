//! `w2v doctor`: versions, the libtorch location and whether CUDA is usable.
//! Plain `w2v` does not link libtorch, so it asks `w2v-torch` for those facts.

use clap::Args;

use w2v::doctor::TorchFacts;
use w2v::progress::Progress;

use super::train::torch_helper;
use super::{json, out, Fail};

/// What `helper` (`w2v-torch facts`) finds of libtorch and CUDA; `None`
/// when it cannot run (libtorch missing, a broken install).
pub fn torch_facts(helper: &std::path::Path) -> Option<TorchFacts> {
    let o = std::process::Command::new(helper)
        .arg("facts")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    serde_json::from_slice(&o.stdout).ok()
}

#[derive(Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: DoctorArgs, _p: &Progress) -> std::result::Result<(), Fail> {
    // libtorch facts come from the helper, the only binary that links it.
    let facts = torch_helper().and_then(|h| torch_facts(&h));
    let r = w2v::doctor::report(facts.as_ref());
    if a.json {
        json(&r)?;
    } else {
        out(&format!("w2v {}", r.w2v))?;
        out(&format!(
            "libtorch {}",
            r.libtorch.as_deref().unwrap_or("not loaded")
        ))?;
        out(&format!(
            "libtorch loaded from {}",
            r.libtorch_loaded_from.as_deref().unwrap_or("-")
        ))?;
        out(&format!(
            "cuda available: {} ({} devices, cudnn {})",
            r.cuda_available, r.cuda_devices, r.cudnn
        ))?;
        out(&format!("threads: {}, simd: {}", r.threads, r.simd))?;
        out(&r.advice)?;
    }
    Ok(())
}
