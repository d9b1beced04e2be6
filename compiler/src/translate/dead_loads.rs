//! Loads that must trap where wasm executes them, used or not.
//!
//! A linear-memory access out of bounds traps because it faults in the guard. LLVM knows
//! nothing of that: to it a load has no effect but its value. A load whose value is never
//! used is deleted (by instcombine, DCE and the back end alike), and its trap with it. A load
//! whose value is used on some ways on from it only is moved into them (instcombine sinks it
//! into the one successor that uses it, the back end turns a select into a branch and moves
//! the load into one side), and on the other ways it no longer runs. Wasm code does leave such
//! loads: a `drop`, a value a branch leaves on the stack, a local that is set and read on one
//! branch only, a value read before a division, a call or an indirect call's checks and used
//! after them. Had the load run first, as in wasm, it would have trapped first.
//!
//! So every linear-memory load is translated volatile, which LLVM never deletes, and tagged
//! ([`protect`]). Before the optimisation pipeline, a copy of the module goes through that same
//! pipeline with the loads still volatile, so that everything it proves irrelevant there (code
//! after a call that never returns, a branch whose sides turn out the same, a store of a value
//! back where it was read, a result no caller uses) is irrelevant to the load too. There each
//! load gets its [`Fate`] ([`settle_loads`]): one left without a use stays volatile; one whose
//! value, or a value computed from it, an effect needs on every way on from it before anything
//! that could end the run ([`covered`]) becomes an ordinary load, which the optimiser may
//! combine, hoist or vectorise, and which that effect keeps alive wherever it goes; any other
//! becomes an ordinary load that an empty `asm` right after it uses ([`pin`]), so it stays
//! where it is. The copy is thrown away, so that the pipeline proper sees the module as
//! translated. Large modules, whose pipeline is short anyway, skip the copy: their
//! pipeline runs with the loads volatile and ends with `adce`, and the fates are decided after
//! it ([`settle_loads_in_place`]).
//!
//! Two more ways an access could lose its trap, which the copy cannot show: LLVM narrows a load
//! whose value is used in part to a load of that part (an `extractelement` of a vector load
//! becomes a scalar load already in the pipeline; the back end loads 4 bytes for a `trunc` of
//! an 8-byte load), and the back end deletes a load whose value it finds does not matter where
//! the pipeline did not (fuzz seed 375: lanes that shuffles and a `max` with constants drop).
//! So a vector load whose users in the copy do not read every byte of it is pinned, not freed
//! ([`uses_every_byte`]), and before code generation every protected load is volatile again
//! ([`keep_loads_whole`]): the pipeline has done its work with them, and the back end keeps a
//! volatile load whole and in place.
//!
//! What this does not see: a load whose effect the pipeline proper, with the loads no longer
//! volatile, finds irrelevant where the copy's did not.

use crate::observe::{Observer, run_passes};
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::context::{Context, ContextRef};
use inkwell::llvm_sys::core::{
    LLVMGetFirstUse, LLVMGetMaskValue, LLVMGetNextUse, LLVMGetNumMaskElements, LLVMGetUser,
};
use inkwell::module::{Linkage, Module};
use inkwell::targets::TargetMachine;
use inkwell::types::{AnyTypeEnum, BasicTypeEnum};
use inkwell::values::{
    AnyValue, AnyValueEnum, AsValueRef, BasicMetadataValueEnum, BasicValue, BasicValueEnum,
    CallSiteValue, FunctionValue, InstructionOpcode, InstructionValue, Operand, PhiValue,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;

/// The metadata kind of a protected load.
const KIND: &str = "mewz.access";

/// Makes `load` volatile and tags it, until [`settle_loads`].
pub(super) fn protect(context: &Context, load: InstructionValue<'_>) {
    let kind = context.get_kind_id(KIND);
    // Neither can fail on a load.
    let _ = load.set_volatile(true);
    let _ = load.set_metadata(context.metadata_node(&[]), kind);
}

/// The protected loads of `module`, each with the number its tag carries (if any).
fn protected<'ctx>(module: &Module<'ctx>) -> Vec<(InstructionValue<'ctx>, Option<u64>)> {
    let kind = module.get_context().get_kind_id(KIND);
    let mut loads = Vec::new();
    for function in module.get_functions() {
        for block in function.get_basic_blocks() {
            for inst in block.get_instructions() {
                if inst.get_opcode() != InstructionOpcode::Load {
                    continue;
                }
                if let Some(tag) = inst.get_metadata(kind) {
                    let number = tag
                        .get_node_values()
                        .and_then(|v| v.first().copied())
                        .and_then(|v| match v {
                            BasicMetadataValueEnum::IntValue(i) => i.get_zero_extended_constant(),
                            _ => None,
                        });
                    loads.push((inst, number));
                }
            }
        }
    }
    loads
}

