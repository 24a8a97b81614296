//! `w2v report`: plots of a training run, as one HTML page and as PNG.
//!
//! In: a model directory: its training log `train.jsonl` ([`crate::train::log`])
//! and its manifest, which names the vocabulary trained on (the `words.txt`
//! among the manifest's inputs; tried as recorded, then beside the model
//! directory). Out:
//! - `-o FILE.html`: one self-contained page (inline SVG and CSS, no script,
//!   nothing fetched) with a summary table and one `<section>` per plot;
//! - `--png DIR`: one PNG per plot, `DIR/<plot>.png`; `--png FILE.png`: all
//!   plots in one image, two columns.
//!
//! The plots ([`Plot`]): loss over pairs seen; pairs/s over training time;
//! the learning rate over pairs seen; eval Spearman per epoch (one line per
//! `--eval-pairs` file); and the vocabulary's rank/frequency curve on
//! log–log axes. Log series longer than [`MAX_POINTS`] are thinned to every
//! k-th record (and the last); the rank/frequency curve is drawn at about
//! [`RANK_POINTS`] log-spaced ranks.
//!
//! What cannot be drawn is said, not failed on: a plot without data (no
//! `--eval-pairs`, a vocabulary that is gone or changed since training)
//! says so inside its frame and in [`ReportSummary::notes`]; lines of the
//! log that are not records are listed in [`ReportSummary::malformed`] and
//! the rest is drawn. A model with neither a training log (missing or
//! without records: imported models, models trained before the log was
//! written) nor its vocabulary is refused: there is nothing to draw.
//!
//! Text is drawn with DejaVu Sans, bundled in `src/report/` (its license
//! beside it) and handed to plotters' `ab_glyph` renderer, so PNGs come out
//! the same on a machine with no fonts and no fontconfig. The SVGs name the
//! `sans-serif` family and leave the glyphs to the browser. Every output goes
//! through a temp file and a rename.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{io_err, Error, Result};
use crate::eval::SkippedLine;
use crate::manifest::{check_output_path, write_atomic};
use crate::train::log::{LogRecord, TrainLog};

/// DejaVu Sans 2.37 (see `src/report/LICENSE-DejaVu.txt`).
const FONT: &[u8] = include_bytes!("report/DejaVuSans.ttf");

/// The font family every text of the plots uses.
const FAMILY: &str = "sans-serif";

/// Each plot's size in pixels (SVG user units, PNG pixels).
pub const PLOT_SIZE: (u32, u32) = (800, 450);

/// Log records drawn per series at most.
pub const MAX_POINTS: usize = 5000;

/// Ranks drawn on the rank/frequency curve, about.
pub const RANK_POINTS: usize = 2000;

/// One plot of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plot {
    /// Mean sampled loss over pairs seen.
    Loss,
    /// Pairs per second over training time.
    Throughput,
    /// Learning rate over pairs seen.
    Lr,
    /// Spearman of each `--eval-pairs` file per epoch.
    Eval,
    /// The vocabulary's counts by rank, log–log.
    RankFrequency,
}

impl Plot {
    /// Every plot, in page order.
    pub const ALL: [Plot; 5] = [
        Plot::Loss,
        Plot::Throughput,
        Plot::Lr,
        Plot::Eval,
        Plot::RankFrequency,
    ];

    /// The section id and PNG file stem.
    pub fn id(self) -> &'static str {
        match self {
            Plot::Loss => "loss",
            Plot::Throughput => "throughput",
            Plot::Lr => "lr",
            Plot::Eval => "eval",
            Plot::RankFrequency => "rank-frequency",
        }
    }

    /// The heading.
    pub fn title(self) -> &'static str {
        match self {
            Plot::Loss => "Loss over pairs seen",
            Plot::Throughput => "Throughput over training time",
            Plot::Lr => "Learning rate over pairs seen",
            Plot::Eval => "Eval Spearman per epoch",
            Plot::RankFrequency => "Vocabulary rank/frequency (log-log)",
        }
    }

    fn axes(self) -> (&'static str, &'static str) {
        match self {
            Plot::Loss => ("pairs seen", "mean sampled loss"),
            Plot::Throughput => ("training time (s)", "M pairs/s"),
            Plot::Lr => ("pairs seen", "learning rate"),
            Plot::Eval => ("epoch", "Spearman"),
            Plot::RankFrequency => ("rank", "count"),
        }
    }
}

