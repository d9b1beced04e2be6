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
//! ([`protect`]). Before the optimisation pipeline, a copy of the module goes through a short
//! one ([`PIPELINE`]) that promotes the locals, folds constants and branches, deletes all code
//! no effect depends on (`adce`) and finds the functions that always return. There each load
//! gets its [`Fate`] ([`settle_loads`]): one left without a use stays volatile; one whose
//! value is used on every way on from it before anything that could end the run ([`covered`])
//! becomes an ordinary load, which the optimiser may combine, hoist or vectorise, and which a
//! use keeps alive wherever it goes; any other becomes an ordinary load that an empty `asm`
//! right after it uses ([`pin`]), so it stays where it is. The copy is thrown away, so that the
//! pipeline proper sees the module as translated. Very large modules, whose pipeline is short
//! anyway, skip the copy: their pipeline runs with the loads volatile and ends with `adce`, and
//! the fates are decided after it ([`settle_loads_in_place`]).
//!
//! What this does not see: a load whose value only a later, deeper step proves irrelevant
//! (inlining into a caller that ignores the result), or whose one use a later step moves.

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::context::{Context, ContextRef};
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::TargetMachine;
use inkwell::values::{
    AnyValue, AnyValueEnum, BasicMetadataValueEnum, BasicValue, BasicValueEnum, CallSiteValue,
    InstructionOpcode, InstructionValue, Operand, PhiValue,
};
use std::collections::HashSet;

/// The metadata kind of a protected load.
const KIND: &str = "mewz.access";

/// The passes run on volatile-tagged loads to find those that matter: locals to SSA, constant
/// folding and propagation, branch folding, then aggressive dead code elimination; and, for
/// [`covered`], which functions always return.
const PIPELINE: &str = "function(sroa,instcombine<no-verify-fixpoint>,simplifycfg,sccp,\
     instcombine<no-verify-fixpoint>,simplifycfg,adce),cgscc(function-attrs)";

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
/// [`PIPELINE`], and carries it out.
pub(crate) fn settle_loads(module: &Module<'_>, machine: &TargetMachine) -> Result<(), String> {
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
    let copy = module.clone();
    copy.run_passes(PIPELINE, machine, PassBuilderOptions::create())
        .map_err(|e| e.to_string())?;
    // The short pipeline may duplicate a load: it is dead or free only if every copy is, and
    // pinned otherwise. One with no copy left was in code that never runs.
    let mut fates: Vec<Option<Fate>> = vec![None; loads.len()];
    for (load, number) in protected(&copy) {
        let Some(n) = number.map(|n| n as usize).filter(|&n| n < loads.len()) else {
            continue;
        };
        let fate = Fate::of(load);
        fates[n] = Some(match fates[n] {
            Some(seen) if seen != fate => Fate::Pinned,
            _ => fate,
        });
    }
    drop(copy);
    for ((load, _), fate) in loads.iter().zip(fates) {
        settle(context, *load, fate.unwrap_or(Fate::Free))?;
    }
    Ok(())
}

/// [`settle_loads`] for a module whose pipeline has run with the loads still volatile and
/// ended with `adce`: a load left without a use there is dead, and one not covered is pinned
/// (volatile is not enough there: the back end turns a select into a branch and moves even a
/// volatile load into the side that uses it).
pub(crate) fn settle_loads_in_place(module: &Module<'_>) -> Result<(), String> {
    let context = module.get_context();
    for (load, _) in protected(module) {
        settle(context, load, Fate::of(load))?;
    }
    Ok(())
}

/// Carries out `fate` on `load`.
fn settle<'ctx>(
    context: ContextRef<'ctx>,
    load: InstructionValue<'ctx>,
    fate: Fate,
) -> Result<(), String> {
    match fate {
        Fate::Dead => {}
        Fate::Free => release(load),
        Fate::Pinned => {
            if pin(context, load)? {
                release(load);
            }
        }
    }
    Ok(())
}

/// What becomes of a protected load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    /// Nothing uses it: it stays volatile.
    Dead,
    /// Its value is used on every way on from it ([`covered`]): an ordinary load.
    Free,
    /// Used, but not on every way on: an ordinary load that an effect keeps in place ([`pin`]).
    Pinned,
}

