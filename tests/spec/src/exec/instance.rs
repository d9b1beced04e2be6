//! Instances: compiled modules loaded as shared objects (one copy per instance, so each has
//! its own statics), their imports bound through the descriptor's slots, their exports.

use crate::protocol::{Command, ExportDecl, RefKind, Response, Value};
use mewz_abi::memory::{MAX_WASM_PAGES, MemoryDescriptor};
use mewz_abi::module::{
    ABI_VERSION, ArrayCall, EXPORT_INDIRECT, Export, Import, ModuleDescriptor, Signature,
    TableDescriptor, ValType, array_call_slots, func_type_id,
};
use mewz_host::trap::{Outcome, catch};
use std::collections::HashMap;
use std::ffi::CString;
use std::time::Duration;

/// A function type, with its canonical id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncSig {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
    pub type_id: u64,
}

impl FuncSig {
    pub fn new(params: Vec<ValType>, results: Vec<ValType>) -> FuncSig {
        let type_id = func_type_id(&params, &results);
        FuncSig {
            params,
            results,
            type_id,
        }
    }
}

/// An exported item of an instance, as the runtime sees it.
pub enum Extern {
    Func {
        code: *const u8,
        sig: FuncSig,
        array_call: Option<ArrayCall>,
    },
    Table {
        table: *mut TableDescriptor,
        element: ValType,
        maximum: Option<u64>,
    },
    Memory {
        memory: *mut MemoryDescriptor,
        maximum: Option<u64>,
    },
    Global {
        cell: *mut u64,
        ty: ValType,
        mutable: bool,
    },
}

type Exports = HashMap<String, Extern>;

/// Instances by id, and the module names registered for importing.
pub struct Store {
    instances: HashMap<u32, Exports>,
    registry: HashMap<String, u32>,
}

const SPECTEST_ID: u32 = u32::MAX;

/// What an instantiation failure was.
enum Failure {
    Unlinkable(String),
    Error(String),
}

impl Store {
    pub fn new() -> Store {
        let mut store = Store {
            instances: HashMap::new(),
            registry: HashMap::new(),
        };
        store
            .instances
            .insert(SPECTEST_ID, super::spectest::exports());
        store.registry.insert("spectest".into(), SPECTEST_ID);
        store
    }

    pub fn execute(&mut self, command: Command) -> Response {
        match command {
            Command::Instantiate {
                id,
                path,
                exports,
                timeout_ms,
            } => self.instantiate(id, &path, &exports, timeout_ms),
            Command::Register { name, id } => {
                if self.instances.contains_key(&id) {
                    self.registry.insert(name, id);
                    Response::Ok
                } else {
                    Response::Error(format!("register: no instance {id}"))
                }
            }
            Command::Invoke {
                id,
                export,
                args,
                timeout_ms,
            } => self.invoke(id, &export, &args, timeout_ms),
            Command::Get { id, export } => self.get(id, &export),
        }
    }

    fn export(&self, id: u32, name: &str) -> Result<&Extern, Response> {
        let instance = self
            .instances
            .get(&id)
            .ok_or_else(|| Response::Error(format!("no instance {id}")))?;
        instance
            .get(name)
            .ok_or_else(|| Response::Error(format!("instance {id} has no export {name:?}")))
    }

    fn instantiate(
        &mut self,
        id: u32,
        path: &str,
        decls: &[(String, ExportDecl)],
        timeout_ms: u64,
    ) -> Response {
        let descriptor = match load(path) {
            Ok(d) => d,
            Err(e) => return Response::Error(e),
        };
        // SAFETY: `load` checked the descriptor's ABI version; the object stays loaded forever.
        let descriptor = unsafe { &*descriptor };
        // SAFETY: as above; the import table has `import_count` entries.
        let bindings = match unsafe { self.resolve_imports(descriptor) } {
            Ok(b) => b,
            Err(Failure::Unlinkable(m)) => return Response::Unlinkable(m),
            Err(Failure::Error(m)) => return Response::Error(m),
        };
        for (slot, address) in bindings {
            // SAFETY: the slot is the module's own pointer cell named by its descriptor.
            unsafe { slot.write(address) };
        }
        if !descriptor.memory.is_null() {
            // SAFETY: the descriptor's defined memory, owned by the module and not yet in use.
            let memory = unsafe { &mut *descriptor.memory };
            match mewz_host::runtime::new_memory(memory.minimum_pages, memory.maximum_pages) {
                Some(fresh) => {
                    memory.base = fresh.base;
                    memory.current_bytes = fresh.current_bytes;
                }
                None => return Response::Error("cannot reserve the module's memory".into()),
            }
        }
        // SAFETY: the export table has `export_count` entries; slots are bound.
        let exports = match unsafe { read_exports(descriptor, decls) } {
            Ok(e) => e,
            Err(m) => return Response::Error(m),
        };
        if let Some(init) = descriptor.instantiate {
            let outcome = catch(limit(timeout_ms), &mut || {
                // SAFETY: imports and memory are set up as the descriptor's contract requires.
                unsafe { init() }
            });
            match outcome {
                Outcome::Returned => {}
                Outcome::Trapped(t) => return Response::Trap(t.spec_name().into()),
                Outcome::TimedOut => return Response::TimedOut,
            }
        }
        self.instances.insert(id, exports);
        Response::Ok
    }