/// What the report is drawn from.
#[derive(Clone, Debug, Default)]
pub struct ReportData {
    /// The model directory.
    pub model: PathBuf,
    /// The training log, when there is one.
    pub log: Option<TrainLog>,
    /// The vocabulary's counts, most frequent first, when found.
    pub counts: Option<Vec<u64>>,
    /// Summary rows (label, value) from the manifest and the log.
    pub facts: Vec<(String, String)>,
    /// What is missing, and why.
    pub notes: Vec<String>,
}

/// What [`run`] wrote and found.
#[derive(Clone, Debug, Default)]
pub struct ReportSummary {
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Records in the log.
    pub records: usize,
    /// Lines of the log that are not records.
    pub malformed: Vec<SkippedLine>,
    /// What could not be drawn, and why.
    pub notes: Vec<String>,
}

/// What to write.
#[derive(Clone, Debug, Default)]
pub struct ReportConfig {
    /// Model directory. By default, `model`.
    pub model: PathBuf,
    /// The HTML page. By default, none.
    pub html: Option<PathBuf>,
    /// A directory for one PNG per plot, or a `.png` file for all of them. By default, none.
    pub png: Option<PathBuf>,
}

impl ReportConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.html.is_none() && self.png.is_none() {
            return Err(Error::InvalidConfig(
                "report needs -o FILE.html and/or --png DIR|FILE.png".into(),
            ));
        }
        Ok(())
    }
}

/// Whether `path` names one PNG file (else a directory of them).
pub fn is_png_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.2}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 0.01 {
        // Two significant decimals past the units, no trailing zeros.
        let s = if a >= 1.0 {
            format!("{x:.2}")
        } else {
            format!("{x:.3}")
        };
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.1e}")
    }
}

/// The vocabulary directory a model was trained on, from its manifest.
fn vocab_dir_of(model: &Path, manifest: &serde_json::Value) -> Option<PathBuf> {
    let words = manifest
        .get("inputs")?
        .as_array()?
        .iter()
        .filter_map(|f| f.get("path")?.as_str())
        .find(|p| p.ends_with("words.txt"))?;
    let dir = crate::manifest::parent_dir(Path::new(words)).to_path_buf();
    if dir.is_dir() {
        return Some(dir);
    }
    // Relative to the directory training ran in, which usually holds the model.
    let beside = model.parent().map(|p| p.join(&dir))?;
    beside.is_dir().then_some(beside)
}

/// The counts of the vocabulary the model in `model` was trained on, or
/// why there are none.
fn vocab_counts(
    model: &Path,
    manifest: &serde_json::Value,
) -> std::result::Result<Vec<u64>, String> {
    let Some(dir) = vocab_dir_of(model, manifest) else {
        return Err("the manifest names no vocabulary that exists here".into());
    };
    let want = manifest
        .pointer("/summary/vocab_fingerprint")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    match crate::vocab::Vocab::fingerprint_of(&dir) {
        Ok(fp) if fp == want => {}
        Ok(_) => {
            return Err(format!(
                "{} holds another vocabulary than the model was trained on",
                dir.display()
            ))
        }
        Err(e) => return Err(e.to_string()),
    }
    let v = crate::vocab::Vocab::load(&dir).map_err(|e| e.to_string())?;
    let mut counts = v.counts;
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts.retain(|&c| c > 0);
    Ok(counts)
}

