;; Expected: wasm trap "call stack exhausted": unbounded recursion (not a tail call, and with
;; a live local so the frames cannot be folded away).
(module
  (func $down (param $n i32) (result i32)
    (i32.add (call $down (i32.add (local.get $n) (i32.const 1))) (local.get $n)))
  (func (export "_start")
    (drop (call $down (i32.const 0)))))
