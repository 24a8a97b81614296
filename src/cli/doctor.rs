//! `w2v doctor`: versions, the libtorch location and whether CUDA is usable.
//! Plain `w2v` does not link libtorch, so it asks `w2v-torch` for those facts.

use clap::Args;

use w2v::progress::Progress;
use w2v::train::TorchHooks;

use super::train::torch_helper;
use super::{json, out, Fail};

#[derive(Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    a: DoctorArgs,
    _p: &Progress,
    torch: Option<&TorchHooks>,
) -> std::result::Result<(), Fail> {
    let mut r = w2v::doctor::report(torch);
    if torch.is_none() {
        // libtorch facts come from the helper, which links it.
        if let Some(h) = torch_helper() {
            if let Ok(o) = std::process::Command::new(h)
                .args(["doctor", "--json", "--progress", "silent"])
                .output()
            {
                if let Ok(t) = serde_json::from_slice::<w2v::doctor::Report>(&o.stdout) {
                    r = w2v::doctor::Report {
                        simd: r.simd,
                        threads: r.threads,
                        ..t
                    };
                }
            }
        }
    }
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