/// Reads what the report draws from `model` (see the module docs).
pub fn load(model: &Path) -> Result<ReportData> {
    if let Some(why) = crate::manifest::not_a_directory(model) {
        return Err(crate::error::invalid(
            model,
            format!("{why}: give the model directory `w2v train -o` wrote (--model)"),
        ));
    }
    let mut data = ReportData {
        model: model.to_path_buf(),
        ..Default::default()
    };
    let mpath = crate::model::manifest_of(model);
    let manifest: Option<serde_json::Value> = match std::fs::read_to_string(&mpath) {
        Ok(text) => Some(
            serde_json::from_str(&text)
                .map_err(crate::error::json_err(&mpath, "parse model manifest"))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            data.notes.push(format!(
                "{} not found (training still running?): no vocabulary plot",
                mpath.display()
            ));
            None
        }
        Err(e) => return Err(io_err(&mpath, "read model manifest")(e)),
    };
    if let Some(m) = &manifest {
        let stage = m.get("stage").and_then(|s| s.as_str()).unwrap_or("?");
        data.facts.push(("stage".into(), stage.into()));
        for (label, ptr) in [
            ("engine", "/summary/engine"),
            ("vocabulary", "/vocab_size"),
            ("dim", "/dim"),
            ("corpus tokens", "/summary/corpus_tokens"),
        ] {
            if let Some(v) = m.pointer(ptr) {
                let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                data.facts.push((label.into(), s));
            }
        }
        match vocab_counts(model, m) {
            Ok(c) => data.counts = Some(c),
            Err(why) => data.notes.push(format!("no rank/frequency plot: {why}")),
        }
    }
    let lpath = crate::train::log::log_of(model);
    match crate::train::log::read_log(&lpath) {
        Ok(log) if !log.records.is_empty() => {
            log_facts(&log, &mut data.facts);
            data.log = Some(log);
        }
        Ok(log) => {
            data.notes.push(format!(
                "{} holds no training record: no training curves",
                lpath.display()
            ));
            data.log = Some(log);
        }
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            data.notes.push(format!(
                "{} not found (imported models and models trained before w2v wrote a training log have none): no training curves",
                lpath.display()
            ));
        }
        Err(e) => return Err(e),
    }
    let has_log = data.log.as_ref().is_some_and(|l| !l.records.is_empty());
    if !has_log && data.counts.is_none() {
        // Neither file: not a model directory at all.
        let (path, message) = if manifest.is_none() && data.log.is_none() {
            (
                model.to_path_buf(),
                format!(
                    "holds no model and no training log ({} or {}): give the model directory `w2v train -o` wrote (--model)",
                    mpath.file_name().unwrap_or_default().to_string_lossy(),
                    lpath.file_name().unwrap_or_default().to_string_lossy()
                ),
            )
        } else {
            (
                lpath,
                format!(
                    "no training record to draw and no vocabulary found ({}); nothing to report",
                    data.notes.join("; ")
                ),
            )
        };
        return Err(Error::InvalidInput { path, message });
    }
    Ok(data)
}

/// Summary rows from the log.
fn log_facts(log: &TrainLog, facts: &mut Vec<(String, String)>) {
    let starts: Vec<_> = log
        .records
        .iter()
        .filter_map(|r| match r {
            LogRecord::Start(s) => Some(s),
            _ => None,
        })
        .collect();
    if let Some(s) = starts.last() {
        facts.push(("planned pairs".into(), fmt_num(s.total_pairs as f64)));
        facts.push(("epochs".into(), s.epochs.to_string()));
        facts.push(("seed".into(), s.seed.to_string()));
    }
    facts.push((
        "runs".into(),
        format!(
            "{} ({} resumed)",
            starts.len(),
            starts.iter().filter(|s| s.resumed).count()
        ),
    ));
    if let Some(last) = log.records.last() {
        facts.push(("pairs seen".into(), fmt_num(last.pairs_seen() as f64)));
    }
    if let Some(t) = log.records.iter().rev().find_map(LogRecord::elapsed_s) {
        facts.push(("training time".into(), format!("{t:.1} s")));
    }
    if let Some(b) = log.records.iter().rev().find_map(|r| match r {
        LogRecord::Block(b) => Some(b),
        _ => None,
    }) {
        facts.push(("last loss".into(), format!("{:.4}", b.loss)));
    }
    match log.records.iter().rev().find_map(|r| match r {
        LogRecord::End(e) => Some(e),
        _ => None,
    }) {
        Some(e) => facts.push((
            "last run ended".into(),
            format!("{:?}", e.outcome).to_lowercase(),
        )),
        None => facts.push(("last run ended".into(), "not (yet)".into())),
    }
    if !log.malformed.is_empty() {
        facts.push((
            "malformed log lines".into(),
            log.malformed.len().to_string(),
        ));
    }
}

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend (empty: none).
    pub name: String,
    /// The points, in order.
    pub points: Vec<(f64, f64)>,
}

/// Every k-th point (and the last) when there are more than `max`.
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let k = points.len().div_ceil(max);
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % k == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

