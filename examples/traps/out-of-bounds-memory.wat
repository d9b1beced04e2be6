;; Expected: wasm trap "out of bounds memory access": a load just past the one-page memory,
;; which lands in the unmapped part of the reservation (the guard-page path).
(module
  (memory 1)
  (global $end (mut i32) (i32.const 65536))
  (func (export "_start")
    (drop (i32.load (global.get $end)))))