/// Decides the [`Fate`] of every protected load of `module` from a copy run through
/// `pipeline` (the one the module itself goes through next), and carries it out.
pub(crate) fn settle_loads(
    module: &Module<'_>,
    machine: &TargetMachine,
    pipeline: &str,
    observer: &mut Observer<'_>,
) -> Result<(), String> {
    let context = module.get_context();
    let kind = context.get_kind_id(KIND);
    let i64t = context.i64_type();
    let loads = protected(module);
    if loads.is_empty() {
        return Ok(());
    }
    for (n, (load, _)) in loads.iter().enumerate() {
        let number = i64t.const_int(n as u64, false).into();
        load.set_metadata(context.metadata_node(&[number]), kind)
            .map_err(|e| e.to_string())?;
    }
    let clock = observer.clock();
    let copy = module.clone();
    observer.own_step("mewz: copy the module", clock);
    run_passes(&copy, pipeline, machine, observer)?;
    let clock = observer.clock();
    // The pipeline may duplicate a load (inlining, unrolling): it is dead or free only if
    // every copy is, and pinned otherwise. One with no copy left was in code that never runs.
    let mut fates: Vec<Option<Fate>> = vec![None; loads.len()];
    let mut walks = Walks::new();
    for (load, number) in protected(&copy) {
        let Some(n) = number.map(|n| n as usize).filter(|&n| n < loads.len()) else {
            continue;
        };
        let fate = Fate::of(load, &mut walks);
        fates[n] = Some(match fates[n] {
            Some(seen) if seen != fate => Fate::Pinned,
            _ => fate,
        });
    }
    drop(copy);
    let vectors = VectorConstraint::of(module);
    for ((load, _), fate) in loads.iter().zip(fates) {
        settle(context, *load, fate.unwrap_or(Fate::Free), vectors)?;
    }
    observer.own_step("mewz: settle loads", clock);
    Ok(())
}

/// [`settle_loads`] for a module whose pipeline has run with the loads still volatile and
/// ended with `adce`: a load left without a use there is dead, and one not covered is pinned
/// (volatile is not enough there: the back end turns a select into a branch and moves even a
/// volatile load into the side that uses it).
pub(crate) fn settle_loads_in_place(module: &Module<'_>) -> Result<(), String> {
    let context = module.get_context();
    let mut walks = Walks::new();
    let vectors = VectorConstraint::of(module);
    for (load, _) in protected(module) {
        let fate = Fate::of(load, &mut walks);
        if fate == Fate::Pinned {
            // Pinning adds an instruction to the load's block, which later walks must see.
            walks.forget(load.get_parent());
        }
        settle(context, load, fate, vectors)?;
    }
    Ok(())
}

/// Before code generation: every protected load the pipeline left is made volatile again. The
/// back end may still find that a value does not matter (a lane a shuffle drops, bits a `max`
/// with a constant decides) and delete its load, or that only part of it does (`i32.wrap_i64`
/// of an `i64.load`) and load fewer bytes: either way an access out of bounds would no longer
/// trap. A volatile load it keeps whole and in place. The price: x86 no longer folds it into
/// a compare or test (`cmpl $N, mem` becomes a load and a `cmp`); measured, the image filter
/// of `examples/simd-rust` ran up to 3% slower, the compute programs and BLAKE3 no slower.
///
/// An 8-byte vector (the `<8 x i8>` of `v128.load8x8_u` ...) is loaded as a volatile `double`
/// instead: x86 has no 8-byte vector type, and a volatile one would be loaded into a general
/// register and moved over, where the `double` goes straight into a vector register.
pub(crate) fn keep_loads_whole(module: &Module<'_>) -> Result<(), String> {
    let context = module.get_context();
    for (load, _) in protected(module) {
        if element_bytes(load.get_type()).is_some_and(|(bytes, lanes)| bytes * lanes == 8) {
            load_as_double(context, load)?;
        } else {
            // Cannot fail on a load.
            let _ = load.set_volatile(true);
        }
    }
    Ok(())
}

