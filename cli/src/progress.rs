//! Progress for long work: an `indicatif` bar on a terminal, one line per step with
//! `--progress=plain`, nothing on a pipe or with `--progress=none`.
//!
//! Progress always goes to stderr, so stdout carries only the command's result (text or one
//! JSON document) and can be piped.
//!
//! Invariants: in `Plain` and `Off` modes no terminal escape code is ever written; a bar is
//! drawn only when stderr is a terminal, and `finish` draws it once more at its final position
//! (100% when the work completed).
//!
//! Thread safety: a [`Task`] is used by the thread doing the work; `indicatif` ticks a spinner
//! from its own thread.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// The `--progress` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, nothing otherwise.
    #[default]
    Auto,
    /// One plain line per step on stderr, never an escape code (for logs).
    Plain,
    /// Nothing.
    None,
}

/// What a progress position counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Items,
}

/// How progress is shown for this run, decided once from the option and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Bar,
    Plain,
    Off,
}

/// The pure decision: a bar needs a terminal.
pub fn decide(mode: ProgressMode, stderr_is_terminal: bool) -> Shown {
    match mode {
        ProgressMode::Auto if stderr_is_terminal => Shown::Bar,
        ProgressMode::Auto | ProgressMode::None => Shown::Off,
        ProgressMode::Plain => Shown::Plain,
    }
}

/// The progress reporter of one run.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    shown: Shown,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Self {
        Self { shown: decide(mode, std::io::stderr().is_terminal()) }
    }

    /// A task of `total` units (bytes show rate and ETA in bytes).
    pub fn task(&self, label: &str, total: u64, unit: Unit) -> Task {
        let bar = (self.shown == Shown::Bar).then(|| {
            let template = match unit {
                Unit::Bytes => "{msg:.bold} [{bar:30}] {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                Unit::Items => "{msg:.bold} [{bar:30}] {percent:>3}% {human_pos}/{human_len} {rate} ETA {eta}",
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", s.per_sec());
                })
                .progress_chars("=> ");
            let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
            pb.set_message(label.to_string());
            pb
        });
        let task = Task { bar, plain: self.shown == Shown::Plain, label: label.to_string(), total, unit };
        if total > 0 {
            task.line(&format!("started ({})", task.amount(total)));
        } else {
            task.line("started");
        }
        task
    }

    /// A task of unknown length (a library call with no progress of its own): a spinner with
    /// the elapsed time.
    pub fn spinner(&self, label: &str) -> Task {
        let bar = (self.shown == Shown::Bar).then(|| {
            let style = ProgressStyle::with_template("{spinner} {msg:.bold} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
            pb.set_message(label.to_string());
            pb.enable_steady_tick(Duration::from_millis(100));
            pb
        });
        let task =
            Task { bar, plain: self.shown == Shown::Plain, label: label.to_string(), total: 0, unit: Unit::Items };
        task.line("started");
        task
    }
}

/// One long piece of work. Clones share the bar, so a library's progress callback (which must
/// be `'static`) can hold one while the command keeps another to finish it.
#[derive(Debug, Clone)]
pub struct Task {
    bar: Option<ProgressBar>,
    plain: bool,
    label: String,
    total: u64,
    unit: Unit,
}

impl Task {
    fn amount(&self, n: u64) -> String {
        match self.unit {
            Unit::Bytes => format!("{n} bytes"),
            Unit::Items => format!("{n} items"),
        }
    }

    fn line(&self, what: &str) {
        if self.plain {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}: {what}", self.label);
        }
    }

    /// Advances by `n` units.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Moves the bar to `done` of `total` (a library's callback reports absolute counts); in
    /// plain mode, one line.
    pub fn report(&self, done: u64, total: u64, what: &str) {
        if let Some(b) = &self.bar {
            if b.length() != Some(total) {
                b.set_length(total);
            }
            b.set_position(done);
        }
        self.line(what);
    }

    /// A step worth a line in plain mode (a file verified, a phase begun); the bar shows it as
    /// its message.
    pub fn step(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{}: {what}", self.label));
        }
        self.line(what);
    }

    /// Ends the task: the bar is drawn once more at its final position and left on screen.
    pub fn finish(self, what: &str) {
        if let Some(b) = &self.bar {
            if let Some(len) = b.length() {
                b.set_position(len.max(self.total));
            }
            b.set_message(format!("{}: {what}", self.label));
            b.finish();
        }
        self.line(what);
    }

    /// Ends the task after a failure: the bar is cleared so the error line stands alone.
    pub fn abandon(self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        self.line("stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_needs_a_terminal_and_plain_never_draws_one() {
        assert_eq!(decide(ProgressMode::Auto, true), Shown::Bar);
        assert_eq!(decide(ProgressMode::Auto, false), Shown::Off);
        assert_eq!(decide(ProgressMode::Plain, true), Shown::Plain);
        assert_eq!(decide(ProgressMode::Plain, false), Shown::Plain);
        assert_eq!(decide(ProgressMode::None, true), Shown::Off);
    }
}
