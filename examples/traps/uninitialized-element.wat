;; Expected: wasm trap "uninitialized element": call_indirect of a null table entry.
(module
  (type $v (func))
  (table 2 funcref)
  (elem (i32.const 0) $f)
  (func $f)
  (global $index (mut i32) (i32.const 1))
  (func (export "_start")
    (call_indirect (type $v) (global.get $index))))
