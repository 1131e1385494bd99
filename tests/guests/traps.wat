;; One entrypoint per kind of trap; the FunctionSpec picks which.
(module
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "unreachable") (param i32 i32) (result i64) (unreachable))
  (func (export "divzero") (param i32 i32) (result i64)
    (i64.extend_i32_u (i32.div_u (i32.const 1) (i32.sub (local.get 1) (local.get 1)))))
  (func $recurse (export "overflow") (param i32 i32) (result i64)
    (i64.add (call $recurse (local.get 0) (local.get 1)) (i64.const 1)))
  (func (export "oob_load") (param i32 i32) (result i64)
    (i64.load (i32.const 0x7ffffff0))))
