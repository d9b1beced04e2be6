//! The progress bar of a long compile (indicatif): functions done out of all, stage by stage,
//! on stderr. It appears only when stderr is a terminal and once the compile has taken a
//! second, and it is gone when the compile ends: logs keep the one line per stage.

use indicatif::{ProgressBar, ProgressStyle};
use mewz_compiler::{CompileProgress, Stage};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Compiles shorter than this show no bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

pub struct CompileBar {
    /// Whether stderr is a terminal (otherwise the bar never shows, and LLVM need not report).
    terminal: bool,
    started: Instant,
    functions: AtomicUsize,
    stages: Mutex<Vec<Stage>>,
    done: [AtomicUsize; Stage::ALL.len()],
    bar: OnceLock<ProgressBar>,
}

impl CompileBar {
    pub fn new() -> CompileBar {
        CompileBar {
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            functions: AtomicUsize::new(0),
            stages: Mutex::new(Vec::new()),
            done: Default::default(),
            bar: OnceLock::new(),
        }
    }

    /// Removes the bar, if it showed.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }

    fn show(&self) -> Option<&ProgressBar> {
        if !self.terminal || self.started.elapsed() < SHOW_AFTER {
            return self.bar.get();
        }
        Some(self.bar.get_or_init(|| {
            let stages = self.stages.lock().map_or(1, |s| s.len().max(1));
            let bar = ProgressBar::new((self.functions.load(Ordering::Relaxed) * stages) as u64)
                .with_elapsed(self.started.elapsed());
            bar.set_style(
                ProgressStyle::with_template(" compile  [{bar:30}] {msg} ({elapsed})")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        }))
    }
}

impl Default for CompileBar {
    fn default() -> Self {
        Self::new()
    }
}

impl CompileProgress for CompileBar {
    fn start(&self, functions: usize, stages: &[Stage]) {
        self.functions.store(functions, Ordering::Relaxed);
        if let Ok(mut known) = self.stages.lock() {
            *known = stages.to_vec();
        }
    }

    fn function_done(&self, stage: Stage) {
        let slot = Stage::ALL.iter().position(|&s| s == stage).unwrap_or(0);
        let done = self.done[slot].fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = self.show() {
            let all: usize = self.done.iter().map(|d| d.load(Ordering::Relaxed)).sum();
            bar.set_position(all as u64);
            bar.set_message(format!(
                "{} {done}/{} functions",
                stage.name(),
                self.functions.load(Ordering::Relaxed)
            ));
        }
    }

    fn wants_functions(&self) -> bool {
        self.terminal
    }
}
