//! LLVM setup, the pass pipeline (named once, here) and object emission.

use crate::call_graph::CallGraph;
use crate::env::{Env, add_function_attribute, function_symbol};
use crate::error::CompileError;
use crate::module_info::ModuleInfo;
use crate::observe::{Observer, emit_object, run_passes};
use crate::partition::{Partition, partitions};
use crate::profile::{CompileProgress, PartitionProfile, Profile, Stage};
use crate::translate::{
    FunctionTranslator, keep_loads_whole, settle_loads, settle_loads_in_place, strip_base_copies,
};
use crate::{CompileOptions, Target};
use inkwell::OptimizationLevel;
use inkwell::attributes::AttributeLoc;
use inkwell::context::Context;
use inkwell::targets::{
    CodeModel, InitializationConfig, RelocMode, Target as LlvmTarget, TargetMachine, TargetTriple,
};
use std::collections::HashSet;
use std::sync::Once;
use std::time::{Duration, Instant};

/// Function code beyond which `-O2`/`-O3` use the light pipeline, and skip the load
/// analysis's copy of the module. The full pipeline and its copy took 18 s of CPU for a Rust
/// HTML rewriter of 410 KiB of code, the light one 4.5 s; the object ran 4% more
/// instructions (callgrind) on the rewriter's own work: code that reaches us as wasm was
/// inlined and optimised by its producer already.
pub const LIGHT_PIPELINE_BYTES: usize = 256 * 1024;

/// Function code beyond which modules use the fast back end for most functions (see
/// [`FAST_BACKEND_FUNCTION_BYTES`]). Not below: the fast back end's code ran 26% more
/// instructions than the full one's on the HTML rewriter.
pub const LARGE_MODULE_BYTES: usize = 1024 * 1024;

/// In modules over [`LARGE_MODULE_BYTES`], functions with at least this much code are
/// compiled by the back end as `optnone` (after the IR pipeline has run on them): fast
/// instruction selection and no machine-level optimisations, but still the greedy register
/// allocator. SelectionDAG instruction selection and scheduling were two thirds of a Go
/// hello's 15 s of code generation; this halves it, for code about 10% larger. Tiny functions
/// (accessors, the hottest leaves) keep the full back end: they cost little to compile.
const FAST_BACKEND_FUNCTION_BYTES: usize = 256;

/// Functions with at least this much code skip vectorization (`noimplicitfloat`) and get the
/// fast back end in any module: the SLP vectorizer's scheduler is quadratic in block size (a
/// 137 KiB function with 10000 values live across a call spent 140 s there) and so is the
/// full back end's scheduling.
pub const HUGE_FUNCTION_BYTES: usize = 64 * 1024;

/// Overrides of the size-based code generation choices (tests force each path).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tuning {
    /// Number of parallel partitions instead of one per core.
    pub partitions: Option<usize>,
    /// Functions from this many code bytes get the fast back end, whatever the module size.
    pub fast_backend_function_bytes: Option<usize>,
    /// The light pipeline at `-O2`/`-O3`, whatever the module size.
    pub light_pipeline: bool,
}

/// The optimisation pipeline, named here only: LLVM's standard `default<On>`, or for large
/// modules a light one (promote locals, CSE, combine, simplify control flow) that keeps
/// most of the benefit at a tenth of the cost. The light one ends by deleting dead code
/// (`adce`), which tells the loads nothing uses (`translate/dead_loads.rs`).
pub fn pass_pipeline(opt_level: u8, light: bool) -> String {
    if light {
        return "function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg,adce)"
            .to_string();
    }
    format!("default<O{}>", opt_level.min(3))
}

fn light_pipeline(opt_level: u8, code_bytes: usize, tuning: Tuning) -> bool {
    opt_level >= 2 && (tuning.light_pipeline || code_bytes > LIGHT_PIPELINE_BYTES)
}

