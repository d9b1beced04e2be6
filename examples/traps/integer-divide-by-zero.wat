;; Expected: wasm trap "integer divide by zero". The divisor comes from a mutable global so the
;; division happens at run time.
(module
  (global $zero (mut i32) (i32.const 0))
  (func (export "_start")
    (drop (i32.div_u (i32.const 7) (global.get $zero)))))