/// Replaces vector `load` (8 bytes) by a volatile load of a `double` from the same address,
/// bitcast back.
fn load_as_double<'ctx>(
    context: ContextRef<'ctx>,
    load: InstructionValue<'ctx>,
) -> Result<(), String> {
    let Some(address) = load.get_operand(0).and_then(|o| o.value()) else {
        return Ok(());
    };
    let ty = load.get_type();
    let builder = context.create_builder();
    builder.position_before(&load);
    let double = builder
        .build_load(context.f64_type(), address.into_pointer_value(), "whole")
        .map_err(|e| e.to_string())?;
    let new_load = double
        .as_instruction_value()
        .ok_or("a load is an instruction")?;
    let _ = new_load.set_volatile(true);
    new_load
        .set_alignment(load.get_alignment().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let vector: inkwell::types::BasicTypeEnum<'ctx> = ty.try_into().map_err(|_| "a basic type")?;
    let value = builder
        .build_bit_cast(double, vector, "")
        .map_err(|e| e.to_string())?;
    // SAFETY: `value` has the type of `load`, which then has no use and can go.
    unsafe {
        inkwell::llvm_sys::core::LLVMReplaceAllUsesWith(load.as_value_ref(), value.as_value_ref());
        inkwell::llvm_sys::core::LLVMInstructionEraseFromParent(load.as_value_ref());
    }
    Ok(())
}

/// Carries out `fate` on `load`.
fn settle<'ctx>(
    context: ContextRef<'ctx>,
    load: InstructionValue<'ctx>,
    fate: Fate,
    vectors: VectorConstraint,
) -> Result<(), String> {
    match fate {
        Fate::Dead => {}
        Fate::Free => release(load),
        Fate::Pinned => {
            if pin(context, load, vectors)? {
                release(load);
            }
        }
    }
    Ok(())
}

/// The `asm` constraint that puts a 128-bit vector in a register, by the module's target.
#[derive(Clone, Copy)]
struct VectorConstraint(&'static str);

impl VectorConstraint {
    fn of(module: &Module<'_>) -> VectorConstraint {
        let triple = module.get_triple();
        let triple = triple.as_str().to_string_lossy();
        VectorConstraint(if triple.starts_with("aarch64") {
            "w"
        } else {
            "x"
        })
    }
}

/// What becomes of a protected load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    /// Nothing uses it: it stays volatile.
    Dead,
    /// An effect needs its value on every way on from it ([`covered`]): an ordinary load.
    Free,
    /// Used, but not on every way on: an ordinary load that an effect keeps in place ([`pin`]).
    Pinned,
}

impl Fate {
    /// The fate of `load`, decided with what the module's `walks` share.
    fn of<'ctx>(load: InstructionValue<'ctx>, walks: &mut Walks<'ctx>) -> Fate {
        if load.get_first_use().is_none() {
            Fate::Dead
        } else if covered(load, walks) && (!is_vector(load) || uses_every_byte(load)) {
            Fate::Free
        } else {
            Fate::Pinned
        }
    }
}

fn is_vector(load: InstructionValue<'_>) -> bool {
    load.get_type().is_vector_type()
}

/// Bytes of the elements of a vector type, and how many elements it has.
fn element_bytes(ty: AnyTypeEnum<'_>) -> Option<(u32, u32)> {
    let AnyTypeEnum::VectorType(ty) = ty else {
        return None;
    };
    let bits = match ty.get_element_type() {
        BasicTypeEnum::IntType(t) => t.get_bit_width(),
        BasicTypeEnum::FloatType(t) => {
            if t == t.get_context().f32_type() {
                32
            } else {
                64
            }
        }
        _ => return None,
    };
    Some((bits / 8, ty.get_size()))
}

