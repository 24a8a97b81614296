//! `w2v-torch`: runs the torch engine for `w2v train`, and reports what it
//! finds of libtorch and CUDA for `w2v doctor`. `w2v` resolves the command
//! line into a `TrainConfig` and hands it over as JSON; users call `w2v`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use w2v::progress::Progress;
use w2v::train::TrainConfig;
use w2v::Error;

#[derive(Parser)]
#[command(
    name = "w2v-torch",
    version,
    about = "the torch engine of w2v (run by `w2v train`)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Trains with a resolved configuration (JSON of w2v::train::TrainConfig).
    Train {
        #[arg(long)]
        config_json: String,
        /// auto, bar, json, plain or silent.
        #[arg(long, default_value = "auto")]
        progress: String,
    },
    /// Prints what this process finds of libtorch and CUDA, as JSON.
    Facts,
}

fn run(cli: Cli) -> w2v::Result<()> {
    match cli.cmd {
        Cmd::Train {
            config_json,
            progress: p,
        } => {
            let cfg: TrainConfig = serde_json::from_str(&config_json).map_err(|e| {
                Error::InvalidConfig(format!("w2v-torch got a malformed configuration: {e}"))
            })?;
            let p = Progress::named(&p)
                .ok_or_else(|| Error::InvalidConfig(format!("unknown --progress '{p}'")))?;
            // SIGINT and SIGTERM: finish the block, checkpoint, exit 130 or 143.
            let stop = w2v::signals::stop_flag().ok();
            let s = w2v::train::run(&cfg, &p, stop, &w2v_torch::engine::TorchBuilder)?;
            p.info(&s.line(&cfg.output));
            Ok(())
        }
        Cmd::Facts => {
            println!(
                "{}",
                serde_json::to_string(&w2v_torch::facts()).unwrap_or_default()
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = matches!(&cli.cmd, Cmd::Train { progress, .. } if progress == "json");
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: stderr may be a closed terminal (SIGHUP).
            let _ = writeln!(std::io::stderr(), "{}", e.final_line(json));
            ExitCode::from(e.exit_code())
        }
    }
}
