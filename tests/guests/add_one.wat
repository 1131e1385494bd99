;; Imports a third-party host function: answers with status add_one(199).
(module
  (import "edgefn" "add_one" (func $add_one (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (i32.store (i32.const 512) (call $add_one (i32.const 199)))
    (i64.const 0x000002000000000c)))
