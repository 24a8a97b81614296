//! `w2v report`: plots of a training run as an HTML page and PNG.

use std::path::PathBuf;

use clap::Args;

use w2v::progress::Progress;
use w2v::report::ReportConfig;

use super::common::ModelArg;
use super::Fail;

#[derive(Args)]
pub struct ReportArgs {
    /// The HTML page to write (one self-contained file).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// PNG: a directory (one file per plot) or a FILE.png (all plots in one image).
    #[arg(long)]
    pub png: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(a: ReportArgs, p: &Progress) -> std::result::Result<(), Fail> {
    let cfg = ReportConfig {
        model: a.model.model,
        html: a.output,
        png: a.png,
    };
    let s = w2v::report::run(&cfg)?;
    for n in &s.notes {
        p.warn(n);
    }
    if !s.malformed.is_empty() {
        p.warn(&format!(
            "{}: skipped {} malformed line(s): {}",
            w2v::train::log::path_in(&cfg.model).display(),
            s.malformed.len(),
            w2v::eval::summarize(&s.malformed, 10)
        ));
    }
    let written: Vec<String> = s.written.iter().map(|f| f.display().to_string()).collect();
    p.info(&format!(
        "report: {} log records; wrote {}",
        s.records,
        written.join(", ")
    ));
    Ok(())
}
