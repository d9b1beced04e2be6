//! Loops translated twice, so that what one iteration proves about a pointer it steps holds
//! from the start of the next.
//!
//! A loop that walks a pointer, `for (p = a; p != end; p++) s += p->x + p->y`, reads it at
//! `p + 8`, `p + 16`, ... in wasm. At the loop header nothing is known about `p`: on the first
//! iteration it is whatever the loop was entered with, so those adds wrap ([`super::address`])
//! and every access computes its own 32-bit address. But once an iteration has accessed the
//! next `p` (or a value it was stepped from), the back edge carries a fact: `p + c` cannot
//! wrap for some `c`. The header is the meeting point of the entry, which has no such fact,
//! and the back edges, which have it.
//!
//! So an innermost loop is translated twice. The first copy, the *slow* one, is translated as
//! usual and is where the loop is entered. At each of its back edges we note what the facts
//! say about each local the loop assigns. If a local has a fact on some back edge that would
//! have made an add in the loop `nuw`, a second, *fast* copy is translated whose header
//! assumes it. Every back edge, of either copy, goes to the fast header if the facts there
//! prove what it assumes, and to the slow header otherwise (the slow copy's edges are wired
//! once it is done, the fast copy's as they are met). Every edge into the fast header
//! therefore carries what it assumes: the first iteration runs in the slow copy, later ones
//! in the fast copy unless an edge proved nothing, and nothing is checked at run time.
//!
//! Both copies leave the loop to the same block. After the loop, translation goes on with the
//! slow copy's state: every way out of the loop ran the slow copy's first iteration, so what
//! it proved before its first branch holds on both ways out.

use super::address::{Mark, ScopeKind};
use super::{Frame, FrameKind, FunctionTranslator, Result};
use inkwell::basic_block::BasicBlock;
use inkwell::values::{BasicValueEnum, PhiValue};
use mewz_abi::module::ValType;
use std::collections::HashMap;
use wasmparser::Operator;

/// Loops longer than this (in operators) are translated once: the second copy would cost
/// more compile time and code than it saves.
const MAX_OPERATORS: usize = 2000;

/// The translator's state at a point, to go back to.
pub(super) struct Snapshot<'ctx> {
    stack: Vec<BasicValueEnum<'ctx>>,
    addresses: Mark,
    unreachable: Option<u32>,
    block: BasicBlock<'ctx>,
}

/// Which of the two translations of the loop is under way.
enum Pass<'ctx> {
    Slow {
        /// The state at the `loop` operator, to translate the fast copy from.
        before: Snapshot<'ctx>,
        /// Each back edge's block (branching nowhere yet) and the reach of each assigned
        /// local there (see [`super::address::AddressFacts::reach`]).
        latches: Vec<(BasicBlock<'ctx>, Vec<Option<u64>>)>,
    },
    Fast {
        /// The state after the slow copy's `end`, where translation goes on.
        after: Snapshot<'ctx>,
        header: BasicBlock<'ctx>,
        /// `(local, reach)` the fast header assumes.
        assumed: Vec<(u32, u64)>,
    },
}

