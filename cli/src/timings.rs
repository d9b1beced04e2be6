//! `--timings`: where a compile's time went, stage by stage, pass by pass and function by
//! function (the slowest of each), to find what makes a module slow to compile.

use mewz_compiler::{Profile, Stage};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

/// How many passes and functions the report names.
const SHOWN: usize = 12;
/// Function names (demangled Rust and C++ ones can be long) are cut to this many characters.
const NAME_CHARS: usize = 70;

/// The report: the stages (`stages`, wall time), then the passes and functions that took the
/// most time. `names` are the module's function names (its name section).
pub fn report(
    stages: &[(&'static str, Duration)],
    profile: &Profile,
    names: &HashMap<u32, String>,
) -> String {
    let mut out = String::new();
    let total: Duration = stages.iter().map(|(_, t)| *t).sum();
    let _ = writeln!(out, "stages (wall time, {:.3} s in all):", secs(total));
    for (stage, time) in stages {
        let _ = writeln!(out, "  {:>9.3} s  {stage}", secs(*time));
    }
    let pass_total: Duration = profile.passes.iter().map(|(_, t)| *t).sum();
    let _ = writeln!(
        out,
        "passes (LLVM's, and mewz's own steps between them; own CPU time over all runs and threads, {:.3} s in all; the slowest {}):",
        secs(pass_total),
        SHOWN.min(profile.passes.len())
    );
    for (pass, time) in profile.passes.iter().take(SHOWN) {
        let share = 100.0 * secs(*time) / secs(pass_total).max(1e-9);
        let _ = writeln!(out, "  {:>9.3} s  {share:5.1}%  {pass}", secs(*time));
    }
    let _ = writeln!(
        out,
        "functions (CPU time in all stages; the slowest {} of {}):",
        SHOWN.min(profile.functions.len()),
        profile.functions.len()
    );
    for function in profile.functions.iter().take(SHOWN) {
        let name = names
            .get(&function.index)
            .map(|n| format!(" {}", shorten(n)))
            .unwrap_or_default();
        let parts: Vec<String> = Stage::ALL
            .iter()
            .filter(|&&s| !function.time(s).is_zero())
            .map(|&s| format!("{} {:.3}", s.name(), secs(function.time(s))))
            .collect();
        let _ = writeln!(
            out,
            "  {:>9.3} s  #{}{name}  ({})",
            secs(function.total()),
            function.index,
            parts.join(", ")
        );
    }
    out
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= NAME_CHARS {
        return name.to_string();
    }
    let kept: String = name.chars().take(NAME_CHARS - 3).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut() {
        assert_eq!(shorten("main"), "main");
        let long = "x".repeat(200);
        assert_eq!(shorten(&long).chars().count(), NAME_CHARS);
        assert!(shorten(&long).ends_with("..."));
    }
}
