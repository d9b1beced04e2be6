;; Expected: wasm trap "undefined element": call_indirect past the end of the table.
(module
  (type $v (func))
  (table 2 funcref)
  (global $index (mut i32) (i32.const 5))
  (func (export "_start")
    (call_indirect (type $v) (global.get $index))))
