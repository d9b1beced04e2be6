//! Loads whose value nothing uses must still trap.
//!
//! A linear-memory access out of bounds traps because it faults in the guard. LLVM knows
//! nothing of that: to it a load has no effect but its value, and a load whose value is
//! never used is deleted (by instcombine, DCE and the back end alike), and its trap with it.
//! Wasm code does leave such loads: a `drop`, a value a branch leaves on the stack, a local
//! that is set and never read, an operand of a computation whose result is one of those, or
//! of a branch whose condition turns out constant.
//!
//! So every linear-memory load is translated volatile, which LLVM never deletes, and tagged
//! ([`protect`]). Before the optimisation pipeline, a copy of the module goes through a short
//! one ([`PIPELINE`]) that promotes the locals, folds constants and branches, and deletes all
//! code no effect depends on (`adce`). A load whose copy is left without a use there feeds
//! nothing that matters: it stays volatile and faults where wasm traps. Every other load
//! becomes an ordinary load again ([`release_used`]), which the optimiser may combine, hoist or
//! vectorise, and whose value keeps it alive. The copy is thrown away, so that the pipeline
//! proper sees the module as translated. Very large modules, whose pipeline is short anyway,
//! skip the copy: their pipeline runs with the loads volatile and ends with `adce`, and the
//! loads still used after it are released then ([`release_used_in_place`]).
//!
//! What this does not see: a load whose value only a later, deeper step proves irrelevant
//! (inlining into a caller that ignores the result, a function found never to return), and a
//! load the optimiser sinks into the one branch that uses its value: on the other branch it no
//! longer runs. Such a load may still not trap (`ci/spec --fuzz` finds a few in a thousand
//! random modules that access memory out of bounds).

use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::TargetMachine;
use inkwell::values::{BasicMetadataValueEnum, InstructionOpcode, InstructionValue};

/// The metadata kind of a protected load.
const KIND: &str = "mewz.access";

/// The passes run on volatile-tagged loads to find those that matter: locals to SSA, constant
/// folding and propagation, branch folding, then aggressive dead code elimination.
const PIPELINE: &str = "function(sroa,instcombine<no-verify-fixpoint>,simplifycfg,sccp,\
     instcombine<no-verify-fixpoint>,simplifycfg,adce)";

/// Makes `load` volatile and tags it, until [`release_used`].
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

/// Makes every protected load of `module` an ordinary load again unless the copy shows that
/// nothing uses its value.
pub(crate) fn release_used(module: &Module<'_>, machine: &TargetMachine) -> Result<(), String> {
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
    // A load is dead only if every copy of it is: one the short pipeline merged away (its tag
    // lost) counts as used.
    let copy = module.clone();
    copy.run_passes(PIPELINE, machine, PassBuilderOptions::create())
        .map_err(|e| e.to_string())?;
    let mut used = vec![true; loads.len()];
    let mut seen = vec![false; loads.len()];
    for (load, number) in protected(&copy) {
        let Some(n) = number.map(|n| n as usize).filter(|&n| n < loads.len()) else {
            continue;
        };
        let has_use = load.get_first_use().is_some();
        used[n] = if seen[n] { used[n] || has_use } else { has_use };
        seen[n] = true;
    }
    drop(copy);
    release(loads.iter().map(|(load, _)| *load).zip(used));
    Ok(())
}

/// [`release_used`] for a module whose pipeline has run with the loads still volatile and
/// ended with `adce`: a load left without a use there is dead.
pub(crate) fn release_used_in_place(module: &Module<'_>) {
    release(
        protected(module)
            .into_iter()
            .map(|(load, _)| (load, load.get_first_use().is_some())),
    )
}

/// Makes the used loads ordinary loads.
fn release<'ctx>(loads: impl Iterator<Item = (InstructionValue<'ctx>, bool)>) {
    for (load, _) in loads.filter(|&(_, used)| used) {
        // Cannot fail on a load.
        let _ = load.set_volatile(false);
    }
}