impl Fate {
    fn of(load: InstructionValue<'_>) -> Fate {
        if load.get_first_use().is_none() {
            Fate::Dead
        } else if covered(load) {
            Fate::Free
        } else {
            Fate::Pinned
        }
    }
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
fn pin<'ctx>(context: ContextRef<'ctx>, load: InstructionValue<'ctx>) -> Result<bool, String> {
    let Some(next) = load.get_next_instruction() else {
        return Ok(false);
    };
    let builder = context.create_builder();
    builder.position_before(&next);
    let value = match BasicValueEnum::try_from(load.as_any_value_enum()) {
        Ok(BasicValueEnum::IntValue(v)) => v,
        Ok(BasicValueEnum::FloatValue(v)) => {
            let bits = if v.get_type() == context.f32_type() {
                context.i32_type()
            } else {
                context.i64_type()
            };
            builder
                .build_bit_cast(v, bits, "pinned")
                .map_err(|e| e.to_string())?
                .into_int_value()
        }
        _ => return Ok(false),
    };
    let fn_ty = context
        .void_type()
        .fn_type(&[value.get_type().into()], false);
    let asm = context.create_inline_asm(fn_ty, String::new(), "r".into(), true, false, None, false);
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

/// Whether every way on from `load` reaches a use of its value before anything that could
/// end the function or make the optimiser drop the load: a return, a trap, a call that might
/// not return, or `load` itself again (round a loop). Only then can no transformation leave
/// the load out of a run in which wasm executes it: it may be moved, merged or duplicated,
/// but a use of its value still needs it. A load with no use is not covered.
fn covered(load: InstructionValue<'_>) -> bool {
    let mut users = HashSet::new();
    // (phi block, incoming block): the edges on which a phi takes the load's value.
    let mut phi_edges = HashSet::new();
    let Ok(load_value) = BasicValueEnum::try_from(load.as_any_value_enum()) else {
        return false;
    };
    let mut next_use = load.get_first_use();
    while let Some(u) = next_use {
        next_use = u.get_next_use();
        let Some(user) = instruction(u.get_user()) else {
            return false;
        };
        match PhiValue::try_from(user) {
            Ok(phi) => {
                let Some(block) = user.get_parent() else {
                    return false;
                };
                for i in 0..phi.count_incoming() {
                    if let Some((value, from)) = phi.get_incoming(i)
                        && value == load_value
                    {
                        phi_edges.insert((block, from));
                    }
                }
            }
            // A select uses a value it picks only when it picks it, and the back end may
            // well turn it into a branch with the load moved into one side.
            Err(()) if user.get_opcode() == InstructionOpcode::Select => {
                if user.get_operand(0) == Some(Operand::Value(load_value)) {
                    users.insert(user);
                }
            }
            Err(()) => {
                users.insert(user);
            }
        }
    }
    if users.is_empty() && phi_edges.is_empty() {
        return false;
    }
    let Some(start) = load.get_parent() else {
        return false;
    };
    let mut visited = HashSet::new();
    let mut work = vec![(start, load.get_next_instruction())];
    while let Some((block, mut next)) = work.pop() {
        while let Some(inst) = next {
            next = inst.get_next_instruction();
            if users.contains(&inst) {
                break;
            }
            if inst == load || !goes_on(inst) {
                return false;
            }
            if next.is_none() {
                // The terminator: a `ret` or `unreachable` has no successors.
                let mut successors = 0;
                for i in 0..inst.get_num_operands() {
                    if let Some(Operand::Block(to)) = inst.get_operand(i) {
                        successors += 1;
                        if !phi_edges.contains(&(to, block)) && visited.insert(to) {
                            work.push((to, to.get_first_instruction()));
                        }
                    }
                }
                if successors == 0 {
                    return false;
                }
            }
        }
    }
    true
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
fn goes_on(inst: InstructionValue<'_>) -> bool {
    if inst.get_opcode() != InstructionOpcode::Call || super::address::is_base_copy(inst) {
        return true;
    }
    let will_return = Attribute::get_named_enum_kind_id("willreturn");
    CallSiteValue::try_from(inst)
        .ok()
        .and_then(|call| call.get_called_fn_value())
        .is_some_and(|callee| {
            callee.get_intrinsic_id() != 0
                || callee
                    .get_enum_attribute(AttributeLoc::Function, will_return)
                    .is_some()
        })
}
