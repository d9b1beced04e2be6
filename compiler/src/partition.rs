//! How a module's functions are split into LLVM modules compiled at once, one per core.
//!
//! LLVM compiles a module on one thread, so a module split in two compiles in about half the
//! time on two cores. The price is what LLVM no longer sees across the cut: a call into another
//! partition cannot be inlined, and a function called from another partition is an external
//! symbol, out of reach of interprocedural passes (constants propagated into arguments,
//! attributes inferred). Cut anywhere, an ed25519 program (150 KiB of code) ran 46% more
//! instructions. So below [`CONTIGUOUS_FROM_BYTES`] a module is split only along calls LLVM
//! would not inline anyway: calls to functions kept out of line ([`crate::inlining`]). The
//! groups of functions joined by every other call are packed into partitions of about equal
//! code, and the module is split only if that saves much ([`MAX_HEAVIEST_SHARE`]). From
//! [`CONTIGUOUS_FROM_BYTES`] on the light pipeline runs, which inlines nothing: functions are
//! cut into contiguous ranges of equal code. In either case a function that only its own
//! partition reaches stays internal there.

use crate::call_graph::CallGraph;
use crate::module_info::ModuleInfo;
use std::collections::HashSet;

/// Function code from which modules are split into contiguous ranges (where the light
/// pipeline starts; see `codegen::LIGHT_PIPELINE_BYTES`).
pub const CONTIGUOUS_FROM_BYTES: usize = crate::codegen::LIGHT_PIPELINE_BYTES;

/// Function code from which a module is split along calls kept out of line. Below it a
/// module compiles in about a second whole.
pub const ALONG_CALLS_FROM_BYTES: usize = 64 * 1024;

/// A split along calls is made only if no partition gets more than this share (in percent)
/// of the code: a smaller gain does not pay for the calls between partitions.
pub const MAX_HEAVIEST_SHARE: usize = 75;

/// The most partitions (threads, each with its own LLVM context) one compile uses.
const MAX_PARTITIONS: usize = 8;

/// Which part of the module one LLVM module holds: the defined functions `functions`
/// (function index space, ascending). Partition 0 also defines all module state and the
/// descriptor; the others refer to it (hidden symbols, localised after the objects are
/// merged).
#[derive(Clone, Debug)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
    pub functions: Vec<usize>,
    /// Functions defined here that nothing outside this partition reaches: internal here.
    local: HashSet<usize>,
}

impl Partition {
    pub fn whole(info: &ModuleInfo<'_>) -> Partition {
        let functions: Vec<usize> = (info.imported_functions..info.functions.len()).collect();
        Partition {
            index: 0,
            count: 1,
            local: functions.iter().copied().collect(),
            functions,
        }
    }

    pub fn defines_state(&self) -> bool {
        self.index == 0
    }

    /// Whether `function` (function index space) is defined here and reached from nowhere
    /// else, so that its symbol can be internal.
    pub fn is_local(&self, function: usize) -> bool {
        self.local.contains(&function)
    }
}

/// The partitions of `info`'s functions, one per core (at most [`MAX_PARTITIONS`]) for
/// modules large enough to gain; `forced` contiguous ranges instead if given. `kept_apart`
/// are the functions that stay out of line (indices of defined functions).
pub fn partitions(
    info: &ModuleInfo<'_>,
    graph: &CallGraph,
    kept_apart: &HashSet<usize>,
    forced: Option<usize>,
) -> Vec<Partition> {
    let total: usize = graph.sizes.iter().sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let count = forced.unwrap_or(cores).clamp(1, MAX_PARTITIONS);
    let groups = if count == 1 || graph.len() < 2 {
        None
    } else if forced.is_some() || total >= CONTIGUOUS_FROM_BYTES {
        Some(contiguous(&graph.sizes, count))
    } else if total >= ALONG_CALLS_FROM_BYTES {
        along_calls(graph, kept_apart, count)
    } else {
        None
    };
    // Partitions are merged by the linker and objcopy; without them, one module.
    let Some(groups) =
        groups.filter(|g| g.len() > 1 && (forced.is_some() || crate::merge::available()))
    else {
        return vec![Partition::whole(info)];
    };
    from_groups(info.imported_functions, graph, groups)
}

