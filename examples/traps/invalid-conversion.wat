;; Expected: wasm trap "invalid conversion to integer" (NaN to i32).
(module
  (global $nan (mut f64) (f64.const nan))
  (func (export "_start")
    (drop (i32.trunc_f64_s (global.get $nan)))))
