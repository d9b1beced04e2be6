//! Locals and globals.

use super::{FunctionTranslator, Result};
use crate::env::llvm_type;
use wasmparser::Operator;

impl<'e, 'ctx, 'a> FunctionTranslator<'e, 'ctx, 'a> {
    pub(super) fn variable(&mut self, op: &Operator<'a>) -> Result<bool> {
        match op {
            Operator::LocalGet { local_index } => {
                let (slot, ty) = self.locals[*local_index as usize];
                let v = self.b.build_load(ty, slot, "")?;
                self.addresses.local_get(*local_index, v);
                self.push(v);
            }
            Operator::LocalSet { local_index } => {
                let v = self.pop();
                self.b
                    .build_store(self.locals[*local_index as usize].0, v)?;
                self.addresses.local_set(*local_index, v);
            }
            Operator::LocalTee { local_index } => {
                let v = *self.stack.last().expect("validated tee");
                self.b
                    .build_store(self.locals[*local_index as usize].0, v)?;
                self.addresses.local_set(*local_index, v);
            }
            Operator::GlobalGet { global_index } => {
                let ty = llvm_type(
                    self.env.ctx,
                    self.env.info.globals[*global_index as usize].ty,
                );
                let cell = self.env.global_cell(&self.b, *global_index)?;
                let v = self.b.build_load(ty, cell, "global")?;
                self.push(v);
            }
            Operator::GlobalSet { global_index } => {
                let v = self.pop();
                let cell = self.env.global_cell(&self.b, *global_index)?;
                self.b.build_store(cell, v)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
