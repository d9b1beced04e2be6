//! mewz-compiler: WebAssembly 2.0 (fixed-width SIMD included) to native ELF relocatable objects.
//!
//! wasmparser validates and parses; [`translate`] turns each function body into LLVM IR through
//! the [`env`] (which alone knows where memories, tables, globals and the runtime entry points
//! live); [`descriptor`] emits the `__mewz_module` descriptor the runtimes read; [`codegen`]
//! runs the one pass pipeline and writes the object. The produced ABI is documented in
//! `mewz_abi::module`.

mod call_graph;
mod codegen;
mod descriptor;
mod env;
mod error;
mod identity;
mod inlining;
mod merge;
mod module_info;
mod observe;
mod partition;
mod profile;
mod target;
mod translate;

#[cfg(test)]
mod tests;

pub use error::CompileError;
pub use identity::code_identity;
pub use mewz_abi::module::ExportKind;
pub use profile::{CompileProgress, FunctionProfile, NoProgress, Profile, Stage, function_names};
pub use target::{Target, UnknownTarget};

use std::time::{Duration, Instant};

/// How calls to imported functions are linked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImportLinkage {
    /// A direct call to the undefined symbol `module.field` (C ABI): the unikernel links it.
    /// Imports with several results return an LLVM first-class struct, which is not a C
    /// struct return: only single-result imports (all of WASI) can be written in C or Rust.
    #[default]
    Symbols,
    /// An indirect call through a per-import slot the runtime fills (listed in the descriptor):
    /// lets a runtime bind modules together at run time.
    Slots,
}

#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub target: Target,
    /// 0..=3, default 2.
    pub opt_level: u8,
    /// LLVM CPU name; `None` is the target's portable baseline (never the build machine).
    pub cpu: Option<String>,
    /// Explicit bounds checks on every memory access, for runtimes without guard pages.
    pub bounds_checks: bool,
    /// Also return the optimised LLVM IR.
    pub emit_llvm: bool,
    pub import_linkage: ImportLinkage,
    /// Testing aid: translate every loop that can be translated twice (an innermost loop
    /// without parameters, see `translate::versioning`) twice, also when the second copy
    /// gains nothing, so that a test suite runs the machinery on all its loops. Never faster.
    pub every_loop_twice: bool,
    /// Also measure every LLVM pass and every function ([`CompiledModule::profile`]).
    /// Changes nothing in the object; costs a few percent of compile time.
    pub profile: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            target: Target::X86_64,
            opt_level: 2,
            cpu: None,
            bounds_checks: false,
            emit_llvm: false,
            import_linkage: ImportLinkage::Symbols,
            every_loop_twice: false,
            profile: false,
        }
    }
}

/// One import of the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportInfo {
    pub module: String,
    pub field: String,
    pub kind: ExportKind,
    /// The symbol a function import links against (see [`import_symbol`]); for other kinds,
    /// `module.field`.
    pub symbol: String,
}

/// The undefined symbol of a function import `module.field` with `params` parameters: the
/// ABI's `module.field`, or its own symbol for a name with two signatures
/// (`mewz_abi::symbols::OVERLOADED_IMPORTS`).
pub fn import_symbol(module: &str, field: &str, params: usize) -> String {
    use mewz_abi::symbols;
    match symbols::overloaded_import(module, field, params) {
        Some(symbol) => symbol.to_string(),
        None => format!("{module}{}{field}", symbols::IMPORT_SEPARATOR),
    }
}

/// One export of the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportInfo {
    pub name: String,
    pub kind: ExportKind,
}

/// What [`validate`] learns about a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSummary {
    pub imports: Vec<ImportInfo>,
    pub exports: Vec<ExportInfo>,
    pub defined_functions: usize,
}

#[derive(Debug)]
pub struct CompiledModule {
    /// The ELF relocatable object.
    pub object: Vec<u8>,
    /// Optimised LLVM IR, when `emit_llvm` was set.
    pub llvm_ir: Option<String>,
    pub imports: Vec<ImportInfo>,
    /// Time spent per stage.
    pub timings: Vec<(&'static str, Duration)>,
    /// Time per pass and per function, when `profile` was set.
    pub profile: Option<Profile>,
}

/// Validates a module (Wasm 2.0) and lists its imports and exports.
pub fn validate(wasm: &[u8]) -> Result<ModuleSummary, CompileError> {
    module_info::validate(wasm)?;
    let info = module_info::ModuleInfo::parse(wasm)?;
    Ok(summary(&info))
}

fn summary(info: &module_info::ModuleInfo<'_>) -> ModuleSummary {
    use module_info::{ExportKindIndex, ImportKind};
    ModuleSummary {
        imports: info
            .imports
            .iter()
            .map(|i| ImportInfo {
                module: i.module.to_string(),
                field: i.field.to_string(),
                kind: match i.kind {
                    ImportKind::Func(_) => ExportKind::Function,
                    ImportKind::Table => ExportKind::Table,
                    ImportKind::Memory => ExportKind::Memory,
                    ImportKind::Global => ExportKind::Global,
                },
                symbol: match i.kind {
                    ImportKind::Func(ty) => {
                        import_symbol(i.module, i.field, info.types[ty as usize].params.len())
                    }
                    _ => import_symbol(i.module, i.field, usize::MAX),
                },
            })
            .collect(),
        exports: info
            .exports
            .iter()
            .map(|e| ExportInfo {
                name: e.name.to_string(),
                kind: match e.kind {
                    ExportKindIndex::Func(_) => ExportKind::Function,
                    ExportKindIndex::Table(_) => ExportKind::Table,
                    ExportKindIndex::Memory(_) => ExportKind::Memory,
                    ExportKindIndex::Global(_) => ExportKind::Global,
                },
            })
            .collect(),
        defined_functions: info.bodies.len(),
    }
}

/// Compiles a module to an ELF relocatable object for `opts.target`.
pub fn compile(wasm: &[u8], opts: &CompileOptions) -> Result<CompiledModule, CompileError> {
    compile_with_progress(wasm, opts, &NoProgress)
}

/// [`compile`], telling `progress` how it advances.
pub fn compile_with_progress(
    wasm: &[u8],
    opts: &CompileOptions,
    progress: &dyn CompileProgress,
) -> Result<CompiledModule, CompileError> {
    compile_tuned(wasm, opts, codegen::Tuning::default(), progress)
}

/// [`compile`] with the size-based code generation choices overridden (tests).
pub(crate) fn compile_tuned(
    wasm: &[u8],
    opts: &CompileOptions,
    tuning: codegen::Tuning,
    progress: &dyn CompileProgress,
) -> Result<CompiledModule, CompileError> {
    let mut timings = Vec::new();
    let started = Instant::now();
    module_info::validate(wasm)?;
    let info = module_info::ModuleInfo::parse(wasm)?;
    timings.push(("validate", started.elapsed()));
    let output = codegen::compile_module(&info, opts, &mut timings, tuning, progress)?;
    Ok(CompiledModule {
        object: output.object,
        llvm_ir: output.llvm_ir,
        imports: summary(&info).imports,
        timings,
        profile: output.profile,
    })
}