fn initialize_llvm() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let config = InitializationConfig::default();
        LlvmTarget::initialize_x86(&config);
        LlvmTarget::initialize_aarch64(&config);
        // LICM would otherwise keep a location a loop stores to in a register and store it
        // once on the way out: a store out of bounds would trap only then, after the rest of
        // the loop's effects (wasm traps at the first one). Costs nothing measurable.
        let args = [c"mewz".as_ptr(), c"-disable-licm-promotion".as_ptr()];
        // SAFETY: two NUL-terminated strings that outlive the call; LLVM options are set
        // once, before any pass runs (this is inside the `Once`).
        unsafe {
            inkwell::llvm_sys::support::LLVMParseCommandLineOptions(
                args.len() as i32,
                args.as_ptr(),
                std::ptr::null(),
            )
        };
    });
}

pub fn target_machine(opts: &CompileOptions) -> Result<TargetMachine, CompileError> {
    initialize_llvm();
    let target: Target = opts.target;
    let triple = TargetTriple::create(target.triple_str());
    let llvm_target =
        LlvmTarget::from_triple(&triple).map_err(|e| CompileError::Backend(e.to_string()))?;
    let (default_cpu, default_features) = target.default_cpu();
    let host_cpu;
    let host_features;
    let tuned_features;
    let (cpu, features) = match opts.cpu.as_deref() {
        // Only on request: the default never depends on the build machine.
        Some("native") => {
            host_cpu = TargetMachine::get_host_cpu_name().to_string();
            host_features = TargetMachine::get_host_cpu_features().to_string();
            (host_cpu.as_str(), host_features.as_str())
        }
        Some(cpu) => (cpu, ""),
        None => {
            let tuning = target.default_tuning().map_or("", |t| t.features);
            tuned_features = [default_features, tuning]
                .into_iter()
                .filter(|f| !f.is_empty())
                .collect::<Vec<_>>()
                .join(",");
            (default_cpu, tuned_features.as_str())
        }
    };
    if opts.cpu.as_deref() != Some("native") && !llvm_target_knows_cpu(target, cpu) {
        return Err(CompileError::Backend(format!(
            "unknown CPU `{cpu}` for target {}",
            target.name()
        )));
    }
    let level = match opts.opt_level {
        0 => OptimizationLevel::None,
        1 => OptimizationLevel::Less,
        2 => OptimizationLevel::Default,
        _ => OptimizationLevel::Aggressive,
    };
    let reloc = if target.is_pic() {
        RelocMode::PIC
    } else {
        RelocMode::Static
    };
    llvm_target
        .create_target_machine(&triple, cpu, features, level, reloc, CodeModel::Small)
        .ok_or_else(|| CompileError::Backend(format!("cannot create a target machine for {cpu}")))
}

/// LLVM accepts unknown CPU names with a warning on stderr and generic code; reject them
/// instead so a typo in `--cpu` is an error.
fn llvm_target_knows_cpu(target: Target, cpu: &str) -> bool {
    if cpu == "generic" {
        return true;
    }
    let x86 = [
        "x86-64",
        "x86-64-v2",
        "x86-64-v3",
        "x86-64-v4",
        "native",
        "nehalem",
        "westmere",
        "sandybridge",
        "ivybridge",
        "haswell",
        "broadwell",
        "skylake",
        "skylake-avx512",
        "cascadelake",
        "icelake-server",
        "icelake-client",
        "tigerlake",
        "alderlake",
        "sapphirerapids",
        "znver1",
        "znver2",
        "znver3",
        "znver4",
        "k8",
        "btver2",
    ];
    let arm = [
        "cortex-a53",
        "cortex-a55",
        "cortex-a57",
        "cortex-a72",
        "cortex-a76",
        "neoverse-n1",
        "neoverse-n2",
        "neoverse-v1",
        "apple-m1",
        "apple-m2",
        "a64fx",
        "ampere1",
        "native",
        "cortex-a710",
        "cortex-x1",
        "max",
    ];
    if target.is_x86() {
        x86.contains(&cpu)
    } else {
        arm.contains(&cpu)
    }
}

pub struct Output {
    pub object: Vec<u8>,
    pub llvm_ir: Option<String>,
    pub profile: Option<Profile>,
}

/// What one partition's compile makes.
struct PartitionOutput {
    object: Vec<u8>,
    llvm_ir: Option<String>,
    stage_times: StageTimes,
    profile: Option<PartitionProfile>,
}

