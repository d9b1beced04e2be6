//! The third module of every fuzz script: mostly fixed-width SIMD. In wasm-smith's modules of
//! all instructions fewer than half hold a SIMD operator at all (seeds 1-100: 40, with 336
//! operators in all), so a module here is drawn from vector, integer, variable, parametric and
//! memory instructions only: straight-line functions over `v128` and scalar values, loads and
//! stores included, whose results and memory the script then compares.

use super::SplitMix64;
use arbitrary::Unstructured;
use wasm_smith::{InstructionKind, InstructionKinds};

/// A module as described above, drawn from `rng`; `disallow_traps` as for the first module.
pub(super) fn module(rng: &mut SplitMix64, disallow_traps: bool) -> Result<Vec<u8>, String> {
    let len = 4096 + (rng.next() % 32_768) as usize;
    let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    let config = wasm_smith::Config {
        allowed_instructions: InstructionKinds::new(&[
            InstructionKind::Vector,
            InstructionKind::NumericInt,
            InstructionKind::Variable,
            InstructionKind::Parametric,
            InstructionKind::Memory,
        ]),
        max_tables: 0,
        min_types: 2,
        min_funcs: 2,
        max_funcs: 6,
        max_instructions: 80,
        ..super::generator(disallow_traps)
    };
    let module = wasm_smith::Module::new(config, &mut Unstructured::new(&bytes))
        .map_err(|e| format!("wasm-smith (vector module): {e}"))?;
    Ok(module.to_bytes())
}