/// Whether the users of vector `load` read every byte of it (through bitcasts). One that
/// extracts a lane, shuffles some lanes or truncates lets LLVM narrow the load to the part it
/// reads, in the pipeline already (`extractelement` of a load becomes a scalar load): an access
/// that crosses the end of memory must trap whatever part of its value is used, so such a load
/// is pinned, which uses the whole value. One read whole by its users (a `v128.load` whose low
/// and high halves are both extended) stays free, for the optimiser.
fn uses_every_byte(load: InstructionValue<'_>) -> bool {
    let Some((size, lanes)) = element_bytes(load.get_type()) else {
        return false;
    };
    let all = (1u64 << (size * lanes).min(63)) - 1;
    let mut read = 0u64;
    let mut values = vec![load.as_value_ref()];
    while let Some(value) = values.pop() {
        // SAFETY: walking the use list of a live value of the module.
        let mut next = unsafe { LLVMGetFirstUse(value) };
        while !next.is_null() {
            // SAFETY: `next` is a live use.
            let user = unsafe { LLVMGetUser(next) };
            // SAFETY: as above.
            next = unsafe { LLVMGetNextUse(next) };
            // SAFETY: users of an instruction's value are instructions.
            let user = unsafe { InstructionValue::new(user) };
            let lane_bytes = |operand: u32| {
                user.get_operand(operand)
                    .and_then(|o| o.value())
                    .and_then(|v| element_bytes(v.as_any_value_enum().get_type()))
            };
            match user.get_opcode() {
                InstructionOpcode::BitCast => values.push(user.as_value_ref()),
                InstructionOpcode::ExtractElement => {
                    let index = user
                        .get_operand(1)
                        .and_then(|o| o.value())
                        .and_then(|v| v.into_int_value().get_zero_extended_constant());
                    match (index, lane_bytes(0)) {
                        (Some(i), Some((bytes, _))) => read |= lanes_mask(i as u32, bytes),
                        _ => read = all,
                    }
                }
                InstructionOpcode::ShuffleVector => {
                    let Some((bytes, n)) = lane_bytes(0) else {
                        read = all;
                        continue;
                    };
                    let is_operand = |k: u32| {
                        user.get_operand(k)
                            .and_then(|o| o.value())
                            .is_some_and(|v| v.as_value_ref() == value)
                    };
                    let (first, second) = (is_operand(0), is_operand(1));
                    // SAFETY: `user` is a shufflevector.
                    let count = unsafe { LLVMGetNumMaskElements(user.as_value_ref()) };
                    for k in 0..count {
                        // SAFETY: k is below the mask's length.
                        let m = unsafe { LLVMGetMaskValue(user.as_value_ref(), k) };
                        let Ok(m) = u32::try_from(m) else { continue };
                        if first && m < n {
                            read |= lanes_mask(m, bytes);
                        } else if second && m >= n {
                            read |= lanes_mask(m - n, bytes);
                        }
                    }
                }
                InstructionOpcode::Trunc => return false,
                _ => read = all,
            }
        }
    }
    read & all == all
}

/// The bytes of lane `lane` of `bytes` bytes, as a bit mask.
fn lanes_mask(lane: u32, bytes: u32) -> u64 {
    let bits = (1u64 << bytes) - 1;
    bits.checked_shl(lane * bytes).unwrap_or(0)
}

/// Makes a protected load an ordinary load.
fn release(load: InstructionValue<'_>) {
    // Cannot fail on a load.
    let _ = load.set_volatile(false);
}

/// Uses the value of `load` right after it, in an empty `asm` whose effect is on memory no
/// other code can see: no pass deletes or moves it, so the load runs where wasm runs it,
/// while memory accesses and the memory base move freely around both. Returns false if the
/// load's type has no such use (it stays volatile then).
fn pin<'ctx>(
    context: ContextRef<'ctx>,
    load: InstructionValue<'ctx>,
    vectors: VectorConstraint,
) -> Result<bool, String> {
    let Some(next) = load.get_next_instruction() else {
        return Ok(false);
    };
    let builder = context.create_builder();
    builder.position_before(&next);
    let (value, constraint): (BasicValueEnum<'ctx>, &str) =
        match BasicValueEnum::try_from(load.as_any_value_enum()) {
            Ok(BasicValueEnum::IntValue(v)) => (v.into(), "r"),
            Ok(BasicValueEnum::FloatValue(v)) => {
                let bits = if v.get_type() == context.f32_type() {
                    context.i32_type()
                } else {
                    context.i64_type()
                };
                let v = builder
                    .build_bit_cast(v, bits, "pinned")
                    .map_err(|e| e.to_string())?;
                (v, "r")
            }
            Ok(BasicValueEnum::VectorValue(v)) => {
                let ty = v.get_type();
                let bits = match ty.get_element_type() {
                    BasicTypeEnum::IntType(t) => t.get_bit_width(),
                    BasicTypeEnum::FloatType(t) if t == context.f32_type() => 32,
                    BasicTypeEnum::FloatType(_) => 64,
                    _ => return Ok(false),
                } * ty.get_size();
                match bits {
                    128 => (v.into(), vectors.0),
                    // The 8 bytes of an extending load (`v128.load8x8_s` ...) as an integer.
                    64 => {
                        let v = builder
                            .build_bit_cast(v, context.i64_type(), "pinned")
                            .map_err(|e| e.to_string())?;
                        (v, "r")
                    }
                    _ => return Ok(false),
                }
            }
            _ => return Ok(false),
        };
    let fn_ty = context
        .void_type()
        .fn_type(&[value.get_type().into()], false);
    let asm = context.create_inline_asm(
        fn_ty,
        String::new(),
        constraint.into(),
        true,
        false,
        None,
        false,
    );
    let call = builder
        .build_indirect_call(fn_ty, asm, &[value.into()], "")
        .map_err(|e| e.to_string())?;
    // `memory(inaccessiblemem: readwrite)`: read and write (3) at location 1, two bits each.
    for (name, value) in [("memory", 3 << 2), ("nounwind", 0), ("willreturn", 0)] {
        let kind = Attribute::get_named_enum_kind_id(name);
        call.add_attribute(
            AttributeLoc::Function,
            context.create_enum_attribute(kind, value),
        );
    }
    Ok(true)
}

/// How many steps [`covered`] may walk for one load, and for all the loads of a module, before
/// it gives up: the load is then pinned, which is always right, so that a module made to make
/// the walks long costs speed at run time, not minutes of compile time. A step is an
/// instruction or a way out of a block (an interpreter's `switch` of 2000 opcodes, reached
/// again and again, made 53 s of walks when only instructions counted).
const LOAD_WALK_BUDGET: usize = 20_000;
const MODULE_WALK_BUDGET: usize = 20_000_000;

/// What the walks of [`covered`] in one module share: how many instructions they may still
/// walk, whether each function's result matters ([`result_matters`]), found once, and the
/// blocks of the function walked last, read from LLVM once ([`BlockRecord`]).
struct Walks<'ctx> {
    left: usize,
    results_matter: HashMap<usize, bool>,
    /// The function whose blocks `blocks` and `edges` hold.
    function: Option<FunctionValue<'ctx>>,
    blocks: FxHashMap<usize, BlockRecord<'ctx>>,
    /// For each block, the values its phis take from each predecessor ([`phi_inputs`]).
    edges: FxHashMap<usize, FxHashMap<usize, Vec<PhiInput>>>,
}

