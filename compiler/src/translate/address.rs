//! What straight-line code proves about memory indices, so that `index + addend` can be an
//! `add nuw`.
//!
//! Wasm's `i32.add` wraps, so an address `zext(p + 8)` is not `zext(p) + 8` to LLVM: it cannot
//! relate two accesses a constant apart, and loops stay scalar (an unrolled `p`, `p + 8` pair
//! cannot become one vector access). But once an access at `p + k + offset` of `size` bytes has
//! returned, `p + k + offset + size <= memory size <= MAX_USABLE_PAGES * 64 KiB`, which is at
//! least 64 KiB below 2^32; so every later `p + a` with `a <= k + offset + size + slack` cannot
//! wrap. Only such adds get `nuw`: a wrapping add stays a wrapping add. The addend is a
//! constant or a value with a known bound (`x & 255`, `(x & 255) << 2`, a `load8_u`); the
//! access through `p + x` then addresses `p` first, so that a loop where only `x` varies
//! computes `base + p` once, as C does for `table[x]`.
//!
//! Values are tracked by their origin: an id for a value, plus an exact constant. A local's
//! value gets a new id whenever it may change: at `local.set`/`tee`, and where the construct
//! it is assigned in ends or loops back (a local the construct never assigns keeps its id).
//! A wrapping `value + constant` gets one id however often it is computed.
//!
//! Facts are scoped to the construct that proved them: a fact proved inside a `block`/`if`/
//! `loop` holds until its `end` (not in the `else` branch), except those proved before its first
//! branch or nested construct. Every way out of a `block` or `loop` passes through those (a
//! loop's on its first iteration, where a local it assigns still holds its value from before),
//! so they hold after its `end` too; an `if`'s do not, the other branch may have run instead.
//! What a loop's back edges prove about the locals it steps holds at the header of a second
//! copy of the loop that only those edges reach ([`super::versioning`]).
//!
//! Second, all of linear memory is one object to LLVM, so its loop analysis cannot tell the
//! accesses through two different pointers apart from two accesses through one: in a loop over
//! `c[p]`, `c[p + 8]` and `b[q]`, `b[q + 8]` it gives up on dependences and checks every pair of
//! accesses at run time, including `c[p]` against `c[p + 8]`, which always overlap, so the
//! vector loop never runs. Accesses therefore go through a copy of the memory base (an empty
//! `asm` LLVM cannot see through, but may hoist) per root: the object an index points into, as
//! far as can be told (a local's value, and what is computed from it by adding offsets or
//! stepping it in a loop). Accesses through one root stay one object with exact distances, as
//! two indices into one C array do; different roots may still alias and get one run-time
//! check per pair, as separate arrays in C would.
//! The copies are for the optimisation pipeline only: before code generation each is replaced
//! by the base itself ([`strip_base_copies`]), so that the back end holds one base, not one per
//! root.

