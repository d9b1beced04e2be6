//! Who calls whom in a module, read once from the function bodies: what decides which
//! functions stay out of line ([`crate::inlining`]) and how a module is split across cores
//! ([`crate::partition`]).

use crate::error::CompileError;
use crate::module_info::{ConstExpr, ExportKindIndex, ModuleInfo};
use wasmparser::Operator;

/// `uses` of a function that can be reached other than by a direct call.
pub const ESCAPES: usize = usize::MAX;

/// The direct calls between defined functions. Indices are of defined functions (function
/// index minus the imported ones).
#[derive(Debug, Default)]
pub struct CallGraph {
    /// Code bytes of each function's body.
    pub sizes: Vec<usize>,
    /// Loops in each function.
    pub loops: Vec<usize>,
    /// The defined functions each one calls, once per call site.
    pub callees: Vec<Vec<usize>>,
    /// Call sites of each function; [`ESCAPES`] once it can be reached otherwise (exported,
    /// the start function, in a table or a global, taken by `ref.func`).
    pub uses: Vec<usize>,
}

impl CallGraph {
    pub fn scan(info: &ModuleInfo<'_>) -> Result<CallGraph, CompileError> {
        let first = info.imported_functions;
        let defined = info.bodies.len();
        let mut graph = CallGraph {
            sizes: info
                .bodies
                .iter()
                .map(|b| (b.range().end - b.range().start) as usize)
                .collect(),
            loops: vec![0; defined],
            callees: vec![Vec::new(); defined],
            uses: vec![0; defined],
        };
        let defined_index = |function: u32| {
            (function as usize)
                .checked_sub(first)
                .filter(|&i| i < defined)
        };
        let escape = |uses: &mut Vec<usize>, function: u32| {
            if let Some(i) = defined_index(function) {
                uses[i] = ESCAPES;
            }
        };
        for export in &info.exports {
            if let ExportKindIndex::Func(f) = export.kind {
                escape(&mut graph.uses, f);
            }
        }
        if let Some(start) = info.start {
            escape(&mut graph.uses, start);
        }
        let referenced = info
            .elems
            .iter()
            .flat_map(|e| e.items.iter().copied())
            .chain(info.globals.iter().filter_map(|g| g.init));
        for item in referenced {
            if let ConstExpr::RefFunc(f) = item {
                escape(&mut graph.uses, f);
            }
        }
        for (i, body) in info.bodies.iter().enumerate() {
            let mut reader = body.get_operators_reader()?;
            while !reader.eof() {
                match reader.read()? {
                    Operator::Loop { .. } => graph.loops[i] += 1,
                    Operator::Call { function_index } => {
                        if let Some(callee) = defined_index(function_index) {
                            graph.callees[i].push(callee);
                            graph.uses[callee] = graph.uses[callee].saturating_add(1);
                        }
                    }
                    Operator::RefFunc { function_index } => escape(&mut graph.uses, function_index),
                    _ => {}
                }
            }
        }
        Ok(graph)
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    pub fn escapes(&self, function: usize) -> bool {
        self.uses[function] == ESCAPES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_counts_loops_calls_and_escapes() {
        let wat = r#"(module
            (import "env" "f" (func $imported))
            (func $main (export "_start") (call $a) (call $b) (call $b) (call $imported))
            (func $a (loop (br 0)) (loop (br 0)))
            (func $b (loop (br 0)) (drop (ref.func $c)))
            (func $c)
            (table 1 funcref) (elem (i32.const 0) $a))"#;
        let wasm = wat::parse_str(wat).unwrap();
        let info = ModuleInfo::parse(&wasm).unwrap();
        let graph = CallGraph::scan(&info).unwrap();
        // Defined functions only: the import is not a node, nor a callee.
        assert_eq!(graph.len(), 4);
        assert_eq!(graph.loops, [0, 2, 1, 0]);
        assert_eq!(graph.callees[0], [1, 2, 2]);
        // Exported, in a table, called twice, taken by ref.func.
        assert_eq!(graph.uses, [ESCAPES, ESCAPES, 2, ESCAPES]);
        assert!(graph.sizes.iter().all(|&s| s > 0));
    }
}