/// The loop being translated twice.
pub(super) struct Versioned<'ctx> {
    /// Indices of its `loop` and `end` operators.
    start: usize,
    end: usize,
    /// Its frame's index in the control stack.
    frame: usize,
    slow_header: BasicBlock<'ctx>,
    results: Vec<ValType>,
    next: BasicBlock<'ctx>,
    end_phis: Vec<PhiValue<'ctx>>,
    height: usize,
    /// The locals the loop assigns, with the ids of their origins at the slow header.
    assigned: Vec<(u32, u32)>,
    pass: Pass<'ctx>,
}

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    /// Before a parameterless `loop`'s header is created: whether to translate it twice, and
    /// if so, the state to start its fast copy from.
    pub(super) fn version_loop_start(&mut self) {
        if self.versioned.is_some() || self.unreachable.is_some() {
            return;
        }
        let Some(&end) = self.versionable.get(&self.at) else {
            return;
        };
        let before = self.snapshot();
        self.pending = Some((end, before));
    }

    /// After the slow copy's frame is open.
    pub(super) fn version_loop_opened(&mut self) {
        let Some((end, before)) = self.pending.take() else {
            return;
        };
        let frame = self.frames.len() - 1;
        let f = &self.frames[frame];
        let slow_header = f.header.as_ref().expect("a loop frame").0;
        let assigned = self
            .assigned
            .get(&self.at)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&l| (l, self.addresses.local_origin_id(l)))
            .collect();
        self.versioned = Some(Versioned {
            start: self.at,
            end,
            frame,
            slow_header,
            results: f.results.clone(),
            next: f.next,
            end_phis: f.end_phis.clone(),
            height: f.height,
            assigned,
            pass: Pass::Slow {
                before,
                latches: Vec::new(),
            },
        });
    }

    /// The block a branch to the frame at `index` goes to, if that frame is the loop being
    /// translated twice (see the module comment); None for any other frame.
    pub(super) fn back_edge(&mut self, index: usize) -> Option<BasicBlock<'ctx>> {
        let v = self.versioned.as_ref().filter(|v| v.frame == index)?;
        if let Pass::Fast {
            header, assumed, ..
        } = &v.pass
        {
            let holds = carries(assumed, |l| self.addresses.reach(l));
            return Some(if holds { *header } else { v.slow_header });
        }
        let reaches: Vec<Option<u64>> = v
            .assigned
            .iter()
            .map(|&(l, _)| self.addresses.reach(l))
            .collect();
        let latch = self.env.ctx.append_basic_block(self.function, "loop.latch");
        if let Some(Versioned {
            pass: Pass::Slow { latches, .. },
            ..
        }) = &mut self.versioned
        {
            latches.push((latch, reaches));
        }
        Some(latch)
    }

    /// After the `end` at operator index `self.at`: if it closes the slow copy, either
    /// translate the fast copy next (returning the operator index to go on from) or wire the
    /// back edges to the slow header; if it closes the fast copy, go on after the loop.
    pub(super) fn version_loop_end(&mut self) -> Result<Option<usize>> {
        if self.versioned.as_ref().is_none_or(|v| v.end != self.at) {
            return Ok(None);
        }
        let v = self.versioned.take().expect("checked above");
        match v.pass {
            Pass::Slow { before, latches } => {
                let assumed = self.assumable(&v.assigned, &latches);
                let target = if assumed.is_empty() && !self.env.opts.every_loop_twice {
                    v.slow_header
                } else {
                    self.env.ctx.append_basic_block(self.function, "loop.fast")
                };
                let here = self.current_block();
                for (latch, reaches) in &latches {
                    let holds = carries(&assumed, |l| {
                        reaches[v.assigned.iter().position(|&(a, _)| a == l)?]
                    });
                    self.b.position_at_end(*latch);
                    let to = if holds { target } else { v.slow_header };
                    self.b.build_unconditional_branch(to)?;
                }
                self.b.position_at_end(here);
                if target == v.slow_header {
                    return Ok(None);
                }
                let after = Snapshot {
                    stack: self.stack.clone(),
                    addresses: self.addresses.mark_after(&before.addresses),
                    unreachable: self.unreachable,
                    block: here,
                };
                self.restore(before);
                self.b.position_at_end(target);
                let start = v.start;
                self.at = start;
                // Both copies fall through to the loop's end, or (the same code) neither does;
                // then the fast copy gets an end of its own, which stays unreachable.
                let (next, end_phis) = if v.next.get_first_use().is_some() {
                    (v.next, v.end_phis.clone())
                } else {
                    let next = self.env.ctx.append_basic_block(self.function, "loop.end");
                    (next, self.phis_at(next, &v.results)?)
                };
                self.frames.push(Frame {
                    kind: FrameKind::Loop,
                    results: v.results.clone(),
                    next,
                    end_phis,
                    header: Some((target, Vec::new())),
                    else_block: None,
                    height: v.height,
                });
                let assigned = self.assigned.get(&start).map_or(&[][..], Vec::as_slice);
                self.addresses.enter(ScopeKind::Loop, assigned);
                for &(l, c) in &assumed {
                    self.addresses.assume(l, c);
                }
                self.versioned = Some(Versioned {
                    pass: Pass::Fast {
                        after,
                        header: target,
                        assumed,
                    },
                    ..v
                });
                Ok(Some(start + 1))
            }
            Pass::Fast { after, .. } => {
                self.restore(after);
                Ok(None)
            }
        }
    }

    /// The `(local, reach)` facts the fast header assumes: for each local an add in the loop
    /// wanted a fact about, the least reach among the back edges that have one as far as it
    /// wanted; taken while some back edge still has all facts taken so far.
    fn assumable(
        &self,
        assigned: &[(u32, u32)],
        latches: &[(BasicBlock<'ctx>, Vec<Option<u64>>)],
    ) -> Vec<(u32, u64)> {
        let mut assumed = Vec::new();
        // Which back edges carry every fact assumed so far.
        let mut carry = vec![true; latches.len()];
        for (i, &(l, id)) in assigned.iter().enumerate() {
            let Some(wanted) = self.addresses.wanted(id) else {
                continue;
            };
            let with: Vec<bool> = latches
                .iter()
                .zip(&carry)
                .map(|((_, r), &c)| c && r[i].is_some_and(|r| r >= wanted))
                .collect();
            let reach = latches
                .iter()
                .zip(&with)
                .filter(|(_, w)| **w)
                .filter_map(|((_, r), _)| r[i])
                .min();
            if let Some(reach) = reach {
                assumed.push((l, reach));
                carry = with;
            }
        }
        assumed
    }

    fn snapshot(&self) -> Snapshot<'ctx> {
        Snapshot {
            stack: self.stack.clone(),
            addresses: self.addresses.mark(),
            unreachable: self.unreachable,
            block: self.current_block(),
        }
    }

    fn restore(&mut self, s: Snapshot<'ctx>) {
        self.stack = s.stack;
        self.addresses.rewind(&s.addresses);
        self.unreachable = s.unreachable;
        self.b.position_at_end(s.block);
    }
}