    /// Matches every import against the registered instances; the (slot, address) writes
    /// that bind them. Nothing is written unless all imports link.
    ///
    /// # Safety
    /// `descriptor` is a valid module descriptor.
    unsafe fn resolve_imports(
        &self,
        descriptor: &ModuleDescriptor,
    ) -> Result<Vec<(*mut *const u8, *const u8)>, Failure> {
        let mut bindings = Vec::new();
        for i in 0..descriptor.import_count as usize {
            // SAFETY: i < import_count.
            let import = unsafe { &*descriptor.imports.add(i) };
            // SAFETY: the descriptor's strings are valid for their lengths.
            let module = unsafe { text(import.module, import.module_len) };
            // SAFETY: as above.
            let field = unsafe { text(import.field, import.field_len) };
            let unknown = || Failure::Unlinkable(format!("unknown import {module:?} {field:?}"));
            let exporter = self.registry.get(&module).ok_or_else(unknown)?;
            let item = self.instances[exporter].get(&field).ok_or_else(unknown)?;
            // SAFETY: `import` is a valid descriptor entry.
            let address = unsafe { match_import(import, item) }.map_err(|why| {
                Failure::Unlinkable(format!(
                    "incompatible import type {module:?} {field:?}: {why}"
                ))
            })?;
            if import.slot.is_null() {
                return Err(Failure::Error(format!(
                    "import {module:?} {field:?} has no slot"
                )));
            }
            bindings.push((import.slot, address));
        }
        Ok(bindings)
    }

    fn invoke(&mut self, id: u32, name: &str, args: &[Value], timeout_ms: u64) -> Response {
        let (sig, call) = match self.export(id, name) {
            Ok(Extern::Func {
                sig,
                array_call: Some(call),
                ..
            }) => (sig.clone(), *call),
            Ok(_) => return Response::Error(format!("export {name:?} is not a callable function")),
            Err(r) => return r,
        };
        if args.len() != sig.params.len() {
            return Response::Error(format!(
                "{name:?} takes {} arguments, got {}",
                sig.params.len(),
                args.len()
            ));
        }
        let mut raw_args = Vec::with_capacity(args.len() + 1);
        for (value, ty) in args.iter().zip(&sig.params) {
            match to_raw(value, *ty) {
                Some(raw) => raw_args.extend(raw),
                None => return Response::Error(format!("argument {value:?} is not a {ty:?}")),
            }
        }
        // Slots for at least one value, so the pointers are never dangling.
        raw_args.push(0);
        let result_slots: usize = sig.results.iter().map(|t| array_call_slots(*t)).sum();
        let mut raw_results = vec![0u64; result_slots + 1];
        let (args_ptr, results_ptr) = (raw_args.as_ptr(), raw_results.as_mut_ptr());
        let outcome = catch(limit(timeout_ms), &mut || {
            // SAFETY: the trampoline reads `params` slots and writes `results` slots, both sized.
            unsafe { call(args_ptr, results_ptr) }
        });
        match outcome {
            Outcome::Returned => {
                let mut rest = &raw_results[..];
                let mut values = Vec::with_capacity(sig.results.len());
                for ty in &sig.results {
                    let (raw, after) = rest.split_at(array_call_slots(*ty));
                    values.push(from_raw(raw, *ty));
                    rest = after;
                }
                Response::Values(values)
            }
            Outcome::Trapped(t) => Response::Trap(t.spec_name().into()),
            Outcome::TimedOut => Response::TimedOut,
        }
    }