/// One block as the walks read it. A walk steps through many blocks many times (a block
/// after a `switch` of a thousand cases is reached from each of them); reading an
/// instruction's operands through LLVM's C API costs far more than the step itself.
struct BlockRecord<'ctx> {
    steps: Vec<Step<'ctx>>,
    /// The instructions among the operands of each step, `operand_range` indexing into it.
    operands: Vec<usize>,
    /// The blocks the terminator goes to, in operand order.
    successors: Vec<BasicBlock<'ctx>>,
}

struct Step<'ctx> {
    inst: InstructionValue<'ctx>,
    opcode: InstructionOpcode,
    operand_range: std::ops::Range<usize>,
}

/// What a phi takes on an edge: the phi and the instruction it takes (None: not an
/// instruction, so never a value computed from a load).
#[derive(Clone, Copy)]
struct PhiInput {
    phi: usize,
    value: Option<usize>,
}

impl<'ctx> Walks<'ctx> {
    fn new() -> Walks<'ctx> {
        Walks {
            left: MODULE_WALK_BUDGET,
            results_matter: HashMap::new(),
            function: None,
            blocks: FxHashMap::default(),
            edges: FxHashMap::default(),
        }
    }

    fn result_matters(&mut self, function: FunctionValue<'_>) -> bool {
        *self
            .results_matter
            .entry(function.as_value_ref() as usize)
            .or_insert_with(|| result_matters(function))
    }

    /// Forgets the blocks read so far unless they are `function`'s (walks stay in one
    /// function, and the loads come function by function).
    fn enter(&mut self, function: Option<FunctionValue<'ctx>>) {
        if self.function != function {
            self.function = function;
            self.blocks.clear();
            self.edges.clear();
        }
    }

    /// Reads `block` again when a walk next needs it.
    fn forget(&mut self, block: Option<BasicBlock<'ctx>>) {
        if let Some(block) = block {
            self.blocks.remove(&block_key(block));
        }
    }

    fn block(&mut self, block: BasicBlock<'ctx>) -> &BlockRecord<'ctx> {
        self.blocks
            .entry(block_key(block))
            .or_insert_with(|| BlockRecord::read(block))
    }

    /// The values the phis of `to` take from `from`.
    fn edge(&mut self, from: BasicBlock<'ctx>, to: BasicBlock<'ctx>) -> &[PhiInput] {
        let inputs = self
            .edges
            .entry(block_key(to))
            .or_insert_with(|| phi_inputs(to));
        inputs.get(&block_key(from)).map_or(&[], Vec::as_slice)
    }
}

