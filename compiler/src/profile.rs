//! Where a compile's time goes, and how far along it is: the stages every function goes
//! through, the [`CompileProgress`] a caller may watch them with, and the [`Profile`] of a
//! compile, pass by pass and function by function.

use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::time::Duration;

/// A stage every defined function goes through, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// wasm to LLVM IR.
    Translate,
    /// The pass pipeline on a copy of the module, to learn which memory loads must stay
    /// where they are (see `translate/dead_loads.rs`). Large modules skip it.
    LoadAnalysis,
    /// The pass pipeline.
    Optimize,
    /// Instruction selection, register allocation, object code.
    Codegen,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Translate,
        Stage::LoadAnalysis,
        Stage::Optimize,
        Stage::Codegen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Translate => "translate",
            Stage::LoadAnalysis => "load analysis",
            Stage::Optimize => "optimize",
            Stage::Codegen => "codegen",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Told how a compile advances, from the threads that do the work (partitions of a large
/// module compile at once, each reporting its own functions).
pub trait CompileProgress: Sync {
    /// The compile has `functions` defined functions, and each goes through `stages`.
    fn start(&self, _functions: usize, _stages: &[Stage]) {}
    /// `stage` is done with one more function.
    fn function_done(&self, _stage: Stage) {}
    /// Whether [`CompileProgress::function_done`] is wanted: when it is, LLVM reports every
    /// pass it runs, which costs a little.
    fn wants_functions(&self) -> bool {
        false
    }
}

/// A [`CompileProgress`] that is not interested.
pub struct NoProgress;

impl CompileProgress for NoProgress {}

/// Where the time of one compile went ([`crate::CompileOptions::profile`]): CPU time of the
/// threads that did the work (partitions of a large module compile at once, so these times
/// add up to more than the wall time).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// Each LLVM pass's own time (without the passes it ran), summed over all its runs, the
    /// most first.
    pub passes: Vec<(String, Duration)>,
    /// Each defined function's time in each stage, the most first. Passes on a group of
    /// functions that call each other count for the first of them; passes on the whole
    /// module for none.
    pub functions: Vec<FunctionProfile>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionProfile {
    /// Index in the wasm function index space.
    pub index: u32,
    times: [Duration; 4],
}

impl FunctionProfile {
    pub fn time(&self, stage: Stage) -> Duration {
        self.times[stage.slot()]
    }

    pub fn total(&self) -> Duration {
        self.times.iter().sum()
    }
}

/// What one partition measures, merged into a [`Profile`] by [`Profile::merge`].
#[derive(Default)]
pub(crate) struct PartitionProfile {
    passes: FxHashMap<String, Duration>,
    functions: FxHashMap<u32, [Duration; 4]>,
}

impl PartitionProfile {
    pub fn add_pass_time(&mut self, pass: &str, time: Duration) {
        match self.passes.get_mut(pass) {
            Some(total) => *total += time,
            None => {
                self.passes.insert(pass.to_string(), time);
            }
        }
    }

    pub fn add_function_time(&mut self, index: u32, stage: Stage, time: Duration) {
        self.functions.entry(index).or_default()[stage.slot()] += time;
    }
}

impl Profile {
    pub(crate) fn merge(parts: impl IntoIterator<Item = PartitionProfile>) -> Profile {
        let mut passes: HashMap<String, Duration> = HashMap::new();
        let mut functions: HashMap<u32, [Duration; 4]> = HashMap::new();
        for part in parts {
            for (pass, time) in part.passes {
                *passes.entry(pass).or_default() += time;
            }
            for (index, times) in part.functions {
                let total = functions.entry(index).or_default();
                for (sum, time) in total.iter_mut().zip(times) {
                    *sum += time;
                }
            }
        }
        let mut passes: Vec<(String, Duration)> = passes.into_iter().collect();
        passes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut functions: Vec<FunctionProfile> = functions
            .into_iter()
            .map(|(index, times)| FunctionProfile { index, times })
            .collect();
        functions.sort_by(|a, b| b.total().cmp(&a.total()).then(a.index.cmp(&b.index)));
        Profile { passes, functions }
    }
}

/// The names the module's name section gives its functions (a module may have none, and a
/// malformed name section is ignored: names only label a profile).
pub fn function_names(wasm: &[u8]) -> HashMap<u32, String> {
    use wasmparser::{KnownCustom, Name, Parser, Payload};
    let mut names = HashMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        let KnownCustom::Name(reader) = section.as_known() else {
            continue;
        };
        for name in reader.into_iter().flatten() {
            if let Name::Function(map) = name {
                names.extend(
                    map.into_iter()
                        .flatten()
                        .map(|n| (n.index, n.name.to_string())),
                );
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompileOptions;
    use std::sync::Mutex;

    const MODULE: &str = r#"(module
        (memory 1)
        (func $sum (param i32) (result i32) (local i32)
          (loop $l
            (local.set 1 (i32.add (local.get 1) (i32.load (local.get 0))))
            (local.set 0 (i32.sub (local.get 0) (i32.const 4)))
            (br_if $l (local.get 0)))
          (local.get 1))
        (func $twice (param i32) (result i32)
          (i32.add (call $sum (local.get 0)) (call $sum (i32.const 64))))
        (func (export "_start") (drop (call $twice (i32.const 128)))))"#;

    #[derive(Default)]
    struct Counter {
        started: Mutex<Option<(usize, Vec<Stage>)>>,
        done: Mutex<HashMap<Stage, usize>>,
    }

    impl CompileProgress for Counter {
        fn start(&self, functions: usize, stages: &[Stage]) {
            *self.started.lock().unwrap() = Some((functions, stages.to_vec()));
        }

        fn function_done(&self, stage: Stage) {
            *self.done.lock().unwrap().entry(stage).or_default() += 1;
        }

        fn wants_functions(&self) -> bool {
            true
        }
    }

    #[test]
    fn progress_counts_every_function_through_every_stage() {
        let wasm = wat::parse_str(MODULE).unwrap();
        for (partitions, light_pipeline) in [(1, false), (2, false), (3, true)] {
            let counter = Counter::default();
            let tuning = crate::codegen::Tuning {
                partitions: Some(partitions),
                light_pipeline,
                ..Default::default()
            };
            crate::compile_tuned(&wasm, &CompileOptions::default(), tuning, &counter).unwrap();
            let (functions, stages) = counter.started.lock().unwrap().clone().unwrap();
            assert_eq!(functions, 3);
            assert_eq!(stages.contains(&Stage::LoadAnalysis), !light_pipeline);
            let done = counter.done.lock().unwrap();
            for stage in &stages {
                assert_eq!(
                    done.get(stage),
                    Some(&3),
                    "{stage:?} in {partitions} partitions"
                );
            }
            assert_eq!(done.len(), stages.len());
        }
    }

    #[test]
    fn a_profiled_compile_makes_the_same_object_and_names_passes_and_functions() {
        let wasm = wat::parse_str(MODULE).unwrap();
        let plain = crate::compile(&wasm, &CompileOptions::default()).unwrap();
        assert!(plain.profile.is_none());
        let options = CompileOptions {
            profile: true,
            ..CompileOptions::default()
        };
        let profiled = crate::compile(&wasm, &options).unwrap();
        assert_eq!(plain.object, profiled.object);
        let profile = profiled.profile.unwrap();
        let passes: Vec<&str> = profile.passes.iter().map(|(p, _)| p.as_str()).collect();
        for pass in ["InstCombinePass", "SROAPass", "mewz: settle loads"] {
            assert!(passes.contains(&pass), "{pass} missing from {passes:?}");
        }
        // `_start` (function 2) stays; the others may be inlined into it, but each was
        // translated.
        let indices: Vec<u32> = profile.functions.iter().map(|f| f.index).collect();
        assert_eq!(indices.len(), 3, "{indices:?}");
        let start = profile.functions.iter().find(|f| f.index == 2).unwrap();
        assert!(start.total() >= start.time(Stage::Optimize));
        assert!(!start.time(Stage::Optimize).is_zero());
    }

    #[test]
    fn partitions_merge_into_one_profile_sorted_by_time() {
        let ms = Duration::from_millis;
        let mut a = PartitionProfile::default();
        a.add_pass_time("InstCombinePass", ms(5));
        a.add_pass_time("GVNPass", ms(2));
        a.add_function_time(3, Stage::Optimize, ms(4));
        a.add_function_time(3, Stage::Codegen, ms(1));
        let mut b = PartitionProfile::default();
        b.add_pass_time("GVNPass", ms(7));
        b.add_function_time(9, Stage::Translate, ms(2));
        let profile = Profile::merge([a, b]);
        assert_eq!(
            profile.passes,
            [
                ("GVNPass".to_string(), ms(9)),
                ("InstCombinePass".into(), ms(5))
            ]
        );
        assert_eq!(profile.functions[0].index, 3);
        assert_eq!(profile.functions[0].total(), ms(5));
        assert_eq!(profile.functions[0].time(Stage::Codegen), ms(1));
        assert_eq!(profile.functions[1].index, 9);
    }

    #[test]
    fn names_come_from_the_name_section() {
        let wasm = wat::parse_str(
            r#"(module (import "env" "f" (func $imported)) (func $first) (func) (func $third))"#,
        )
        .unwrap();
        let names = function_names(&wasm);
        assert_eq!(names.get(&0).map(String::as_str), Some("imported"));
        assert_eq!(names.get(&1).map(String::as_str), Some("first"));
        assert_eq!(names.get(&2), None);
        assert_eq!(names.get(&3).map(String::as_str), Some("third"));
        // A name section that promises five names and ends after the first index.
        let truncated = b"\0asm\x01\0\0\0\x00\x09\x04name\x01\x02\x05\x00";
        assert!(function_names(truncated).is_empty());
    }
}