    fn get(&self, id: u32, name: &str) -> Response {
        match self.export(id, name) {
            Ok(Extern::Global { cell, ty, .. }) => {
                // SAFETY: a global's cell is 8 bytes, 8-aligned (16 and 16 for a v128), alive
                // as long as its module.
                let raw = unsafe { read_cell(*cell, *ty) };
                Response::Values(vec![from_raw(&raw, *ty)])
            }
            Ok(_) => Response::Error(format!("export {name:?} is not a global")),
            Err(r) => r,
        }
    }
}

fn limit(timeout_ms: u64) -> Option<Duration> {
    (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms))
}

/// Loads the shared object at `path` and finds its module descriptor.
fn load(path: &str) -> Result<*const ModuleDescriptor, String> {
    let c_path = CString::new(path).map_err(|_| format!("bad path {path:?}"))?;
    // SAFETY: dlopen of a shared object we built; it has no initialisers of its own.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("dlopen {path}: {}", dl_error()));
    }
    let symbol = CString::new(mewz_abi::symbols::MODULE_DESCRIPTOR).expect("no NUL in the name");
    // SAFETY: `handle` is a live handle (never closed).
    let descriptor = unsafe { libc::dlsym(handle, symbol.as_ptr()) }.cast::<ModuleDescriptor>();
    if descriptor.is_null() {
        return Err(format!(
            "{path}: no {}: {}",
            mewz_abi::symbols::MODULE_DESCRIPTOR,
            dl_error()
        ));
    }
    // SAFETY: the symbol names the descriptor; its first field is the version.
    let version = unsafe { (&raw const (*descriptor).abi_version).read() };
    if version != ABI_VERSION {
        return Err(format!(
            "{path}: ABI version {version}, runtime expects {ABI_VERSION}"
        ));
    }
    Ok(descriptor)
}

fn dl_error() -> String {
    // SAFETY: dlerror returns null or a valid C string.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".into();
    }
    // SAFETY: non-null, NUL-terminated.
    unsafe { std::ffi::CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

/// # Safety
/// `ptr` is valid for `len` bytes (or `len` is 0).
unsafe fn text(ptr: *const u8, len: u32) -> String {
    if len == 0 {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr, len as usize) }).into_owned()
}

/// Reads a value type byte, refusing bytes that are not one.
///
/// # Safety
/// `ptr` is readable.
unsafe fn val_type_at(ptr: *const ValType) -> Result<ValType, String> {
    // SAFETY: guaranteed by the caller; read as a byte since it may hold anything.
    let byte = unsafe { ptr.cast::<u8>().read() };
    ValType::from_u8(byte).ok_or_else(|| format!("bad value type byte {byte:#x}"))
}

/// # Safety
/// `sig` is a valid descriptor signature.
unsafe fn read_signature(sig: &Signature) -> Result<FuncSig, String> {
    let list = |ptr: *const ValType, count: u32| -> Result<Vec<ValType>, String> {
        // SAFETY: the signature lists `count` entries at `ptr`.
        (0..count as usize)
            .map(|i| unsafe { val_type_at(ptr.add(i)) })
            .collect()
    };
    let params = list(sig.params, sig.param_count)?;
    let results = list(sig.results, sig.result_count)?;
    let computed = FuncSig::new(params, results);
    if computed.type_id != sig.type_id {
        return Err(format!(
            "signature type id {:#x} does not match its types ({:#x})",
            sig.type_id, computed.type_id
        ));
    }
    Ok(computed)
}

fn kind_of(ptr: *const mewz_abi::module::ExportKind) -> u32 {
    // SAFETY: the kind field of a live descriptor entry; read as u32 since it may hold anything.
    unsafe { ptr.cast::<u32>().read() }
}

fn optional_max(max: u64) -> Option<u64> {
    (max != u64::MAX).then_some(max)
}