/// How every partition of one module is compiled.
#[derive(Clone, Copy)]
struct Plan<'a> {
    opts: &'a CompileOptions,
    /// Functions that must not be inlined (indices of defined functions; see `inlining.rs`).
    kept_apart: &'a HashSet<usize>,
    fast_backend_from: Option<usize>,
    light: bool,
    progress: &'a dyn CompileProgress,
}

pub fn compile_module(
    info: &ModuleInfo<'_>,
    opts: &CompileOptions,
    timings: &mut Vec<(&'static str, Duration)>,
    tuning: Tuning,
    progress: &dyn CompileProgress,
) -> Result<Output, CompileError> {
    let graph = CallGraph::scan(info)?;
    let bytes: usize = graph.sizes.iter().sum();
    let kept_apart = crate::inlining::kept_apart(&graph);
    let partitions = partitions(info, &graph, &kept_apart, tuning.partitions);
    let plan = Plan {
        opts,
        kept_apart: &kept_apart,
        fast_backend_from: tuning
            .fast_backend_function_bytes
            .or((bytes > LARGE_MODULE_BYTES).then_some(FAST_BACKEND_FUNCTION_BYTES)),
        light: light_pipeline(opts.opt_level, bytes, tuning),
        progress,
    };
    let stages: Vec<Stage> = Stage::ALL
        .into_iter()
        .filter(|&s| s != Stage::LoadAnalysis || !plan.light)
        .collect();
    progress.start(info.bodies.len(), &stages);
    if let [whole] = &partitions[..] {
        let output = compile_partition(info, plan, whole.clone())?;
        timings.extend(output.stage_times);
        return Ok(Output {
            object: output.object,
            llvm_ir: output.llvm_ir,
            profile: output.profile.map(|p| Profile::merge([p])),
        });
    }
    // Each partition gets its own thread, LLVM context and target machine.
    let results: Vec<Result<PartitionOutput, CompileError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = partitions
            .into_iter()
            .map(|p| {
                // LLVM recurses on deep control flow; give it a main-thread-sized stack.
                std::thread::Builder::new()
                    .stack_size(PARTITION_STACK_BYTES)
                    .spawn_scoped(scope, move || compile_partition(info, plan, p))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(CompileError::Backend(
                        "a code generation thread panicked".into(),
                    ))
                }),
                Err(e) => Err(CompileError::Backend(format!(
                    "cannot start a code generation thread: {e}"
                ))),
            })
            .collect()
    });
    let mut objects = Vec::new();
    let mut llvm_ir: Option<String> = None;
    let mut slowest: Vec<(&'static str, Duration)> = Vec::new();
    let mut profiles = Vec::new();
    for result in results {
        let output = result?;
        for (stage, t) in output.stage_times {
            match slowest.iter_mut().find(|(s, _)| *s == stage) {
                Some((_, max)) => *max = (*max).max(t),
                None => slowest.push((stage, t)),
            }
        }
        if let Some(ir) = output.llvm_ir {
            llvm_ir.get_or_insert_with(String::new).push_str(&ir);
        }
        profiles.extend(output.profile);
        objects.push(output.object);
    }
    timings.extend(slowest);
    let started = Instant::now();
    let object = crate::merge::merge_objects(&objects)?;
    timings.push(("merge", started.elapsed()));
    Ok(Output {
        object,
        llvm_ir,
        profile: opts.profile.then(|| Profile::merge(profiles)),
    })
}

const PARTITION_STACK_BYTES: usize = 16 * 1024 * 1024;

