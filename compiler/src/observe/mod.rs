//! Watching LLVM at work (`shim.cpp`, built by `build.rs`): how long each pass takes on each
//! function, and each function as code generation finishes it. Feeds the compile's
//! [`Profile`](crate::Profile) and its [`CompileProgress`](crate::CompileProgress).

use crate::env::function_index;
use crate::profile::{PartitionProfile, Stage};
use crate::{CompileError, CompileProgress};
use inkwell::llvm_sys::core::{LLVMDisposeMemoryBuffer, LLVMGetBufferSize, LLVMGetBufferStart};
use inkwell::llvm_sys::error::{LLVMDisposeErrorMessage, LLVMGetErrorMessage};
use inkwell::llvm_sys::prelude::{LLVMMemoryBufferRef, LLVMModuleRef};
use inkwell::llvm_sys::target_machine::LLVMTargetMachineRef;
use inkwell::module::Module;
use inkwell::targets::TargetMachine;
use rustc_hash::FxHashSet;
use std::ffi::{CStr, CString, c_char, c_void};
use std::time::Duration;

type PassRan = unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const c_char, usize, u64);
type FunctionEmitted = unsafe extern "C" fn(*mut c_void, *const c_char, usize, u64);

unsafe extern "C" {
    fn mewz_run_passes(
        module: LLVMModuleRef,
        passes: *const c_char,
        machine: LLVMTargetMachineRef,
        report: Option<PassRan>,
        context: *mut c_void,
    ) -> inkwell::llvm_sys::error::LLVMErrorRef;

    fn mewz_emit_object(
        machine: LLVMTargetMachineRef,
        module: LLVMModuleRef,
        report: Option<FunctionEmitted>,
        context: *mut c_void,
        out: *mut LLVMMemoryBufferRef,
    ) -> *mut c_char;

    fn mewz_thread_cpu_nanos() -> u64;
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    // SAFETY: reads a clock; no arguments, no state.
    Duration::from_nanos(unsafe { mewz_thread_cpu_nanos() })
}

/// What one partition's thread reports to: the compile's progress (shared by the partitions)
/// and, when asked for, its own profile.
pub(crate) struct Observer<'a> {
    progress: &'a dyn CompileProgress,
    pub profile: Option<PartitionProfile>,
    /// The stage under way, and the functions it has reached so far.
    stage: Stage,
    reached: FxHashSet<u32>,
    /// How many of the partition's functions each stage must reach.
    functions: usize,
}

impl<'a> Observer<'a> {
    pub fn new(progress: &'a dyn CompileProgress, functions: usize, profile: bool) -> Self {
        Observer {
            progress,
            profile: profile.then(PartitionProfile::default),
            stage: Stage::Translate,
            reached: FxHashSet::default(),
            functions,
        }
    }

    /// Whether LLVM needs to report to this observer at all.
    fn watching(&self) -> bool {
        self.profile.is_some() || self.progress.wants_functions()
    }

    /// Starts `stage`: the functions it reaches are counted afresh.
    pub fn begin(&mut self, stage: Stage) {
        self.stage = stage;
        self.reached.clear();
    }

    /// Ends the stage under way: the functions it never reached (deleted, say, because
    /// they were inlined everywhere) count as done too.
    pub fn end(&mut self) {
        for _ in self.reached.len()..self.functions {
            self.progress.function_done(self.stage);
        }
        self.reached.clear();
    }

    /// The thread's CPU time now, when profiling: pass it to [`Observer::translated`].
    pub fn clock(&self) -> Option<Duration> {
        self.profile.as_ref().map(|_| thread_cpu_time())
    }

    /// Translation finished wasm function `index`, which started at `clock`.
    pub fn translated(&mut self, index: u32, clock: Option<Duration>) {
        if let (Some(profile), Some(started)) = (&mut self.profile, clock) {
            let time = thread_cpu_time().saturating_sub(started);
            profile.add_function_time(index, Stage::Translate, time);
        }
        self.reach(index);
    }

    /// Counts the CPU time since `clock` (from [`Observer::clock`]) as the time of `step`,
    /// one of the compiler's own steps between LLVM's passes.
    pub fn own_step(&mut self, step: &str, clock: Option<Duration>) {
        if let (Some(profile), Some(started)) = (&mut self.profile, clock) {
            profile.add_pass_time(step, thread_cpu_time().saturating_sub(started));
        }
    }

    fn reach(&mut self, index: u32) {
        if self.reached.len() < self.functions && self.reached.insert(index) {
            self.progress.function_done(self.stage);
        }
    }

    fn pass_ran(&mut self, pass: &str, function: &str, time: Duration) {
        let index = function_index(function);
        if let Some(profile) = &mut self.profile {
            profile.add_pass_time(pass, time);
            if let Some(index) = index {
                profile.add_function_time(index, self.stage, time);
            }
        }
        if let Some(index) = index {
            self.reach(index);
        }
    }
}

