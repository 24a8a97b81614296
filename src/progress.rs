//! Progress reporting for long stages.
//!
//! The library takes a cheap, cloneable [`Progress`] handle. It has three
//! backends: an indicatif bar when stderr is a TTY, JSON lines on stderr
//! otherwise (or when asked), and silent (tests). Counters are atomics and
//! workers only call [`Stage::inc`]; drawing is throttled by the backend.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Which backend renders progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// indicatif bar on stderr.
    Bar,
    /// One JSON object per line on stderr, at most once a second per stage.
    Json,
    /// Plain `key=value` lines on stderr, at most once a second per stage.
    Plain,
    /// Nothing at all.
    Silent,
}

/// Cloneable handle passed into every stage.
#[derive(Clone)]
pub struct Progress {
    mode: Mode,
}

impl Progress {
    /// A handle with an explicit backend.
    pub fn new(mode: Mode) -> Self {
        Progress { mode }
    }

    /// Bar on a TTY, JSON lines otherwise.
    pub fn auto() -> Self {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Progress::new(Mode::Bar)
        } else {
            Progress::new(Mode::Json)
        }
    }

    /// The handle a `--progress` value names (`auto`, `bar`, `json`,
    /// `plain`, `silent`); `None` for any other name.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "auto" => Progress::auto(),
            "bar" => Progress::new(Mode::Bar),
            "json" => Progress::new(Mode::Json),
            "plain" => Progress::new(Mode::Plain),
            "silent" => Progress::silent(),
            _ => return None,
        })
    }

    /// A handle that reports nothing.
    pub fn silent() -> Self {
        Progress::new(Mode::Silent)
    }

    /// The backend in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts a stage counting `total` units (0 when unknown).
    pub fn stage(&self, name: &str, total: u64, unit: &str) -> Stage {
        self.stage_from(name, total, unit, 0)
    }

    /// Starts a stage with `done` of its `total` units already done (a
    /// resumed run): they show as done, but the rate and the ETA count only
    /// the work from here on.
    pub fn stage_from(&self, name: &str, total: u64, unit: &str, done: u64) -> Stage {
        let bar = if self.mode == Mode::Bar {
            // Hidden while the resumed position is recorded, so that no
            // frame shows the jump to it as a rate.
            let bar = ProgressBar::with_draw_target(
                Some(if total == 0 { u64::MAX } else { total }),
                ProgressDrawTarget::hidden(),
            );
            bar.set_position(done);
            bar.reset_eta();
            bar.set_draw_target(ProgressDrawTarget::stderr());
            // An unknown total (stdin) gets a count and a rate, no bar or ETA.
            let tmpl = match (unit == "bytes", total == 0) {
                (true, false) => "{prefix:>6} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
                (true, true) => "{prefix:>6} [{elapsed_precise}] {spinner} {bytes} {binary_bytes_per_sec} {msg}",
                (false, false) => "{prefix:>6} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {rate} eta {eta} {msg}",
                (false, true) => "{prefix:>6} [{elapsed_precise}] {spinner} {human_pos} {rate} {msg}",
            };
            // The rate of this process's work: indicatif's own, and at the
            // end, when it would divide every unit (a resumed run's too) by
            // this process's time, the units done here over that time.
            bar.set_style(
                ProgressStyle::with_template(tmpl)
                    .expect("static template")
                    .with_key(
                        "rate",
                        move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                            let rate = if s.is_finished() {
                                s.pos().saturating_sub(done) as f64
                                    / s.elapsed().as_secs_f64().max(1e-9)
                            } else {
                                s.per_sec()
                            };
                            let _ = w.write_str(&human_rate(rate));
                            let _ = w.write_str("/s");
                        },
                    ),
            );
            bar.set_prefix(name.to_string());
            Some(bar)
        } else {
            None
        };
        Stage {
            inner: Arc::new(StageInner {
                name: name.to_string(),
                unit: unit.to_string(),
                mode: self.mode,
                total: AtomicU64::new(total),
                done: AtomicU64::new(done),
                base: done,
                start: Instant::now(),
                last_emit: Mutex::new(Instant::now()),
                message: Mutex::new(String::new()),
                bar,
            }),
        }
    }

    /// A one-off warning or note (not for hot loops).
    pub fn warn(&self, message: &str) {
        match self.mode {
            Mode::Silent => {}
            Mode::Json => {
                emit_line(&serde_json::json!({"level": "warn", "message": message}).to_string())
            }
            Mode::Bar | Mode::Plain => emit_line(&format!("w2v: warning: {message}")),
        }
    }

    /// A one-off informational line.
    pub fn info(&self, message: &str) {
        match self.mode {
            Mode::Silent => {}
            Mode::Json => {
                emit_line(&serde_json::json!({"level": "info", "message": message}).to_string())
            }
            Mode::Bar | Mode::Plain => emit_line(&format!("w2v: {message}")),
        }
    }
}

fn emit_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

struct StageInner {
    name: String,
    unit: String,
    mode: Mode,
    total: AtomicU64,
    done: AtomicU64,
    /// Units already done when this process started (a resumed run); the
    /// rate and the ETA count only what this process does.
    base: u64,
    start: Instant,
    last_emit: Mutex<Instant>,
    message: Mutex<String>,
    bar: Option<ProgressBar>,
}

/// One running stage; cloneable and shareable across worker threads.
#[derive(Clone)]
pub struct Stage {
    inner: Arc<StageInner>,
}

impl Stage {
    /// Adds `n` units of work done.
    pub fn inc(&self, n: u64) {
        let done = self.inner.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.inner.bar {
            bar.set_position(done);
        } else if matches!(self.inner.mode, Mode::Json | Mode::Plain) {
            self.maybe_emit(false);
        }
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.inner.done.load(Ordering::Relaxed)
    }