use super::{FunctionTranslator, Result};
use inkwell::llvm_sys::prelude::LLVMValueRef;
use inkwell::module::Module;
use inkwell::values::{AsValueRef, InstructionValue, IntValue, PointerValue};
use std::collections::HashMap;
use wasmparser::Operator;

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    /// `i32.add`: `nuw` when the facts allow the largest value one operand can have (a
    /// constant, or a bound like `x & 1023`'s) past the other.
    pub(super) fn i32_add(&mut self) -> Result<()> {
        let r = self.pop_int();
        let l = self.pop_int();
        let proven = [(l, r), (r, l)].into_iter().find_map(|(value, addend)| {
            let most = self.addresses.bound(addend)?;
            let origin = self.addresses.add(value, most)?;
            Some((value, addend, origin))
        });
        let sum = match proven {
            Some((value, addend, origin)) => {
                let sum = self.b.build_int_nuw_add(l, r, "")?;
                if !sum.is_const() {
                    match addend.get_zero_extended_constant() {
                        Some(c) => self.addresses.define(sum, origin.plus(c)),
                        None => self.addresses.split(sum, value, addend),
                    }
                }
                sum
            }
            None => {
                for (value, addend) in [(l, r), (r, l)] {
                    if let Some(most) = self.addresses.bound(addend) {
                        self.addresses.want(value, most);
                    }
                }
                let sum = self.b.build_int_add(l, r, "")?;
                // A wrapping `value + constant` is still the same value each time it is
                // computed: it gets one origin, so that what one access proves about it holds
                // for the next computation too.
                let wrapped = [(l, r), (r, l)].into_iter().find_map(|(value, constant)| {
                    Some((
                        self.addresses.origin(value)?,
                        constant.get_zero_extended_constant()?,
                    ))
                });
                if let (Some((origin, c)), false) = (wrapped, sum.is_const()) {
                    let origin = self.addresses.wrapped(origin, c);
                    self.addresses.define(sum, origin);
                } else {
                    self.addresses.offset_from(sum, l, r);
                }
                sum
            }
        };
        self.push(sum);
        Ok(())
    }

    /// Before an i32 operation that may narrow its result (`and`, `shl`, `shr_u`): the
    /// largest value the result can have, from its operands (the top two stack values).
    pub(super) fn result_bound(&self, op: &Operator<'a>) -> Option<u64> {
        let n = self.stack.len();
        let (l, r) = (
            self.stack[n - 2].into_int_value(),
            self.stack[n - 1].into_int_value(),
        );
        let facts = &self.addresses;
        let count = || r.get_zero_extended_constant().map(|c| c & 31);
        match op {
            Operator::I32And => match (facts.bound(l), facts.bound(r)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Operator::I32Shl => Some(facts.bound(l)? << count()?),
            Operator::I32ShrU => Some(facts.bound(l).unwrap_or(u32::MAX as u64) >> count()?),
            _ => None,
        }
    }

    /// The memory base an access at `index` goes through: for an index with a known root, a
    /// copy of the base that LLVM cannot see through, one per root (see the module comment).
    /// The copy is `memory(none)`, so LICM hoists it out of loops; its second operand (the
    /// root's id, unused by the empty template) keeps CSE from merging copies of different
    /// roots. [`strip_base_copies`] removes the copies again before the back end.
    pub(super) fn base_for(&mut self, index: IntValue<'ctx>) -> Result<PointerValue<'ctx>> {
        let base = self.memory_base();
        let Some(root) = self.addresses.root(index) else {
            return Ok(base);
        };
        if let Some(b) = self.addresses.base(root) {
            return Ok(b);
        }
        let ctx = self.env.ctx;
        let ptr = self.ptr_type();
        let fn_ty = ptr.fn_type(&[ptr.into(), ctx.i32_type().into()], false);
        let asm = ctx.create_inline_asm(
            fn_ty,
            String::new(),
            BASE_COPY_CONSTRAINTS.into(),
            false,
            false,
            None,
            false,
        );
        let call = self.b.build_indirect_call(
            fn_ty,
            asm,
            &[
                base.into(),
                ctx.i32_type().const_int(root as u64, false).into(),
            ],
            "base",
        )?;
        // `memory(none)` is the enum attribute `memory` with value 0.
        for name in ["memory", "nounwind"] {
            let kind = inkwell::attributes::Attribute::get_named_enum_kind_id(name);
            call.add_attribute(
                inkwell::attributes::AttributeLoc::Function,
                ctx.create_enum_attribute(kind, 0),
            );
        }
        let b = call
            .try_as_basic_value()
            .basic()
            .expect("asm returns the base")
            .into_pointer_value();
        self.addresses.set_base(root, b);
        Ok(b)
    }
}

/// Constraints of the base copies' `asm` (output tied to the base, the root's id an immediate),
/// by which [`strip_base_copies`] knows them.
const BASE_COPY_CONSTRAINTS: &str = "=r,0,i";

/// Whether `instruction` is a base copy (see [`FunctionTranslator::base_for`]).
pub(super) fn is_base_copy(instruction: InstructionValue<'_>) -> bool {
    use inkwell::llvm_sys::core::{
        LLVMGetCalledValue, LLVMGetInlineAsmAsmString, LLVMGetInlineAsmConstraintString,
        LLVMIsACallInst, LLVMIsAInlineAsm,
    };
    let call = instruction.as_value_ref();
    // SAFETY: `call` is a live instruction, checked to be a call before its callee is read;
    // the string getters return pointers into the asm value with their lengths, valid while
    // the module is.
    unsafe {
        if LLVMIsACallInst(call).is_null() {
            return false;
        }
        let asm = LLVMGetCalledValue(call);
        if LLVMIsAInlineAsm(asm).is_null() {
            return false;
        }
        let (mut template_len, mut constraints_len) = (0, 0);
        LLVMGetInlineAsmAsmString(asm, &mut template_len);
        let constraints = LLVMGetInlineAsmConstraintString(asm, &mut constraints_len);
        template_len == 0
            && std::slice::from_raw_parts(constraints.cast::<u8>(), constraints_len)
                == BASE_COPY_CONSTRAINTS.as_bytes()
    }
}

/// Replaces every base copy in `module` by the base it copies. The copies are for the
/// optimisation pipeline, whose alias analysis sees one object per root; the back end needs
/// no such hint, and there every copy would be a value of its own: a register held for each
/// root across a loop (or spilled), a `mov` for each copy made outside one. Run after the
/// pipeline and before code generation.
pub(crate) fn strip_base_copies(module: &Module<'_>) {
    use inkwell::llvm_sys::core::{
        LLVMGetOperand, LLVMInstructionEraseFromParent, LLVMReplaceAllUsesWith,
    };
    for function in module.get_functions() {
        for block in function.get_basic_blocks() {
            let mut next = block.get_first_instruction();
            while let Some(instruction) = next {
                next = instruction.get_next_instruction();
                if !is_base_copy(instruction) {
                    continue;
                }
                let value = instruction.as_value_ref();
                // SAFETY: a base copy returns its first operand unchanged, so its uses may use
                // that operand instead; it is then unused and can go.
                unsafe {
                    LLVMReplaceAllUsesWith(value, LLVMGetOperand(value, 0));
                    LLVMInstructionEraseFromParent(value);
                }
            }
        }
    }
}

/// The facts at a point, for [`AddressFacts::rewind`]: the part of them that translating a
/// construct changes and its `end` does not restore. The maps by LLVM value need no
/// rewinding: later values are new ones, and ids are never reused.
pub(super) struct Mark {
    locals: Vec<Origin>,
    /// `proven` is `proven[..from]` (which a construct begun later leaves as it is) + `tail`.
    from: usize,
    tail: Vec<(u32, u64)>,
    bases: usize,
    scopes: usize,
}

/// An i32 value known to equal (origin value `id`) + `k`, computed without wrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Origin {
    id: u32,
    k: u64,
}