/// Checks `item` against `import`'s declared type; the address to write into its slot.
///
/// # Safety
/// `import` is a valid descriptor entry.
unsafe fn match_import(import: &Import, item: &Extern) -> Result<*const u8, String> {
    let limits_ok = |current: u64, maximum: Option<u64>| {
        let min_ok = current >= import.minimum;
        let max_ok = match optional_max(import.maximum) {
            None => true,
            Some(want) => maximum.is_some_and(|have| have <= want),
        };
        min_ok && max_ok
    };
    match (kind_of(&import.kind), item) {
        (0, Extern::Func { code, sig, .. }) => {
            // SAFETY: a function import carries its signature.
            let want = unsafe { read_signature(&import.signature) }?;
            if &want != sig {
                return Err(format!("function type {want:?}, export has {sig:?}"));
            }
            Ok(*code)
        }
        (
            1,
            Extern::Table {
                table,
                element,
                maximum,
            },
        ) => {
            let want = ValType::from_u8(import.table_element);
            // SAFETY: the exporter's live table descriptor.
            let current = u64::from(unsafe { (**table).current_elements });
            if want != Some(*element) || !limits_ok(current, *maximum) {
                return Err(format!(
                    "table limits/type; export has {current} {maximum:?}"
                ));
            }
            Ok(table.cast_const().cast())
        }
        (2, Extern::Memory { memory, maximum }) => {
            // SAFETY: the exporter's live memory descriptor.
            let pages = unsafe { (**memory).current_bytes } / mewz_abi::memory::WASM_PAGE_SIZE;
            if !limits_ok(pages, *maximum) {
                return Err(format!(
                    "memory limits; export has {pages} pages, max {maximum:?}"
                ));
            }
            Ok(memory.cast_const().cast())
        }
        (3, Extern::Global { cell, ty, mutable }) => {
            // SAFETY: reading the import's global type bytes.
            let want = unsafe { val_type_at(&raw const import.global.value) }?;
            if want != *ty || (import.global.mutable != 0) != *mutable {
                return Err(format!("global type; export is {ty:?} mutable={mutable}"));
            }
            Ok(cell.cast_const().cast())
        }
        (kind, _) => Err(format!("kind {kind} does not match the export's kind")),
    }
}

/// Reads a module's exports.
///
/// # Safety
/// `descriptor` is valid and its import slots are bound.
unsafe fn read_exports(
    descriptor: &ModuleDescriptor,
    decls: &[(String, ExportDecl)],
) -> Result<Exports, String> {
    let decl = |name: &str| decls.iter().find(|(n, _)| n == name).map(|(_, d)| d);
    let mut exports = Exports::new();
    for i in 0..descriptor.export_count as usize {
        // SAFETY: i < export_count.
        let export: &Export = unsafe { &*descriptor.exports.add(i) };
        // SAFETY: the descriptor's strings are valid for their lengths.
        let name = unsafe { text(export.name, export.name_len) };
        let mut address = export.address;
        if export.flags & EXPORT_INDIRECT != 0 {
            // SAFETY: an indirect export's address is a bound pointer slot.
            address = unsafe { address.cast::<*const u8>().read() };
        }
        let item = match kind_of(&export.kind) {
            0 => {
                if export.function.is_null() {
                    return Err(format!("function export {name:?} has no signature"));
                }
                // SAFETY: non-null, points at the compiler's ExportedFunction.
                let function = unsafe { &*export.function };
                // SAFETY: a valid descriptor signature.
                let sig = unsafe { read_signature(&function.signature) }?;
                Extern::Func {
                    code: address,
                    sig,
                    array_call: Some(function.array_call),
                }
            }
            1 => {
                let table = address.cast_mut().cast::<TableDescriptor>();
                let (element, maximum) = match decl(&name) {
                    Some(ExportDecl::Table { element, maximum }) => (
                        match element {
                            RefKind::Func => ValType::FuncRef,
                            RefKind::Extern => ValType::ExternRef,
                        },
                        *maximum,
                    ),
                    _ => {
                        // SAFETY: the module's live table descriptor.
                        let max = unsafe { (*table).maximum_elements };
                        (
                            ValType::FuncRef,
                            (max != u32::MAX).then_some(u64::from(max)),
                        )
                    }
                };
                Extern::Table {
                    table,
                    element,
                    maximum,
                }
            }
            2 => {
                let memory = address.cast_mut().cast::<MemoryDescriptor>();
                let maximum = match decl(&name) {
                    Some(ExportDecl::Memory { maximum }) => *maximum,
                    // SAFETY: the module's live memory descriptor.
                    _ => Some(unsafe { (*memory).maximum_pages }).filter(|&m| m != MAX_WASM_PAGES),
                };
                Extern::Memory { memory, maximum }
            }
            3 => {
                // SAFETY: reading the export's global type byte.
                let ty = unsafe { val_type_at(&raw const export.global.value) }?;
                Extern::Global {
                    cell: address.cast_mut().cast(),
                    ty,
                    mutable: export.global.mutable != 0,
                }
            }
            kind => return Err(format!("export {name:?} has unknown kind {kind}")),
        };
        exports.insert(name, item);
    }
    Ok(exports)
}

