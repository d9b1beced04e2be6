;; Expected: wasm trap "out of bounds table access": table.get past the end of the table.
(module
  (table 1 funcref)
  (global $index (mut i32) (i32.const 10))
  (func (export "_start")
    (drop (table.get 0 (global.get $index)))))