impl Origin {
    fn plus(self, c: u64) -> Origin {
        Origin {
            id: self.id,
            k: self.k + c,
        }
    }
}

/// What a construct's scope in [`AddressFacts`] needs at its `end`.
struct Scope {
    kind: ScopeKind,
    /// Lengths of `proven` and `bases` at entry.
    proven: usize,
    bases: usize,
    /// Length of `proven` when the construct's first branch or nested construct was reached;
    /// None before. Facts proven up to there hold after a `block` or `loop` too: every way
    /// out passes through them (a loop's on its first iteration).
    prefix: Option<usize>,
    /// The locals the construct assigns, with their origins at entry and at the start of the
    /// body (fresh in a loop, whose header any iteration may reach).
    assigned: Vec<(u32, Origin, Origin)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScopeKind {
    Block,
    Loop,
    If,
}

pub(super) struct AddressFacts<'ctx> {
    /// Origins of i32 values on the operand stack (by LLVM value).
    origins: HashMap<LLVMValueRef, Origin>,
    /// Upper bounds of i32 values known from how they were computed (`x & 255`, ...).
    bounds: HashMap<LLVMValueRef, u64>,
    /// The origin of each wrapping sum `value(id) + k` computed so far, by `(id, k mod 2^32)`.
    wrapped: HashMap<(u32, u64), Origin>,
    /// The object each origin points into, as far as can be told (an origin id; by default
    /// its own): `p + 8`, `p + x` and a loop's `p += 4` are `p`'s. Accesses through one root
    /// share one copy of the memory base. Only a hint for LLVM's loop analysis: the copies
    /// never make LLVM assume two accesses do not overlap.
    roots: HashMap<u32, u32>,
    /// Roots of values without an origin (`p + x`, `x` not a constant).
    value_roots: HashMap<LLVMValueRef, u32>,
    /// Non-wrapping sums `value + addend` of a value with an origin and a bounded variable.
    splits: HashMap<LLVMValueRef, (IntValue<'ctx>, IntValue<'ctx>)>,
    /// The origin of each local's current value.
    locals: Vec<Origin>,
    next_id: u32,
    /// Proven `(id, c)`: `value(id) + c` does not wrap. Scoped by `scopes`.
    proven: Vec<(u32, u64)>,
    scopes: Vec<Scope>,
    /// Per root, the copy of the memory base its accesses go through (scoped like `proven`).
    bases: Vec<(u32, PointerValue<'ctx>)>,
    /// `2^32 - 1 - largest memory size`: how far past the end of a successful access a
    /// constant may still reach without wrapping.
    slack: u64,
    /// Per origin id, the smallest `k + addend` of an add that had to wrap for want of a fact
    /// about that origin (what a fact would have to reach to make one add `nuw`).
    wanted: HashMap<u32, u64>,
}

impl<'ctx> AddressFacts<'ctx> {
    /// Facts for a function with `locals` locals whose memory can grow to `maximum_pages`.
    pub(super) fn new(locals: usize, maximum_pages: u64) -> Self {
        let pages = maximum_pages.min(mewz_abi::memory::MAX_USABLE_PAGES);
        let mut facts = AddressFacts {
            origins: HashMap::new(),
            bounds: HashMap::new(),
            splits: HashMap::new(),
            wrapped: HashMap::new(),
            roots: HashMap::new(),
            value_roots: HashMap::new(),
            locals: Vec::with_capacity(locals),
            next_id: 0,
            proven: Vec::new(),
            scopes: Vec::new(),
            bases: Vec::new(),
            wanted: HashMap::new(),
            slack: (1u64 << 32) - 1 - pages * mewz_abi::memory::WASM_PAGE_SIZE,
        };
        for _ in 0..locals {
            let origin = facts.fresh();
            facts.locals.push(origin);
        }
        facts
    }