/// The partitions holding `groups` of defined functions (indices of defined functions; the
/// first imported function has index `first` in the function index space), each function's
/// linkage decided.
fn from_groups(first: usize, graph: &CallGraph, groups: Vec<Vec<usize>>) -> Vec<Partition> {
    let mut owner = vec![0; graph.len()];
    for (p, group) in groups.iter().enumerate() {
        for &f in group {
            owner[f] = p;
        }
    }
    // Reached from another partition: escapes (the descriptor, tables and `ref.func` may be
    // anywhere) or is called from another partition.
    let mut shared: Vec<bool> = (0..graph.len()).map(|f| graph.escapes(f)).collect();
    for (caller, callees) in graph.callees.iter().enumerate() {
        for &callee in callees {
            if owner[callee] != owner[caller] {
                shared[callee] = true;
            }
        }
    }
    let count = groups.len();
    groups
        .into_iter()
        .enumerate()
        .map(|(index, mut group)| {
            group.sort_unstable();
            Partition {
                index,
                count,
                local: group
                    .iter()
                    .filter(|&&f| !shared[f])
                    .map(|&f| first + f)
                    .collect(),
                functions: group.into_iter().map(|f| first + f).collect(),
            }
        })
        .collect()
}

/// `count` contiguous ranges of about equal code (fewer if there are fewer functions).
fn contiguous(sizes: &[usize], count: usize) -> Vec<Vec<usize>> {
    let total: usize = sizes.iter().sum();
    let mut groups = vec![Vec::new()];
    let mut accumulated = 0;
    for (f, size) in sizes.iter().enumerate() {
        groups.last_mut().expect("one group at least").push(f);
        accumulated += size;
        let boundary = total * groups.len() / count;
        if accumulated >= boundary && groups.len() < count && f + 1 < sizes.len() {
            groups.push(Vec::new());
        }
    }
    groups
}

/// Partitions that no call LLVM might inline crosses: the groups of functions joined by calls
/// to functions not kept apart, packed heaviest first into the lightest of `count`
/// partitions. None if the heaviest partition would still hold over [`MAX_HEAVIEST_SHARE`]
/// of the code.
fn along_calls(
    graph: &CallGraph,
    kept_apart: &HashSet<usize>,
    count: usize,
) -> Option<Vec<Vec<usize>>> {
    let mut groups = UnionFind::new(graph.len());
    for (caller, callees) in graph.callees.iter().enumerate() {
        for &callee in callees.iter().filter(|c| !kept_apart.contains(c)) {
            groups.join(caller, callee);
        }
    }
    let mut members: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut slot = vec![usize::MAX; graph.len()];
    for f in 0..graph.len() {
        let root = groups.root(f);
        if slot[root] == usize::MAX {
            slot[root] = members.len();
            members.push((0, Vec::new()));
        }
        let group = &mut members[slot[root]];
        group.0 += graph.sizes[f];
        group.1.push(f);
    }
    // Heaviest first; ties by first function, so the split never depends on anything but
    // the module.
    members.sort_by(|a, b| b.0.cmp(&a.0).then(a.1[0].cmp(&b.1[0])));
    let mut bins: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); count];
    for (size, functions) in members {
        let lightest = bins
            .iter_mut()
            .min_by_key(|(load, _)| *load)
            .expect("count is at least 1");
        lightest.0 += size;
        lightest.1.extend(functions);
    }
    let total: usize = graph.sizes.iter().sum();
    let heaviest = bins.iter().map(|(load, _)| *load).max().unwrap_or(0);
    if heaviest * 100 > total * MAX_HEAVIEST_SHARE {
        return None;
    }
    Some(
        bins.into_iter()
            .filter(|(_, f)| !f.is_empty())
            .map(|(_, f)| f)
            .collect(),
    )
}