impl<'ctx> BlockRecord<'ctx> {
    fn read(block: BasicBlock<'ctx>) -> BlockRecord<'ctx> {
        let mut record = BlockRecord {
            steps: Vec::new(),
            operands: Vec::new(),
            successors: Vec::new(),
        };
        let mut next = block.get_first_instruction();
        while let Some(inst) = next {
            next = inst.get_next_instruction();
            let first = record.operands.len();
            for i in 0..inst.get_num_operands() {
                match inst.get_operand(i) {
                    Some(Operand::Value(v)) => {
                        record.operands.extend(v.as_instruction_value().map(key));
                    }
                    Some(Operand::Block(to)) if next.is_none() => record.successors.push(to),
                    _ => {}
                }
            }
            record.steps.push(Step {
                inst,
                opcode: inst.get_opcode(),
                operand_range: first..record.operands.len(),
            });
        }
        record
    }
}

/// For each predecessor of `to`, what each phi of `to` takes from it.
fn phi_inputs(to: BasicBlock<'_>) -> FxHashMap<usize, Vec<PhiInput>> {
    let mut inputs: FxHashMap<usize, Vec<PhiInput>> = FxHashMap::default();
    let mut next = to.get_first_instruction();
    while let Some(inst) = next.filter(|i| i.get_opcode() == InstructionOpcode::Phi) {
        next = inst.get_next_instruction();
        let Ok(phi) = PhiValue::try_from(inst) else {
            continue;
        };
        for i in 0..phi.count_incoming() {
            let Some((value, from)) = phi.get_incoming(i) else {
                continue;
            };
            let input = PhiInput {
                phi: key(inst),
                value: value.as_instruction_value().map(key),
            };
            let on_edge = inputs.entry(block_key(from)).or_default();
            // A `switch` with several cases to one block lists that edge once per case,
            // always with the same value.
            if !on_edge.iter().any(|seen| seen.phi == input.phi) {
                on_edge.push(input);
            }
        }
    }
    inputs
}

/// Whether every way on from `load` reaches an anchor ([`Role::Anchor`]) that uses a value
/// computed from this run of the load, before anything that could end the function: a
/// return, a trap or a call that might not return. Only then can no transformation leave the
/// load out of a run in which wasm executes it: it may be moved, merged or duplicated, but
/// the anchor still needs its value, and the anchor stays where it is. A use by pure code is
/// not enough, since the optimiser sinks pure code, and a load with it, into the one block
/// that uses it, and deletes it where a later step finds its result unused (after a call
/// that turns out never to return, say).
///
/// The walk follows each way with the set of values that hold, on it, what was computed from
/// this run of the load: pure code on such a value adds its result, a phi adds itself on the
/// edges that bring such a value, and a value computed again from other values leaves the
/// set (so `load` itself does when it runs again round a loop, and an accumulator it was added
/// to stays). A way on which the set runs empty is not covered.
fn covered<'ctx>(load: InstructionValue<'ctx>, walks: &mut Walks<'ctx>) -> bool {
    let Some(start) = load.get_parent() else {
        return false;
    };
    walks.enter(start.get_parent());
    let allowed = LOAD_WALK_BUDGET.min(walks.left);
    let mut left = allowed;
    let covered = walk_ways(load, start, &mut left, walks);
    walks.left -= allowed - left;
    covered
}

/// [`covered`]'s walk, from `load` in `start`, within `budget` instructions.
fn walk_ways<'ctx>(
    load: InstructionValue<'ctx>,
    start: BasicBlock<'ctx>,
    budget: &mut usize,
    walks: &mut Walks<'ctx>,
) -> bool {
    let load_key = key(load);
    let after_load = walks
        .block(start)
        .steps
        .iter()
        .position(|step| key(step.inst) == load_key)
        .map_or(usize::MAX, |at| at + 1);
    let mut sets = DerivedSets::default();
    let mut seen = FxHashSet::default();
    let mut anchors = 0;
    let mut work = vec![(start, after_load, sets.intern(&[load_key]))];
    'ways: while let Some((block, first, set)) = work.pop() {
        let mut derived = sets.get(set).to_vec();
        let mut at = first;
        loop {
            let record = walks.block(block);
            let Some(step) = record.steps.get(at) else {
                break;
            };
            at += 1;
            let is_terminator = at == record.steps.len();
            let (inst, opcode) = (step.inst, step.opcode);
            *budget = match budget.checked_sub(1) {
                Some(b) => b,
                None => return false,
            };
            if opcode == InstructionOpcode::Phi {
                // Settled on the edge into the block.
                continue;
            }
            let uses_derived = record.operands[step.operand_range.clone()]
                .iter()
                .any(|operand| derived.binary_search(operand).is_ok());
            let role = if uses_derived {
                role(inst, &derived, load, walks)
            } else {
                Role::Unrelated
            };
            match role {
                Role::Anchor => {
                    anchors += 1;
                    continue 'ways;
                }
                Role::Carries => insert(&mut derived, key(inst)),
                Role::Unrelated => remove(&mut derived, key(inst)),
            }
            if derived.is_empty() || !goes_on(inst, opcode) {
                return false;
            }
            if is_terminator {
                // The terminator, not an anchor: a `ret` or `unreachable` ends the way.
                let successors = walks.block(block).successors.clone();
                if successors.is_empty() {
                    return false;
                }
                let here = sets.intern(&derived);
                for to in successors {
                    // Each way is a step too: a `switch` may start a thousand of them.
                    *budget = match budget.checked_sub(1) {
                        Some(b) => b,
                        None => return false,
                    };
                    let inputs = walks.edge(block, to);
                    let on = if inputs.is_empty() {
                        here
                    } else {
                        sets.intern(&across(inputs, &derived))
                    };
                    if seen.insert((block_key(to), on)) {
                        work.push((to, 0, on));
                    }
                }
            }
        }
    }
    // Ways that only ever come back round (a loop with no way out) need the value nowhere.
    anchors > 0
}

