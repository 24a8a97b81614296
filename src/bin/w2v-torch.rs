//! `w2v-torch`: the same command line as `w2v`, with the libtorch engine
//! linked in. `w2v` runs it for `train --engine torch` and for `doctor`.

#[path = "../cli/mod.rs"]
mod cli;
#[path = "../cuda_fused.rs"]
mod cuda_fused;
#[path = "../torch_engine.rs"]
mod torch_engine;

fn main() -> std::process::ExitCode {
    cli::main_with(Some(torch_engine::hooks()))
}