/// Disjoint sets of `0..n`, joined by path-halving roots.
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    fn root(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call_graph::ESCAPES;

    /// f0 (exported) calls f1..=n once each, `size` bytes each; f0 has `main_size` bytes.
    fn fan_out(n: usize, main_size: usize, size: usize) -> CallGraph {
        let mut graph = CallGraph {
            sizes: vec![size; n + 1],
            loops: vec![1; n + 1],
            callees: vec![Vec::new(); n + 1],
            uses: vec![1; n + 1],
        };
        graph.sizes[0] = main_size;
        graph.callees[0] = (1..=n).collect();
        graph.uses[0] = ESCAPES;
        graph
    }

    #[test]
    fn functions_kept_apart_are_spread_and_the_rest_stays_with_its_callers() {
        let mut graph = fan_out(10, 1000, 1000);
        // Not f0 but f9 calls f10, which is not kept apart: they stay together.
        graph.callees[0].pop();
        graph.callees[9].push(10);
        let apart: HashSet<usize> = (1..=9).collect();
        let groups = along_calls(&graph, &apart, 2).expect("a split");
        assert_eq!(groups.len(), 2);
        let sizes: Vec<usize> = groups.iter().map(|g| g.len() * 1000).collect();
        assert_eq!(sizes, [6000, 5000]);
        let with = |f: usize| groups.iter().position(|g| g.contains(&f)).unwrap();
        assert_eq!(with(9), with(10));
        // The same module splits the same way every time.
        assert_eq!(along_calls(&graph, &apart, 2), Some(groups));
    }

    #[test]
    fn no_split_along_calls_when_one_group_holds_most_of_the_code() {
        // Nothing kept apart: one group.
        let graph = fan_out(10, 1000, 1000);
        assert_eq!(along_calls(&graph, &HashSet::new(), 2), None);
        // Kept apart, but main alone is 80% of the code.
        let graph = fan_out(4, 16000, 1000);
        assert_eq!(along_calls(&graph, &(1..=4).collect(), 2), None);
        // 75% is still worth it.
        let graph = fan_out(4, 12000, 1000);
        assert!(along_calls(&graph, &(1..=4).collect(), 2).is_some());
    }

    #[test]
    fn contiguous_ranges_have_about_equal_code() {
        assert_eq!(
            contiguous(&[10, 10, 10, 10, 10, 10], 3),
            [vec![0, 1], vec![2, 3], vec![4, 5]]
        );
        assert_eq!(contiguous(&[100, 1, 1, 1], 2), [vec![0], vec![1, 2, 3]]);
        // Fewer functions than partitions: one each.
        assert_eq!(contiguous(&[5, 5], 4), [vec![0], vec![1]]);
    }

    #[test]
    fn only_functions_reached_from_their_own_partition_are_internal() {
        // f0 (exported) calls f1 and f2; f1 calls f3; f4 is in a table.
        let graph = CallGraph {
            sizes: vec![1; 5],
            loops: vec![0; 5],
            callees: vec![vec![1, 2], vec![3], vec![], vec![], vec![]],
            uses: vec![ESCAPES, 1, 1, 1, ESCAPES],
        };
        let parts = from_groups(2, &graph, vec![vec![2, 0], vec![1, 3, 4]]);
        assert_eq!(parts[0].functions, [2, 4]);
        assert_eq!(parts[1].functions, [3, 5, 6]);
        // f2 only from f0, f3 only from f1: internal. f0 and f4 escape, f1 is called from
        // the other partition.
        let local: Vec<usize> = (2..7)
            .filter(|&f| parts.iter().any(|p| p.is_local(f)))
            .collect();
        assert_eq!(local, [4, 5]);
        assert!(parts[0].is_local(4) && !parts[1].is_local(4));
        assert!(parts[0].defines_state() && !parts[1].defines_state());
        assert!(parts.iter().all(|p| p.count == 2));
    }
}