    fn fresh(&mut self) -> Origin {
        self.next_id += 1;
        Origin {
            id: self.next_id,
            k: 0,
        }
    }

    /// `value` was just read from `local`.
    pub(super) fn local_get(&mut self, local: u32, value: impl AsValueRef) {
        let origin = self.locals[local as usize];
        self.origins.insert(value.as_value_ref(), origin);
    }

    /// `value` was just written to `local`.
    pub(super) fn local_set(&mut self, local: u32, value: impl AsValueRef) {
        let origin = match self.origins.get(&value.as_value_ref()) {
            Some(o) => *o,
            None => match self.value_roots.get(&value.as_value_ref()) {
                Some(&root) => self.fresh_in(root),
                None => self.fresh(),
            },
        };
        // The value is now the local's: what an access through it proves (after a `tee`)
        // holds for the local's later reads too.
        self.origins.insert(value.as_value_ref(), origin);
        self.locals[local as usize] = origin;
    }

    /// Whether `value + addend` provably does not wrap for any `addend <= most`; if so, the
    /// origin of `value`.
    pub(super) fn add(&self, value: impl AsValueRef, most: u64) -> Option<Origin> {
        let origin = *self.origins.get(&value.as_value_ref())?;
        (origin.k + most <= self.proven_for(origin.id)?).then_some(origin)
    }