/// The series `plot` draws from `data` (empty when it has none).
pub fn series(plot: Plot, data: &ReportData) -> Vec<Series> {
    let records = data.log.as_ref().map_or(&[][..], |l| &l.records[..]);
    let blocks = || {
        records.iter().filter_map(|r| match r {
            LogRecord::Block(b) => Some(b),
            _ => None,
        })
    };
    let one = |points: Vec<(f64, f64)>| {
        let points: Vec<_> = points
            .into_iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if points.is_empty() {
            Vec::new()
        } else {
            vec![Series {
                name: String::new(),
                points: thin(points, MAX_POINTS),
            }]
        }
    };
    match plot {
        Plot::Loss => one(blocks().map(|b| (b.pairs_seen as f64, b.loss)).collect()),
        Plot::Throughput => one(blocks()
            .map(|b| (b.elapsed_s, b.pairs_per_s / 1e6))
            .collect()),
        Plot::Lr => one(blocks().map(|b| (b.pairs_seen as f64, b.lr)).collect()),
        Plot::Eval => {
            let mut out: Vec<Series> = Vec::new();
            for r in records {
                let LogRecord::Eval(e) = r else { continue };
                if !e.spearman.is_finite() {
                    continue;
                }
                let p = (e.epoch as f64, e.spearman);
                match out.iter_mut().find(|s| s.name == e.set) {
                    Some(s) => s.points.push(p),
                    None => out.push(Series {
                        name: e.set.clone(),
                        points: vec![p],
                    }),
                }
            }
            out
        }
        Plot::RankFrequency => {
            let Some(c) = &data.counts else {
                return Vec::new();
            };
            if c.is_empty() {
                return Vec::new();
            }
            // About RANK_POINTS ranks, evenly spaced in log(rank).
            let n = c.len();
            let step = (n as f64).ln() / RANK_POINTS as f64;
            let mut points = Vec::new();
            let mut last = 0usize;
            for i in 0..=RANK_POINTS {
                let r = ((i as f64 * step).exp().round() as usize).clamp(1, n);
                if r > last {
                    points.push((r as f64, c[r - 1] as f64));
                    last = r;
                }
            }
            if last < n {
                points.push((n as f64, c[n - 1] as f64));
            }
            vec![Series {
                name: String::new(),
                points,
            }]
        }
    }
}

/// Why `plot` has nothing to draw.
fn why_empty(plot: Plot, data: &ReportData) -> &'static str {
    match plot {
        Plot::Eval if data.log.is_some() => "no eval records (train with --eval-pairs FILE...)",
        Plot::RankFrequency => "the vocabulary trained on was not found",
        _ => "no training records",
    }
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The range of `v` with a margin (a flat series gets one too).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    let pad = if span > 0.0 {
        span * 0.05
    } else {
        lo.abs().max(1e-3) * 0.05
    };
    (lo - pad, hi + pad)
}

/// Draws `plot` into `root`.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: Plot,
    data: &ReportData,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let lines = series(plot, data);
    let (xd, yd) = plot.axes();
    if lines.is_empty() {
        let area = root.titled(plot.title(), (FAMILY, 22))?;
        let (w, h) = area.dim_in_pixel();
        let grey = BLACK.mix(0.6);
        let style = TextStyle::from((FAMILY, 18).into_font())
            .color(&grey)
            .pos(Pos::new(HPos::Center, VPos::Center));
        area.draw(&Text::new(
            format!("no data: {}", why_empty(plot, data)),
            (w as i32 / 2, h as i32 / 2),
            style,
        ))?;
        return root.present();
    }
    let all = lines.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let mut chart = ChartBuilder::on(root);
    chart
        .caption(plot.title(), (FAMILY, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(75);
    let fmt = |v: &f64| fmt_num(*v);
    // The axes, labels and grid of either coordinate kind (linear, log).
    macro_rules! mesh {
        ($c:ident) => {
            $c.configure_mesh()
                .x_desc(xd)
                .y_desc(yd)
                .x_label_formatter(&fmt)
                .y_label_formatter(&fmt)
                .label_style((FAMILY, 14))
                .light_line_style(TRANSPARENT)
                .draw()?
        };
    }
    if plot == Plot::RankFrequency {
        let mut c = chart.build_cartesian_2d(
            (1.0..x1.max(2.0)).log_scale(),
            (y0.max(1.0) * 0.8..y1 * 1.25).log_scale(),
        )?;
        mesh!(c);
        c.draw_series(LineSeries::new(
            lines[0].points.iter().copied(),
            Palette99::pick(0).stroke_width(2),
        ))?;
        return root.present();
    }
    let (x0, x1) = if plot == Plot::Eval {
        (x0 - 0.5, x1 + 0.5)
    } else {
        padded(x0, x1)
    };
    let (y0, y1) = padded(y0, y1);
    let mut c = chart.build_cartesian_2d(x0..x1, y0..y1)?;
    mesh!(c);
    for (i, s) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = c.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(2),
        ))?;
        if !s.name.is_empty() {
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        if plot == Plot::Eval {
            c.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
    }
    if lines.iter().any(|s| !s.name.is_empty()) {
        c.configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
    }
    root.present()
}

