;; Expected: wasm trap "integer overflow" (INT32_MIN / -1).
(module
  (global $minus_one (mut i32) (i32.const -1))
  (func (export "_start")
    (drop (i32.div_s (i32.const 0x80000000) (global.get $minus_one)))))