/// The sets of values computed from the load that one walk has met, each stored once: a walk
/// reaches many blocks with the same set (every case of a `switch`), and keys its ways by them.
#[derive(Default)]
struct DerivedSets {
    ids: FxHashMap<Vec<usize>, u32>,
    sets: Vec<Vec<usize>>,
}

impl DerivedSets {
    fn intern(&mut self, set: &[usize]) -> u32 {
        if let Some(&id) = self.ids.get(set) {
            return id;
        }
        let id = self.sets.len() as u32;
        self.sets.push(set.to_vec());
        self.ids.insert(set.to_vec(), id);
        id
    }

    fn get(&self, id: u32) -> &[usize] {
        &self.sets[id as usize]
    }
}

/// What an instruction that uses a value computed from the load does with it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// It stays where it is and keeps the value needed: a store (but not one back to where
    /// the load read), a call that passes it on to code that reads it, a branch on it, a
    /// return whose result a caller uses.
    Anchor,
    /// Pure code whose result is computed from it.
    Carries,
    /// Neither: a select that may pick it (the back end may turn the select into a branch
    /// with the load moved into one side), a call to code that ignores it, a return whose
    /// result no caller uses.
    Unrelated,
}

/// The [`Role`] of `inst`, which uses one of the `derived` values of `load`.
fn role(
    inst: InstructionValue<'_>,
    derived: &[usize],
    load: InstructionValue<'_>,
    walks: &mut Walks<'_>,
) -> Role {
    use InstructionOpcode::*;
    match inst.get_opcode() {
        // Storing the value back where it was loaded from is a no-op instcombine deletes.
        Store if stores_back(inst, load) => Role::Unrelated,
        Add | Sub | Mul | UDiv | SDiv | URem | SRem | FAdd | FSub | FMul | FDiv | FRem | FNeg
        | Shl | LShr | AShr | And | Or | Xor | Trunc | ZExt | SExt | FPToUI | FPToSI | UIToFP
        | SIToFP | FPTrunc | FPExt | PtrToInt | IntToPtr | BitCast | AddrSpaceCast
        | GetElementPtr | ICmp | FCmp | ExtractValue | InsertValue | ExtractElement
        | InsertElement | ShuffleVector | Freeze | Load => Role::Carries,
        Select => match inst.get_operand(0) {
            Some(Operand::Value(c)) if is_derived(c, derived) => Role::Carries,
            _ => Role::Unrelated,
        },
        Call => call_role(inst, derived),
        Return => match inst.get_parent().and_then(|b| b.get_parent()) {
            Some(function) if walks.result_matters(function) => Role::Anchor,
            _ => Role::Unrelated,
        },
        _ => Role::Anchor,
    }
}

/// Whether `store` may store what `load` read back where it read it: same address, and a value
/// that is the load's through casts alone, as wide as what was read.
fn stores_back(store: InstructionValue<'_>, load: InstructionValue<'_>) -> bool {
    use InstructionOpcode::{BitCast, SExt, Trunc, ZExt};
    if store.get_operand(1) != load.get_operand(0) {
        return false;
    }
    let mut value = match store.get_operand(0) {
        Some(Operand::Value(v)) => v,
        _ => return false,
    };
    let stored_type = value.get_type();
    loop {
        let Some(inst) = value.as_instruction_value() else {
            return false;
        };
        if inst == load {
            return BasicValueEnum::try_from(load.as_any_value_enum())
                .is_ok_and(|v| v.get_type() == stored_type);
        }
        if !matches!(inst.get_opcode(), BitCast | SExt | Trunc | ZExt) {
            return false;
        }
        value = match inst.get_operand(0) {
            Some(Operand::Value(v)) => v,
            _ => return false,
        };
    }
}

