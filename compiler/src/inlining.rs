//! Which functions stay out of line (`noinline`), so that LLVM's inliner does not gather the
//! loops of many functions into one.
//!
//! LLVM inlines a private function with one call site whatever its size (the last call to it
//! leaves no copy behind). A wasm module keeps many such functions apart on purpose: its
//! producer made its inlining decisions already, and e.g. C's `noinline` is gone from the
//! wasm. Inlined back, a `main` that calls 400 loop kernels once each became one function of
//! 1300 loops one after another, and passes that walk up the dominator tree from each loop
//! (ScalarEvolution's `isBasicBlockEntryGuardedByCond`, for IndVarSimplify) spent 17 s of CPU
//! on it, growing with the square of the loops. A function run once per call of a loop-rich
//! caller gains nothing measurable from being inlined, so beyond [`MAX_GATHERED_LOOPS`] the
//! functions that bring the most loops stay out of line.

use crate::call_graph::CallGraph;
use std::collections::HashSet;

/// The most loops a function may gather from the functions only it calls (and those only
/// they call, and so on), its own included.
pub const MAX_GATHERED_LOOPS: usize = 64;

/// The defined functions (indices of defined functions, as in `graph`) that must not be
/// inlined.
pub fn kept_apart(graph: &CallGraph) -> HashSet<usize> {
    keep_apart(&graph.loops, &graph.callees, &graph.uses)
}

/// [`kept_apart`] on the call graph: `loops` and `callees` of each function, `uses` the call
/// sites of each. Indices are of defined functions.
fn keep_apart(loops: &[usize], callees: &[Vec<usize>], uses: &[usize]) -> HashSet<usize> {
    let inlined_once = |callee: usize| uses[callee] == 1;
    // The functions called once form trees under their callers: gather bottom-up, each
    // function after all the ones it calls once (an explicit stack: call chains are deep).
    let mut gathered: Vec<Option<usize>> = vec![None; loops.len()];
    let mut on_stack = vec![false; loops.len()];
    let mut apart = HashSet::new();
    for root in 0..loops.len() {
        if gathered[root].is_some() {
            continue;
        }
        let mut stack = vec![(root, false)];
        while let Some((f, expanded)) = stack.pop() {
            if gathered[f].is_some() {
                continue;
            }
            if !expanded {
                on_stack[f] = true;
                stack.push((f, true));
                for &g in &callees[f] {
                    if inlined_once(g) && gathered[g].is_none() && !on_stack[g] {
                        stack.push((g, false));
                    }
                }
                continue;
            }
            on_stack[f] = false;
            // A callee still unsettled here is f's own caller (a cycle): LLVM inlines one way
            // round at most; it counts for nothing on this side.
            let mut brought: Vec<(usize, usize)> = callees[f]
                .iter()
                .filter(|&&g| inlined_once(g))
                .filter_map(|&g| gathered[g].map(|w| (w, g)))
                .collect();
            let mut total = loops[f] + brought.iter().map(|(w, _)| w).sum::<usize>();
            // The heaviest first: fewest functions kept apart.
            brought.sort_unstable_by(|a, b| b.cmp(a));
            for (weight, g) in brought {
                if total <= MAX_GATHERED_LOOPS {
                    break;
                }
                if weight > 0 {
                    apart.insert(g);
                    total -= weight;
                }
            }
            gathered[f] = Some(total);
        }
    }
    apart
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module_info::ModuleInfo;

    #[test]
    fn a_caller_of_many_loop_functions_keeps_the_heaviest_apart() {
        // f0 calls f1..=f100 once each; each has one loop, f7 has ten.
        let mut loops = vec![1; 101];
        loops[0] = 0;
        loops[7] = 10;
        let mut callees = vec![Vec::new(); 101];
        callees[0] = (1..=100).collect();
        let mut uses = vec![1; 101];
        uses[0] = usize::MAX;
        let apart = keep_apart(&loops, &callees, &uses);
        // 109 loops in all: f7 (10) and 35 of one loop go, leaving 64.
        assert!(apart.contains(&7));
        assert_eq!(apart.len(), 36);
        assert!(!apart.contains(&0));
    }

    #[test]
    fn functions_called_twice_or_escaping_and_small_callers_are_left_alone() {
        // f0 calls f1 (80 loops) twice: LLVM inlines neither call for the bonus of a last
        // call, so f1 needs no noinline. f2 calls f3 (30 loops) once: well under the limit.
        let loops = [0, 80, 0, 30];
        let callees = vec![vec![1, 1, 2], vec![], vec![3], vec![]];
        let uses = [usize::MAX, 2, 1, 1];
        assert!(keep_apart(&loops, &callees, &uses).is_empty());
    }

    #[test]
    fn chains_gather_through_every_level_and_cycles_end() {
        // f0 -> f1 -> f2 -> f3, each called once, 30 loops each: f0 would gather 120.
        let loops = [30, 30, 30, 30];
        let callees = vec![vec![1], vec![2], vec![3], vec![]];
        let uses = [usize::MAX, 1, 1, 1];
        let apart = keep_apart(&loops, &callees, &uses);
        // f2 gathers f3: 60. f1 would gather 90: f2 stays apart, f1 has 30. f0: 60.
        assert_eq!(apart, HashSet::from([2]));
        // Two functions that call each other once each: no endless walk.
        let loops = [40, 40];
        let callees = vec![vec![1], vec![0]];
        let uses = [1, 1];
        assert!(keep_apart(&loops, &callees, &uses).len() <= 1);
    }

    #[test]
    fn a_module_with_more_loops_than_the_limit_keeps_the_excess_apart() {
        let mut many = String::from("(module (func $main (export \"_start\")");
        for i in 0..70 {
            many.push_str(&format!(" (call $k{i})"));
        }
        many.push(')');
        for i in 0..70 {
            many.push_str(&format!(" (func $k{i} (loop (br_if 0 (i32.const 0))))"));
        }
        many.push(')');
        let wasm = wat::parse_str(&many).unwrap();
        let info = ModuleInfo::parse(&wasm).unwrap();
        let apart = kept_apart(&CallGraph::scan(&info).unwrap());
        assert_eq!(apart.len(), 70 - MAX_GATHERED_LOOPS);
        assert!(apart.iter().all(|&f| (1..=70).contains(&f)));
    }
}