/// The array-call slots of `value` (`mewz_abi::module::ArrayCall`: one, two for a `v128`).
/// Host references `ref.extern n` are the pointer-sized value `n + 1` (0 is null).
fn to_raw(value: &Value, ty: ValType) -> Option<Vec<u64>> {
    let one = match (value, ty) {
        (Value::I32(v), ValType::I32) => u64::from(*v),
        (Value::I64(v), ValType::I64) => *v,
        (Value::F32(v), ValType::F32) => u64::from(*v),
        (Value::F64(v), ValType::F64) => *v,
        (Value::V128(halves), ValType::V128) => return Some(halves.to_vec()),
        (Value::FuncRef(r), ValType::FuncRef) => r.unwrap_or(0),
        (Value::ExternRef(r), ValType::ExternRef) => r.map_or(0, |n| u64::from(n) + 1),
        _ => return None,
    };
    Some(vec![one])
}

/// The value of type `ty` in its array-call slots `raw`.
fn from_raw(raw: &[u64], ty: ValType) -> Value {
    let one = raw[0];
    match ty {
        ValType::I32 => Value::I32(one as u32),
        ValType::I64 => Value::I64(one),
        ValType::F32 => Value::F32(one as u32),
        ValType::F64 => Value::F64(one),
        ValType::V128 => Value::V128([raw[0], raw[1]]),
        ValType::FuncRef => Value::FuncRef((one != 0).then_some(one)),
        ValType::ExternRef => Value::ExternRef((one != 0).then(|| (one - 1) as u32)),
    }
}

/// Reads a global cell in its native representation, as array-call slots.
///
/// # Safety
/// `cell` is a live global cell of type `ty`: 8 bytes, 8-aligned (16 and 16 for a `v128`).
unsafe fn read_cell(cell: *mut u64, ty: ValType) -> Vec<u64> {
    // SAFETY: guaranteed by the caller; 32-bit values live in the low 4 bytes.
    unsafe {
        vec![match ty {
            ValType::I32 | ValType::F32 => u64::from(cell.cast::<u32>().read()),
            ValType::I64 | ValType::F64 => cell.read(),
            ValType::V128 => return vec![cell.read(), cell.add(1).read()],
            ValType::FuncRef | ValType::ExternRef => cell.cast::<usize>().read() as u64,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_raw_slots() {
        let cases = [
            (Value::I32(u32::MAX), ValType::I32),
            (Value::I64(1 << 63), ValType::I64),
            (Value::F32(0x7fc0_0001), ValType::F32),
            (Value::F64(0x8000_0000_0000_0000), ValType::F64),
            (Value::FuncRef(None), ValType::FuncRef),
            (Value::FuncRef(Some(0x5000)), ValType::FuncRef),
            (Value::ExternRef(None), ValType::ExternRef),
            (Value::ExternRef(Some(0)), ValType::ExternRef),
            (Value::ExternRef(Some(u32::MAX)), ValType::ExternRef),
        ];
        for (value, ty) in cases {
            assert_eq!(from_raw(&to_raw(&value, ty).unwrap(), ty), value);
        }
        assert_eq!(
            to_raw(&Value::ExternRef(Some(0)), ValType::ExternRef),
            Some(vec![1])
        );
        let v128 = Value::V128([1, u64::MAX]);
        assert_eq!(to_raw(&v128, ValType::V128), Some(vec![1, u64::MAX]));
        assert_eq!(from_raw(&[1, u64::MAX], ValType::V128), v128);
        assert_eq!(to_raw(&v128, ValType::I64), None);
        assert_eq!(to_raw(&Value::I32(1), ValType::I64), None);
    }

    #[test]
    fn spectest_is_registered_with_its_globals() {
        let mut store = Store::new();
        assert_eq!(
            store.get(SPECTEST_ID, "global_i32"),
            Response::Values(vec![Value::I32(666)])
        );
        assert_eq!(
            store.get(SPECTEST_ID, "global_f32"),
            Response::Values(vec![Value::F32(666.6f32.to_bits())])
        );
        let r = store.execute(Command::Invoke {
            id: SPECTEST_ID,
            export: "print".into(),
            args: vec![],
            timeout_ms: 0,
        });
        assert!(matches!(r, Response::Error(_)), "{r:?}");
        assert!(matches!(
            store.execute(Command::Get {
                id: 5,
                export: "g".into()
            }),
            Response::Error(_)
        ));
    }
}