/// Runs the pass `pipeline` on `module` (as `Module::run_passes` with default options does),
/// telling `observer` about each pass.
pub(crate) fn run_passes(
    module: &Module<'_>,
    pipeline: &str,
    machine: &TargetMachine,
    observer: &mut Observer<'_>,
) -> Result<(), String> {
    let passes = CString::new(pipeline).map_err(|e| e.to_string())?;
    let (report, context) = if observer.watching() {
        let report: PassRan = pass_ran;
        (Some(report), observer as *mut Observer<'_> as *mut c_void)
    } else {
        (None, std::ptr::null_mut())
    };
    // SAFETY: module and machine are live LLVM objects owned by the caller for the whole
    // call; `passes` is NUL-terminated; `context` is the observer `pass_ran` expects, and it
    // outlives the call (the shim keeps nothing after returning).
    let error = unsafe {
        mewz_run_passes(
            module.as_mut_ptr(),
            passes.as_ptr(),
            machine.as_mut_ptr(),
            report,
            context,
        )
    };
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null LLVMErrorRef from the shim, consumed exactly once here; the message
    // is copied before it is disposed of.
    unsafe {
        let message = LLVMGetErrorMessage(error);
        let text = CStr::from_ptr(message).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(message);
        Err(text)
    }
}

/// Generates the object code of `module` (as `TargetMachine::write_to_memory_buffer` does),
/// telling `observer` about each function done.
pub(crate) fn emit_object(
    module: &Module<'_>,
    machine: &TargetMachine,
    observer: &mut Observer<'_>,
) -> Result<Vec<u8>, CompileError> {
    let (report, context) = if observer.watching() {
        let report: FunctionEmitted = function_emitted;
        (Some(report), observer as *mut Observer<'_> as *mut c_void)
    } else {
        (None, std::ptr::null_mut())
    };
    let mut buffer: LLVMMemoryBufferRef = std::ptr::null_mut();
    // SAFETY: as in `run_passes`; `buffer` receives a new memory buffer owned by us.
    let error = unsafe {
        mewz_emit_object(
            machine.as_mut_ptr(),
            module.as_mut_ptr(),
            report,
            context,
            &mut buffer,
        )
    };
    if !error.is_null() {
        // SAFETY: the shim's message is a malloc'd C string, freed by LLVM's dispose.
        let text = unsafe {
            let text = CStr::from_ptr(error).to_string_lossy().into_owned();
            inkwell::llvm_sys::core::LLVMDisposeMessage(error);
            text
        };
        return Err(CompileError::Backend(text));
    }
    // SAFETY: `buffer` is the live memory buffer the shim made; its bytes are copied out
    // before it is disposed of, once.
    let object = unsafe {
        let start = LLVMGetBufferStart(buffer) as *const u8;
        let bytes = std::slice::from_raw_parts(start, LLVMGetBufferSize(buffer)).to_vec();
        LLVMDisposeMemoryBuffer(buffer);
        bytes
    };
    Ok(object)
}

/// # Safety
/// `context` is the `Observer` given to `mewz_run_passes`; the strings are valid for their
/// lengths for the duration of the call.
unsafe extern "C" fn pass_ran(
    context: *mut c_void,
    pass: *const c_char,
    pass_len: usize,
    function: *const c_char,
    function_len: usize,
    nanos: u64,
) {
    // SAFETY: see the function's contract; one pass is reported at a time, from the thread
    // that owns the observer.
    let (observer, pass, function) = unsafe {
        (
            &mut *(context as *mut Observer<'_>),
            text(pass, pass_len),
            text(function, function_len),
        )
    };
    observer.pass_ran(pass, function, Duration::from_nanos(nanos));
}

/// # Safety
/// As for [`pass_ran`], with `mewz_emit_object`.
unsafe extern "C" fn function_emitted(
    context: *mut c_void,
    function: *const c_char,
    function_len: usize,
    nanos: u64,
) {
    // SAFETY: see the function's contract.
    let (observer, function) = unsafe {
        (
            &mut *(context as *mut Observer<'_>),
            text(function, function_len),
        )
    };
    if let Some(index) = function_index(function) {
        if let Some(profile) = &mut observer.profile {
            profile.add_function_time(index, Stage::Codegen, Duration::from_nanos(nanos));
        }
        observer.reach(index);
    }
}

/// # Safety
/// `data` is valid for `len` bytes (or `len` is 0).
unsafe fn text<'a>(data: *const c_char, len: usize) -> &'a str {
    if len == 0 || data.is_null() {
        return "";
    }
    // SAFETY: see the function's contract.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
    // Pass names are ASCII; function names are ours (`wasm_function_N`) or LLVM's.
    std::str::from_utf8(bytes).unwrap_or("")
}