type StageTimes = Vec<(&'static str, Duration)>;

fn compile_partition(
    info: &ModuleInfo<'_>,
    plan: Plan<'_>,
    partition: Partition,
) -> Result<PartitionOutput, CompileError> {
    let opts = plan.opts;
    let mut timings = Vec::new();
    let machine = target_machine(opts)?;
    let context = Context::create();
    let started = Instant::now();
    let defines_state = partition.defines_state();
    let functions = partition.functions.clone();
    let mut observer = Observer::new(plan.progress, functions.len(), opts.profile);
    let env = Env::new(&context, "wasm", info, opts, partition);
    observer.begin(Stage::Translate);
    for &index in &functions {
        let body = &info.bodies[index - info.imported_functions];
        let clock = observer.clock();
        FunctionTranslator::translate(&env, index as u32, body)?;
        observer.translated(index as u32, clock);
    }
    if defines_state {
        crate::descriptor::emit(&env)?;
    }
    let module = &env.module;
    for &index in functions
        .iter()
        .filter(|&&f| plan.kept_apart.contains(&(f - info.imported_functions)))
    {
        if let Some(function) = module.get_function(&function_symbol(index)) {
            add_function_attribute(&context, function, "noinline");
        }
    }
    if let Some(tuning) = opts.target.default_tuning().filter(|_| opts.cpu.is_none()) {
        let tune = context.create_string_attribute("tune-cpu", tuning.cpu);
        for function in module
            .get_functions()
            .filter(|f| f.count_basic_blocks() > 0)
        {
            function.add_attribute(AttributeLoc::Function, tune);
            function
                .as_global_value()
                .set_alignment(tuning.function_alignment);
        }
    }
    module.set_triple(&machine.get_triple());
    module.set_data_layout(&machine.get_target_data().get_data_layout());
    let clock = observer.clock();
    module
        .verify()
        .map_err(|e| CompileError::Backend(format!("LLVM IR does not verify: {e}")))?;
    observer.own_step("mewz: verify", clock);
    observer.end();
    timings.push((Stage::Translate.name(), started.elapsed()));

    // Linear-memory loads are volatile until it is known which ones must stay where they are
    // (see `translate/dead_loads.rs`): before the pipeline, from a copy of the module, or, in
    // the light pipeline, after it (cheaper, but no CSE of memory loads).
    let pipeline = pass_pipeline(opts.opt_level, plan.light);
    if !plan.light {
        let started = Instant::now();
        observer.begin(Stage::LoadAnalysis);
        settle_loads(module, &machine, &pipeline, &mut observer).map_err(CompileError::Backend)?;
        observer.end();
        timings.push((Stage::LoadAnalysis.name(), started.elapsed()));
    }
    let started = Instant::now();
    // The SLP vectorizer is part of `default<O2>` (PassBuilderOptions' switch for it makes no
    // difference to the objects); it packs neighbouring accesses through one pointer (nbody's
    // field updates). Functions of HUGE_FUNCTION_BYTES or more opt out of it.
    observer.begin(Stage::Optimize);
    run_passes(module, &pipeline, &machine, &mut observer).map_err(CompileError::Backend)?;
    let clock = observer.clock();
    if plan.light {
        settle_loads_in_place(module).map_err(CompileError::Backend)?;
        observer.own_step("mewz: settle loads", clock);
    }
    let clock = observer.clock();
    strip_base_copies(module);
    observer.own_step("mewz: strip base copies", clock);
    let clock = observer.clock();
    keep_loads_whole(module).map_err(CompileError::Backend)?;
    observer.own_step("mewz: keep loads whole", clock);
    observer.end();
    timings.push((Stage::Optimize.name(), started.elapsed()));
    // Huge functions get the fast back end in any module (see HUGE_FUNCTION_BYTES).
    let min_bytes = plan
        .fast_backend_from
        .map_or(HUGE_FUNCTION_BYTES, |b| b.min(HUGE_FUNCTION_BYTES));
    for &index in &functions {
        let range = info.bodies[index - info.imported_functions].range();
        // Looked up by name: the pipeline deletes functions it inlined everywhere.
        let function = module.get_function(&function_symbol(index));
        if let Some(function) = function.filter(|_| (range.end - range.start) as usize >= min_bytes)
        {
            // `optnone` requires `noinline`; no inlining happens after this point anyway.
            add_function_attribute(&context, function, "noinline");
            add_function_attribute(&context, function, "optnone");
        }
    }
    let llvm_ir = opts.emit_llvm.then(|| module.print_to_string().to_string());

    let started = Instant::now();
    observer.begin(Stage::Codegen);
    let object = emit_object(module, &machine, &mut observer)?;
    observer.end();
    timings.push((Stage::Codegen.name(), started.elapsed()));
    Ok(PartitionOutput {
        object,
        llvm_ir,
        stage_times: timings,
        profile: observer.profile,
    })
}