/// Registers the bundled font with plotters (once).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled font parses (a unit test draws text with it); were
        // it not to, drawing text fails with an error naming the plot.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// The error for a plot that could not be drawn into `path`.
fn draw_err(path: &Path, plot: Plot, e: impl std::fmt::Display) -> Error {
    io_err(path, "draw the report into")(std::io::Error::other(format!(
        "the {} plot: {e}",
        plot.id()
    )))
}

/// `plot` as an SVG document (for the page; `path` names the page in errors).
pub fn svg(plot: Plot, data: &ReportData, path: &Path) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, PLOT_SIZE).into_drawing_area();
        draw(&root, plot, data).map_err(|e| draw_err(path, plot, e))?;
    }
    Ok(out)
}

/// The plots as one PNG: a single plot, or (`grid`) every plot two per row.
pub fn png(plots: &[Plot], data: &ReportData, path: &Path) -> Result<Vec<u8>> {
    register_font();
    let cols = plots.len().clamp(1, 2) as u32;
    let rows = (plots.len() as u32).div_ceil(cols).max(1);
    let (w, h) = (PLOT_SIZE.0 * cols, PLOT_SIZE.1 * rows);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let cells = root.split_evenly((rows as usize, cols as usize));
        for (plot, cell) in plots.iter().zip(&cells) {
            draw(cell, *plot, data).map_err(|e| draw_err(path, *plot, e))?;
        }
        root.present().map_err(|e| draw_err(path, plots[0], e))?;
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Plots are mostly flat colour: the best compression costs little.
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let encode = |e: png::EncodingError| io_err(path, "encode PNG")(std::io::Error::other(e));
        let mut writer = enc.write_header().map_err(encode)?;
        writer.write_image_data(&rgb).map_err(encode)?;
        writer.finish().map_err(encode)?;
    }
    Ok(bytes)
}

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:860px;margin:2em auto;color:#222}\
table{border-collapse:collapse}td,th{padding:2px 12px 2px 0;text-align:left;vertical-align:top}\
th{font-weight:normal;color:#666}section{margin:2em 0}svg{max-width:100%;height:auto}\
.notes{color:#8a4b00}";

/// The report page (`path` names it in errors).
pub fn html(data: &ReportData, path: &Path) -> Result<String> {
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>w2v training report: {m}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>Training report: {m}</h1>\n",
        m = escape(&data.model.display().to_string())
    );
    page.push_str("<table id=\"summary\">\n");
    for (k, v) in &data.facts {
        page.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(k),
            escape(v)
        ));
    }
    page.push_str("</table>\n");
    let mut notes = data.notes.clone();
    if let Some(log) = &data.log {
        if !log.malformed.is_empty() {
            notes.push(format!(
                "{} line(s) of the training log are not records and were left out: {}",
                log.malformed.len(),
                crate::eval::summarize(&log.malformed, 5)
            ));
        }
    }
    if !notes.is_empty() {
        page.push_str("<ul class=\"notes\">\n");
        for n in &notes {
            page.push_str(&format!("<li>{}</li>\n", escape(n)));
        }
        page.push_str("</ul>\n");
    }
    for plot in Plot::ALL {
        page.push_str(&format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n{}\n</section>\n",
            plot.id(),
            escape(plot.title()),
            svg(plot, data, path)?
        ));
    }
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

