;; Expected: wasm trap "indirect call type mismatch": the table holds a (param i32) function,
;; the call expects no parameters.
(module
  (type $v (func))
  (table 1 funcref)
  (elem (i32.const 0) $takes_i32)
  (func $takes_i32 (param i32))
  (global $index (mut i32) (i32.const 0))
  (func (export "_start")
    (call_indirect (type $v) (global.get $index))))