/// The [`Role`] of a call that passes one of the `derived` values.
fn call_role(inst: InstructionValue<'_>, derived: &[usize]) -> Role {
    if super::address::is_base_copy(inst) {
        return Role::Carries;
    }
    let Some(callee) = called_function(inst) else {
        // Through a pointer or an `asm`: whatever it is gets the value.
        return Role::Anchor;
    };
    if callee.get_intrinsic_id() != 0 {
        let memory = Attribute::get_named_enum_kind_id("memory");
        return match callee.get_enum_attribute(AttributeLoc::Function, memory) {
            Some(effects) if effects.get_enum_value() == 0 => Role::Carries,
            _ => Role::Anchor,
        };
    }
    if callee.count_basic_blocks() == 0 {
        return Role::Anchor;
    }
    // A defined function: the argument may be dropped if its parameter is unused.
    let passes_on = (0..callee.count_params()).any(|i| {
        matches!(inst.get_operand(i), Some(Operand::Value(v)) if is_derived(v, derived))
            && callee
                .get_nth_param(i)
                .is_some_and(|p| p.get_first_use().is_some())
    });
    if passes_on {
        Role::Anchor
    } else {
        Role::Unrelated
    }
}

/// Whether what `function` returns matters to every caller it has: it is visible outside the
/// module, and every call to it in the module uses its result. (One that ignores it can have
/// it inlined, and then the result, and the loads it came from, are dead.)
fn result_matters(function: FunctionValue<'_>) -> bool {
    if !matches!(function.get_linkage(), Linkage::Private | Linkage::Internal) {
        return true;
    }
    let mut next = function
        .as_global_value()
        .as_pointer_value()
        .get_first_use();
    while let Some(u) = next {
        next = u.get_next_use();
        let Some(user) = instruction(u.get_user()) else {
            continue;
        };
        if called_function(user) == Some(function) && user.get_first_use().is_none() {
            return false;
        }
    }
    true
}

/// The values that hold what was computed from the load once a way goes along an edge whose
/// phis take `inputs`: each phi is one of them if what it takes on the edge is.
fn across(inputs: &[PhiInput], derived: &[usize]) -> Vec<usize> {
    let mut on = derived.to_vec();
    for input in inputs {
        let takes = input
            .value
            .is_some_and(|v| derived.binary_search(&v).is_ok());
        if takes {
            insert(&mut on, input.phi);
        } else {
            remove(&mut on, input.phi);
        }
    }
    on
}

fn is_derived(value: BasicValueEnum<'_>, derived: &[usize]) -> bool {
    value
        .as_instruction_value()
        .is_some_and(|i| derived.binary_search(&key(i)).is_ok())
}

/// An instruction's identity in a sorted set of them.
fn key(inst: InstructionValue<'_>) -> usize {
    inst.as_value_ref() as usize
}

fn block_key(block: BasicBlock<'_>) -> usize {
    block.as_mut_ptr() as usize
}

fn insert(set: &mut Vec<usize>, k: usize) {
    if let Err(at) = set.binary_search(&k) {
        set.insert(at, k);
    }
}

fn remove(set: &mut Vec<usize>, k: usize) {
    if let Ok(at) = set.binary_search(&k) {
        set.remove(at);
    }
}

/// The function `inst` calls by name, if it is such a call.
fn called_function(inst: InstructionValue<'_>) -> Option<FunctionValue<'_>> {
    CallSiteValue::try_from(inst)
        .ok()
        .and_then(|call| call.get_called_fn_value())
}

/// The instruction `value` is, if it is one.
fn instruction(value: AnyValueEnum<'_>) -> Option<InstructionValue<'_>> {
    match value {
        AnyValueEnum::InstructionValue(i) => Some(i),
        AnyValueEnum::PhiValue(phi) => Some(phi.as_instruction()),
        other => BasicValueEnum::try_from(other)
            .ok()
            .and_then(|v| v.as_instruction_value()),
    }
}

/// Whether execution surely goes on after `inst`: a call only if it is an intrinsic, a base
/// copy or a function known to return. (A trap does not: were the load moved past the branch
/// to it, a run in which both trap would report the other trap.)
fn goes_on(inst: InstructionValue<'_>, opcode: InstructionOpcode) -> bool {
    if opcode != InstructionOpcode::Call || super::address::is_base_copy(inst) {
        return true;
    }
    let will_return = Attribute::get_named_enum_kind_id("willreturn");
    called_function(inst).is_some_and(|callee| {
        callee.get_intrinsic_id() != 0
            || callee
                .get_enum_attribute(AttributeLoc::Function, will_return)
                .is_some()
    })
}
