//! What straight-line code proves about memory indices, so that `index + constant` can be an
//! `add nuw`.
//!
//! Wasm's `i32.add` wraps, so an address `zext(p + 8)` is not `zext(p) + 8` to LLVM: it cannot
//! relate two accesses a constant apart, and loops stay scalar (an unrolled `p`, `p + 8` pair
//! cannot become one vector access). But once an access at `p + k + offset` of `size` bytes has
//! returned, `p + k + offset + size <= memory size <= MAX_USABLE_PAGES * 64 KiB`, which is at
//! least 64 KiB below 2^32; so every later `p + c` with `c <= k + offset + size + slack` cannot
//! wrap. Only such adds get `nuw`: a wrapping add stays a wrapping add.
//!
//! Values are tracked by their origin: the value a local holds (an id, renewed whenever the
//! local may change: `local.set`/`tee`, and at every control-flow merge and loop header)
//! plus an exact constant. Facts are scoped to the construct that proved them: a fact proved
//! inside `block`/`if`/`loop` does not hold after its `end` (or in the `else` branch).
//!
//! Second, all of linear memory is one object to LLVM, so its loop analysis cannot tell the
//! accesses through two different pointers apart from two accesses through one: in a loop over
//! `c[p]`, `c[p + 8]` and `b[q]`, `b[q + 8]` it gives up on dependences and checks every pair of
//! accesses at run time, including `c[p]` against `c[p + 8]`, which always overlap, so the
//! vector loop never runs. Accesses whose index has an origin therefore go through a per-origin
//! copy of the memory base (an empty `asm` LLVM cannot see through, but may hoist): accesses
//! through one origin stay one object with exact distances, different origins may still alias
//! and get one run-time check per pair of origins, as separate arrays in C would.

use super::{FunctionTranslator, Result};
use inkwell::llvm_sys::prelude::LLVMValueRef;
use inkwell::values::{AsValueRef, IntValue, PointerValue};
use std::collections::HashMap;

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    /// `i32.add`: `nuw` when one operand is a constant the facts allow past the other.
    pub(super) fn i32_add(&mut self) -> Result<()> {
        let r = self.pop_int();
        let l = self.pop_int();
        let proven = [(l, r), (r, l)].into_iter().find_map(|(value, constant)| {
            let c = constant.get_zero_extended_constant()?;
            self.addresses.add(value, c)
        });
        let sum = match proven {
            Some(origin) => {
                let sum = self.b.build_int_nuw_add(l, r, "")?;
                if !sum.is_const() {
                    self.addresses.define(sum, origin);
                }
                sum
            }
            None => self.b.build_int_add(l, r, "")?,
        };
        self.push(sum);
        Ok(())
    }

    /// The memory base an access at `index` goes through: for an index with a known origin, a
    /// copy of the base that LLVM cannot see through, one per origin (see the module comment).
    /// The copy is `memory(none)`, so LICM hoists it out of loops; its second operand (the
    /// origin id, unused by the empty template) keeps CSE from merging copies of different
    /// origins.
    pub(super) fn base_for(&mut self, index: IntValue<'ctx>) -> Result<PointerValue<'ctx>> {
        let base = self.memory_base();
        let Some(origin) = self.addresses.origin(index) else {
            return Ok(base);
        };
        if let Some(b) = self.addresses.base(origin.id) {
            return Ok(b);
        }
        let ctx = self.env.ctx;
        let ptr = self.ptr_type();
        let fn_ty = ptr.fn_type(&[ptr.into(), ctx.i32_type().into()], false);
        let asm = ctx.create_inline_asm(
            fn_ty,
            String::new(),
            "=r,0,i".into(),
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
                ctx.i32_type().const_int(origin.id as u64, false).into(),
            ],
            "base",
        )?;
        let memory_none = ctx.create_enum_attribute(
            inkwell::attributes::Attribute::get_named_enum_kind_id("memory"),
            0,
        );
        call.add_attribute(inkwell::attributes::AttributeLoc::Function, memory_none);
        let nounwind = ctx.create_enum_attribute(
            inkwell::attributes::Attribute::get_named_enum_kind_id("nounwind"),
            0,
        );
        call.add_attribute(inkwell::attributes::AttributeLoc::Function, nounwind);
        let b = call
            .try_as_basic_value()
            .basic()
            .expect("asm returns the base")
            .into_pointer_value();
        self.addresses.set_base(origin.id, b);
        Ok(b)
    }
}

/// An i32 value known to equal (origin value `id`) + `k`, computed without wrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Origin {
    id: u32,
    k: u64,
}

pub(super) struct AddressFacts<'ctx> {
    /// Origins of i32 values on the operand stack (by LLVM value).
    origins: HashMap<LLVMValueRef, Origin>,
    /// The origin of each local's current value.
    locals: Vec<Origin>,
    next_id: u32,
    /// Proven `(id, c)`: `value(id) + c` does not wrap. Scoped by `marks`.
    proven: Vec<(u32, u64)>,
    marks: Vec<(usize, usize)>,
    /// Per origin, the copy of the memory base its accesses go through (scoped like `proven`).
    bases: Vec<(u32, PointerValue<'ctx>)>,
    /// `2^32 - 1 - largest memory size`: how far past the end of a successful access a
    /// constant may still reach without wrapping.
    slack: u64,
}

impl<'ctx> AddressFacts<'ctx> {
    /// Facts for a function with `locals` locals whose memory can grow to `maximum_pages`.
    pub(super) fn new(locals: usize, maximum_pages: u64) -> Self {
        let pages = maximum_pages.min(mewz_abi::memory::MAX_USABLE_PAGES);
        let mut facts = AddressFacts {
            origins: HashMap::new(),
            locals: Vec::with_capacity(locals),
            next_id: 0,
            proven: Vec::new(),
            marks: Vec::new(),
            bases: Vec::new(),
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
            None => self.fresh(),
        };
        self.locals[local as usize] = origin;
    }

    /// Every local may hold a different value from here on (a merge or a loop header).
    fn forget_locals(&mut self) {
        for i in 0..self.locals.len() {
            self.locals[i] = self.fresh();
        }
    }

    /// Whether `value + constant` provably does not wrap; if so, the origin of the sum.
    pub(super) fn add(&self, value: impl AsValueRef, constant: u64) -> Option<Origin> {
        let origin = *self.origins.get(&value.as_value_ref())?;
        let k = origin.k + constant;
        let bound = self
            .proven
            .iter()
            .filter(|(id, _)| *id == origin.id)
            .map(|(_, c)| *c)
            .max()?;
        (k <= bound).then_some(Origin { id: origin.id, k })
    }

    pub(super) fn origin(&self, value: impl AsValueRef) -> Option<Origin> {
        self.origins.get(&value.as_value_ref()).copied()
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

    /// Entering `block`, `if` (the then branch) or `loop`.
    pub(super) fn enter(&mut self, loop_header: bool) {
        self.marks.push((self.proven.len(), self.bases.len()));
        if loop_header {
            self.forget_locals();
        }
    }

    /// `else`: back to what held at the `if`.
    pub(super) fn else_branch(&mut self) {
        if let Some(&(proven, bases)) = self.marks.last() {
            self.proven.truncate(proven);
            self.bases.truncate(bases);
        }
        self.forget_locals();
    }

    /// `end` of a `block`, `if` or `loop`.
    pub(super) fn leave(&mut self) {
        if let Some((proven, bases)) = self.marks.pop() {
            self.proven.truncate(proven);
            self.bases.truncate(bases);
        }
        self.forget_locals();
    }
}