    /// The largest `c` proven for origin `id`: `value(id) + c` does not wrap.
    fn proven_for(&self, id: u32) -> Option<u64> {
        self.proven
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, c)| *c)
            .max()
    }

    /// `value + addend` wraps for any `addend <= most` as far as is known: note what a fact
    /// about `value`'s origin would have to reach.
    pub(super) fn want(&mut self, value: impl AsValueRef, most: u64) {
        if let Some(origin) = self.origins.get(&value.as_value_ref()) {
            let need = origin.k + most;
            let w = self.wanted.entry(origin.id).or_insert(need);
            *w = (*w).min(need);
        }
    }

    /// What [`AddressFacts::want`] noted for origin `id`.
    pub(super) fn wanted(&self, id: u32) -> Option<u64> {
        self.wanted.get(&id).copied()
    }

    /// The id of the origin of `local`'s current value.
    pub(super) fn local_origin_id(&self, local: u32) -> u32 {
        self.locals[local as usize].id
    }

    /// The largest `c` such that `local`'s current value + `c` is known not to wrap.
    pub(super) fn reach(&self, local: u32) -> Option<u64> {
        let origin = self.locals[local as usize];
        self.proven_for(origin.id)?.checked_sub(origin.k)
    }

    /// The facts now, to rewind to later in the same construct.
    pub(super) fn mark(&self) -> Mark {
        self.mark_from(self.proven.len())
    }

    /// The facts now, to rewind to after translating (again) what followed `earlier`.
    pub(super) fn mark_after(&self, earlier: &Mark) -> Mark {
        self.mark_from(earlier.from)
    }

    fn mark_from(&self, from: usize) -> Mark {
        Mark {
            locals: self.locals.clone(),
            from,
            tail: self.proven[from..].to_vec(),
            bases: self.bases.len(),
            scopes: self.scopes.len(),
        }
    }

    /// Back to the facts at `mark`, taken in this construct, before anything in between was
    /// translated or, for [`AddressFacts::mark_after`], as if only its `earlier` translation
    /// had happened.
    pub(super) fn rewind(&mut self, mark: &Mark) {
        debug_assert_eq!(self.scopes.len(), mark.scopes);
        self.locals.clone_from(&mark.locals);
        self.proven.truncate(mark.from);
        self.proven.extend_from_slice(&mark.tail);
        self.bases.truncate(mark.bases);
    }

    /// Take as proven that `local`'s current value + `c` does not wrap (a loop header every
    /// edge into which carries this fact, see [`super::versioning`]).
    pub(super) fn assume(&mut self, local: u32, c: u64) {
        let origin = self.locals[local as usize];
        self.proven.push((origin.id, origin.k + c));
    }

    pub(super) fn origin(&self, value: impl AsValueRef) -> Option<Origin> {
        self.origins.get(&value.as_value_ref()).copied()
    }

    /// The largest value `value` can have, if it is known to be less than 2^32 - 1.
    pub(super) fn bound(&self, value: IntValue<'ctx>) -> Option<u64> {
        match value.get_zero_extended_constant() {
            Some(c) => Some(c),
            None => self.bounds.get(&value.as_value_ref()).copied(),
        }
    }

    /// `value` is at most `bound`.
    pub(super) fn set_bound(&mut self, value: impl AsValueRef, bound: u64) {
        if bound < u32::MAX as u64 {
            self.bounds.insert(value.as_value_ref(), bound);
        }
    }

    pub(super) fn base(&self, id: u32) -> Option<PointerValue<'ctx>> {
        self.bases
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, b)| *b)
    }

    pub(super) fn set_base(&mut self, id: u32, base: PointerValue<'ctx>) {
        self.bases.push((id, base));
    }

    /// The origin of `value(origin) + c`, computed with wrapping.
    pub(super) fn wrapped(&mut self, origin: Origin, c: u64) -> Origin {
        let key = (origin.id, (origin.k + c) & u32::MAX as u64);
        if let Some(o) = self.wrapped.get(&key) {
            return *o;
        }
        let o = self.fresh_in(self.root_of(origin.id));
        self.wrapped.insert(key, o);
        o
    }

    fn root_of(&self, id: u32) -> u32 {
        self.roots.get(&id).copied().unwrap_or(id)
    }

    /// A new origin pointing into `root`'s object.
    fn fresh_in(&mut self, root: u32) -> Origin {
        let o = self.fresh();
        self.roots.insert(o.id, root);
        o
    }

    /// The root `index` points into, if known.
    pub(super) fn root(&self, index: impl AsValueRef) -> Option<u32> {
        let value = index.as_value_ref();
        match self.origins.get(&value) {
            Some(o) => Some(self.root_of(o.id)),
            None => self.value_roots.get(&value).copied(),
        }
    }

    /// `sum` is `l + r`: if just one of them points into an object, so does `sum`.
    pub(super) fn offset_from(
        &mut self,
        sum: impl AsValueRef,
        l: IntValue<'ctx>,
        r: IntValue<'ctx>,
    ) {
        if let (Some(root), None) | (None, Some(root)) = (self.root(l), self.root(r)) {
            self.value_roots.insert(sum.as_value_ref(), root);
        }
    }

    /// `sum` is the non-wrapping `value + addend` [`AddressFacts::add`] allowed for a variable
    /// `addend`.
    pub(super) fn split(
        &mut self,
        sum: impl AsValueRef,
        value: IntValue<'ctx>,
        addend: IntValue<'ctx>,
    ) {
        self.splits.insert(sum.as_value_ref(), (value, addend));
    }

    /// The parts of a sum recorded by [`AddressFacts::split`].
    pub(super) fn parts(&self, sum: impl AsValueRef) -> Option<(IntValue<'ctx>, IntValue<'ctx>)> {
        self.splits.get(&sum.as_value_ref()).copied()
    }

    /// `sum` is the (non-wrapping) result [`AddressFacts::add`] allowed.
    pub(super) fn define(&mut self, sum: impl AsValueRef, origin: Origin) {
        self.origins.insert(sum.as_value_ref(), origin);
    }

    /// An access of `size` bytes at `index + offset` has completed.
    pub(super) fn accessed(&mut self, index: impl AsValueRef, offset: u64, size: u64) {
        if let Some(origin) = self.origins.get(&index.as_value_ref()) {
            let reach = origin.k + offset + size + self.slack;
            self.proven.push((origin.id, reach));
        }
    }

    /// A control instruction (a branch, `unreachable`, or the start or end of a construct)
    /// follows: what comes after it in the innermost construct is not run on every way out.
    pub(super) fn control(&mut self) {
        let proven = self.proven.len();
        if let Some(scope) = self.scopes.last_mut() {
            scope.prefix.get_or_insert(proven);
        }
    }

    /// Entering a construct that assigns the locals `assigned`. The others keep their
    /// values, and so their origins, throughout; at a loop header, the assigned ones may hold
    /// a value from any iteration.
    pub(super) fn enter(&mut self, kind: ScopeKind, assigned: &[u32]) {
        let mut locals = Vec::with_capacity(assigned.len());
        for &l in assigned {
            let entry = self.locals[l as usize];
            let start = if kind == ScopeKind::Loop {
                self.fresh_in(self.root_of(entry.id))
            } else {
                entry
            };
            self.locals[l as usize] = start;
            locals.push((l, entry, start));
        }
        self.scopes.push(Scope {
            kind,
            proven: self.proven.len(),
            bases: self.bases.len(),
            prefix: None,
            assigned: locals,
        });
    }

    /// `else`: back to what held at the `if`.
    pub(super) fn else_branch(&mut self) {
        let Some(scope) = self.scopes.last() else {
            return;
        };
        self.proven.truncate(scope.proven);
        self.bases.truncate(scope.bases);
        for &(l, entry, _) in &scope.assigned {
            self.locals[l as usize] = entry;
        }
    }

    /// `end` of a `block`, `if` or `loop`: the facts of its prefix stay (not an `if`'s: the
    /// other branch may have run instead); a loop's about a local's value at the header become
    /// facts about the value it entered with. Assigned locals may now hold any path's value.
    pub(super) fn leave(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        let keep = match scope.kind {
            ScopeKind::If => scope.proven,
            ScopeKind::Block | ScopeKind::Loop => scope.prefix.unwrap_or(self.proven.len()),
        };
        let kept: Vec<(u32, u64)> = self.proven[scope.proven..keep].to_vec();
        self.proven.truncate(scope.proven);
        self.bases.truncate(scope.bases);
        let entries: HashMap<u32, Origin> = scope
            .assigned
            .iter()
            .filter(|(_, entry, start)| entry != start)
            .map(|&(_, entry, start)| (start.id, entry))
            .collect();
        for (id, c) in kept {
            match entries.get(&id) {
                Some(entry) => self.proven.push((entry.id, entry.k + c)),
                None => self.proven.push((id, c)),
            }
        }
        for &(l, _, _) in &scope.assigned {
            let now = self.locals[l as usize];
            self.locals[l as usize] = self.fresh_in(self.root_of(now.id));
        }
    }
}

/// For each `block`, `loop` and `if` (by the index of its operator), the locals assigned
/// anywhere inside it.
pub(super) fn assigned_locals(operators: &[(Operator<'_>, usize)]) -> HashMap<usize, Vec<u32>> {
    let mut open: Vec<(usize, Vec<u32>)> = Vec::new();
    let mut done = HashMap::new();
    for (i, (op, _)) in operators.iter().enumerate() {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                open.push((i, Vec::new()))
            }
            Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                if let Some((_, locals)) = open.last_mut() {
                    locals.push(*local_index);
                }
            }
            Operator::End => {
                if let Some((start, mut locals)) = open.pop() {
                    locals.sort_unstable();
                    locals.dedup();
                    if let Some((_, outer)) = open.last_mut() {
                        outer.extend_from_slice(&locals);
                    }
                    done.insert(start, locals);
                }
            }
            _ => {}
        }
    }
    done
}
