;; Tells the host it is running (edgefn.signal), then spins: used to prove the GIL is released.
(module
  (import "edgefn" "signal" (func $signal))
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (call $signal)
    (loop $forever (br $forever))
    (i64.const 0)))
