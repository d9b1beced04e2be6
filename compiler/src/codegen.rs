//! LLVM setup, the pass pipeline (named once, here) and object emission.

use crate::env::Env;
use crate::error::CompileError;
use crate::module_info::ModuleInfo;
use crate::translate::FunctionTranslator;
use crate::{CompileOptions, Target};
use inkwell::OptimizationLevel;
use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target as LlvmTarget, TargetMachine,
    TargetTriple,
};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The one optimisation pipeline: LLVM's standard `default<On>`.
pub fn pass_pipeline(opt_level: u8) -> String {
    format!("default<O{}>", opt_level.min(3))
}

fn initialize_llvm() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let config = InitializationConfig::default();
        LlvmTarget::initialize_x86(&config);
        LlvmTarget::initialize_aarch64(&config);
    });
}

pub fn target_machine(opts: &CompileOptions) -> Result<TargetMachine, CompileError> {
    initialize_llvm();
    let target: Target = opts.target;
    let triple = TargetTriple::create(target.triple_str());
    let llvm_target =
        LlvmTarget::from_triple(&triple).map_err(|e| CompileError::Backend(e.to_string()))?;
    let (default_cpu, default_features) = target.default_cpu();
    let (cpu, features) = match &opts.cpu {
        Some(cpu) => (cpu.as_str(), ""),
        None => (default_cpu, default_features),
    };
    if !llvm_target_knows_cpu(target, cpu) {
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
}

pub fn compile_module(
    info: &ModuleInfo<'_>,
    opts: &CompileOptions,
    timings: &mut Vec<(&'static str, Duration)>,
) -> Result<Output, CompileError> {
    let machine = target_machine(opts)?;
    let context = Context::create();
    let started = Instant::now();
    let env = Env::new(&context, "wasm", info, opts);
    for (i, body) in info.bodies.iter().enumerate() {
        let index = (info.imported_functions + i) as u32;
        FunctionTranslator::translate(&env, index, body)?;
    }
    crate::descriptor::emit(&env)?;
    let module = &env.module;
    module.set_triple(&machine.get_triple());
    module.set_data_layout(&machine.get_target_data().get_data_layout());
    module
        .verify()
        .map_err(|e| CompileError::Backend(format!("LLVM IR does not verify: {e}")))?;
    timings.push(("translate", started.elapsed()));

    let started = Instant::now();
    module
        .run_passes(
            &pass_pipeline(opts.opt_level),
            &machine,
            PassBuilderOptions::create(),
        )
        .map_err(|e| CompileError::Backend(e.to_string()))?;
    timings.push(("optimize", started.elapsed()));
    let llvm_ir = opts.emit_llvm.then(|| module.print_to_string().to_string());

    let started = Instant::now();
    let buffer = machine
        .write_to_memory_buffer(module, FileType::Object)
        .map_err(|e| CompileError::Backend(e.to_string()))?;
    timings.push(("codegen", started.elapsed()));
    Ok(Output {
        object: buffer.as_slice().to_vec(),
        llvm_ir,
    })
}