/// Writes the report `cfg` asks for.
pub fn run(cfg: &ReportConfig) -> Result<ReportSummary> {
    cfg.validate()?;
    // Refuse bad output paths before any work.
    if let Some(h) = &cfg.html {
        check_output_path(h, "report")?;
    }
    if let Some(p) = cfg.png.as_ref().filter(|p| is_png_file(p)) {
        check_output_path(p, "report")?;
    }
    let data = load(&cfg.model)?;
    let mut summary = ReportSummary {
        records: data.log.as_ref().map_or(0, |l| l.records.len()),
        malformed: data
            .log
            .as_ref()
            .map(|l| l.malformed.clone())
            .unwrap_or_default(),
        notes: data.notes.clone(),
        ..Default::default()
    };
    if let Some(h) = &cfg.html {
        write_atomic(h, html(&data, h)?.as_bytes())?;
        summary.written.push(h.clone());
    }
    if let Some(p) = &cfg.png {
        if is_png_file(p) {
            write_atomic(p, &png(&Plot::ALL, &data, p)?)?;
            summary.written.push(p.clone());
        } else {
            std::fs::create_dir_all(p).map_err(io_err(p, "create PNG directory"))?;
            for plot in Plot::ALL {
                let f = p.join(format!("{}.png", plot.id()));
                check_output_path(&f, "report")?;
                write_atomic(&f, &png(&[plot], &data, &f)?)?;
                summary.written.push(f);
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::log::{BlockRecord, EvalRecord};

    fn data(blocks: usize) -> ReportData {
        let mut records = Vec::new();
        for i in 0..blocks {
            records.push(LogRecord::Block(BlockRecord {
                epoch: 1 + (i / 10) as u32,
                pairs_seen: 1000 * (i as u64 + 1),
                elapsed_s: 0.5 * (i as f64 + 1.0),
                loss: 3.0 / (1.0 + i as f64),
                loss_pairs: 100,
                lr: 0.025 * (1.0 - i as f64 / blocks as f64),
                pairs_per_s: 2000.0 + i as f64,
            }));
        }
        for e in 1..=3 {
            records.push(LogRecord::Eval(EvalRecord {
                epoch: e,
                pairs_seen: 0,
                elapsed_s: 0.0,
                set: "hj.csv".into(),
                path: "hj.csv".into(),
                spearman: 0.1 * e as f64,
                pearson: 0.0,
                coverage: [1, 2],
                seconds: 0.0,
            }));
        }
        ReportData {
            model: "model".into(),
            log: Some(TrainLog {
                records,
                ..Default::default()
            }),
            counts: Some((1..=50_000u64).rev().collect()),
            ..Default::default()
        }
    }

    #[test]
    fn series_follow_the_log_and_long_ones_are_thinned() {
        let d = data(30);
        let loss = series(Plot::Loss, &d);
        assert_eq!(loss.len(), 1);
        assert_eq!(loss[0].points.len(), 30);
        assert_eq!(loss[0].points[2], (3000.0, 1.0));
        assert_eq!(
            series(Plot::Eval, &d)[0].points,
            [(1.0, 0.1), (2.0, 0.2), (3.0, 0.30000000000000004)]
        );
        let big = thin((0..12_345).map(|i| (i as f64, 0.0)).collect(), MAX_POINTS);
        assert!(big.len() <= MAX_POINTS + 1 && big.len() > MAX_POINTS / 2);
        assert_eq!(big.last().unwrap().0, 12_344.0);
        // Ranks: log-spaced, from 1 to the last, counts falling.
        let rf = &series(Plot::RankFrequency, &d)[0].points;
        assert_eq!(rf[0], (1.0, 50_000.0));
        assert_eq!(*rf.last().unwrap(), (50_000.0, 1.0));
        assert!(
            rf.len() > 500 && rf.len() <= RANK_POINTS + 2,
            "{}",
            rf.len()
        );
        assert!(rf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 >= w[1].1));
        assert!(series(Plot::Loss, &ReportData::default()).is_empty());
    }

    #[test]
    fn the_bundled_font_draws_text_into_a_png() {
        // Only the caption and the note: without a font these pixels stay white.
        let empty = ReportData::default();
        let bytes = png(&[Plot::Loss], &empty, Path::new("x.png")).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), PLOT_SIZE);
        let dark = buf[..info.buffer_size()]
            .chunks(3)
            .filter(|p| p.iter().all(|&c| c < 160))
            .count();
        assert!(dark > 500, "only {dark} dark pixels: no text drawn");
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let mut d = data(5);
        d.model = "<m&>".into();
        d.notes.push("a \"note\" <b>".into());
        let page = html(&d, Path::new("r.html")).unwrap();
        assert!(page.contains("Training report: &lt;m&amp;&gt;"));
        assert!(page.contains("a &quot;note&quot; &lt;b&gt;"));
        assert_eq!(page.matches("<svg").count(), Plot::ALL.len());
        // Self-contained: nothing run, nothing fetched.
        assert!(!page.contains("<script") && !page.contains(" src=") && !page.contains("href="));
    }
}