    /// Sets the total when it becomes known.
    pub fn set_total(&self, total: u64) {
        self.inner.total.store(total, Ordering::Relaxed);
        if let Some(bar) = &self.inner.bar {
            bar.set_length(total);
        }
    }

    /// Sets the free-form status (e.g. "epoch 2/5 loss 2.31 lr 0.02").
    pub fn message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(bar) = &self.inner.bar {
            bar.set_message(msg.clone());
        }
        *self.inner.message.lock().expect("progress lock") = msg;
    }

    /// Ends the stage, printing a final line in the line-based modes. A
    /// stage stopped short (an interrupt, an error) or of unknown size keeps
    /// its position: `finish` would set it to the total (100%, or 16 EiB).
    pub fn finish(&self) {
        if let Some(bar) = &self.inner.bar {
            let total = self.inner.total.load(Ordering::Relaxed);
            if total == 0 || self.done() < total {
                bar.abandon();
            } else {
                bar.finish();
            }
        } else if matches!(self.inner.mode, Mode::Json | Mode::Plain) {
            self.maybe_emit(true);
        }
    }

    fn maybe_emit(&self, force: bool) {
        let mut last = self.inner.last_emit.lock().expect("progress lock");
        if !force && last.elapsed() < emit_interval(self.inner.start.elapsed()) {
            return;
        }
        *last = Instant::now();
        emit_line(&self.line(force));
    }

    /// The plain or JSON progress line.
    fn line(&self, force: bool) -> String {
        let done = self.inner.done.load(Ordering::Relaxed);
        let total = self.inner.total.load(Ordering::Relaxed);
        let secs = self.inner.start.elapsed().as_secs_f64();
        let fresh = done.saturating_sub(self.inner.base);
        let rate = if secs > 0.0 { fresh as f64 / secs } else { 0.0 };
        let eta = if total > done && rate > 0.0 {
            (total - done) as f64 / rate
        } else {
            0.0
        };
        let msg = self.inner.message.lock().expect("progress lock").clone();
        if self.inner.mode == Mode::Json {
            serde_json::json!({
                "stage": self.inner.name, "unit": self.inner.unit, "done": done, "total": total,
                "rate": (rate * 10.0).round() / 10.0, "eta_s": eta.round(), "elapsed_s": (secs * 10.0).round() / 10.0,
                "message": msg, "finished": force,
            })
            .to_string()
        } else {
            format!(
                "{} done={} total={} rate={:.0}/s elapsed={} eta={} {}",
                self.inner.name,
                done,
                total,
                rate,
                human_secs(secs),
                human_secs(eta),
                msg
            )
        }
    }
}

/// Time between plain or JSON progress lines: every second for the first
/// minute, then every 10 s, and every minute after an hour, so an
/// hours-long run logs hundreds of lines, not tens of thousands.
fn emit_interval(elapsed: Duration) -> Duration {
    Duration::from_secs(match elapsed.as_secs() {
        0..60 => 1,
        60..3600 => 10,
        _ => 60,
    })
}

/// `950`, `12.3k`, `4.56M`: a rate as a person reads it (the bar's own
/// `{per_sec}` prints `4,032,482.9388`).
fn human_rate(r: f64) -> String {
    match r {
        r if !r.is_finite() || r < 0.0 => "-".into(),
        r if r >= 1e9 => format!("{:.2}G", r / 1e9),
        r if r >= 1e6 => format!("{:.2}M", r / 1e6),
        r if r >= 1e3 => format!("{:.1}k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

/// `42s`, `12m05s`, `3h07m`.
fn human_secs(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_long_runs_read_as_hours_and_log_less_often() {
        assert_eq!(human_secs(42.4), "42s");
        assert_eq!(human_secs(725.0), "12m05s");
        assert_eq!(human_secs(3.0 * 3600.0 + 7.0 * 60.0 + 59.0), "3h07m");
        assert_eq!(
            emit_interval(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
        assert_eq!(
            emit_interval(Duration::from_secs(600)),
            Duration::from_secs(10)
        );
        assert_eq!(
            emit_interval(Duration::from_secs(7200)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn rates_read_in_si_units() {
        assert_eq!(human_rate(950.4), "950");
        assert_eq!(human_rate(12_345.0), "12.3k");
        assert_eq!(human_rate(4_032_482.938_8), "4.03M");
        assert_eq!(human_rate(2.5e9), "2.50G");
        assert_eq!(human_rate(f64::NAN), "-");
    }

    #[test]
    fn a_resumed_stage_counts_its_rate_from_where_it_resumed() {
        // A resumed run said 4,487,696,111 pairs/s: the pairs done before
        // the checkpoint counted as done in this process's first instant.
        let s =
            Progress::new(Mode::Json).stage_from("train", 2_000_000_000, "pairs", 1_000_000_000);
        std::thread::sleep(Duration::from_millis(50));
        s.inc(10);
        assert_eq!(s.done(), 1_000_000_010);
        let line: serde_json::Value = serde_json::from_str(&s.line(false)).unwrap();
        let rate = line["rate"].as_f64().unwrap();
        assert!(rate > 0.0 && rate <= 10.0 / 0.05, "{line}");
        assert_eq!(line["done"], 1_000_000_010u64, "{line}");
    }

    #[test]
    fn a_stage_counts_past_u32() {
        // 20B pairs in 4B steps: a u32 counter would wrap.
        let s = Progress::silent().stage("train", 20_000_000_000, "pairs");
        for _ in 0..5 {
            s.inc(4_000_000_000);
        }
        assert_eq!(s.done(), 20_000_000_000);
        s.set_total(25_000_000_000);
        assert_eq!(s.inner.total.load(Ordering::Relaxed), 25_000_000_000);
        s.finish();
    }
}