/// Whether an edge where each local `l` reaches `reach(l)` (see
/// [`super::address::AddressFacts::reach`]) carries what the fast header assumes.
fn carries(assumed: &[(u32, u64)], reach: impl Fn(u32) -> Option<u64>) -> bool {
    assumed
        .iter()
        .all(|&(l, c)| reach(l).is_some_and(|r| r >= c))
}

/// The loops worth translating twice, by the index of their `loop` operator: innermost
/// (no loop inside), without parameters, at most [`MAX_OPERATORS`] long; with the index of
/// their `end`.
pub(super) fn versionable_loops(
    operators: &[(Operator<'_>, usize)],
    has_params: impl Fn(&wasmparser::BlockType) -> bool,
) -> HashMap<usize, usize> {
    // Open constructs: the start of each loop (None for a block or if) and whether a loop
    // is nested in it.
    let mut open: Vec<(Option<usize>, bool)> = Vec::new();
    let mut loops = HashMap::new();
    for (i, (op, _)) in operators.iter().enumerate() {
        match op {
            Operator::Loop { blockty } => {
                for entry in open.iter_mut() {
                    entry.1 = true;
                }
                let eligible = !has_params(blockty);
                open.push((eligible.then_some(i), !eligible));
            }
            Operator::Block { .. } | Operator::If { .. } => open.push((None, false)),
            Operator::End => {
                if let Some((Some(start), false)) = open.pop()
                    && i - start <= MAX_OPERATORS
                {
                    loops.insert(start, i);
                }
            }
            _ => {}
        }
    }
    loops
}
