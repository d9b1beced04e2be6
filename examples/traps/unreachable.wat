;; Expected: wasm trap "unreachable", exit status 134.
(module
  (func (export "_start")
    unreachable))
