;; Imports a host function no runner provides: registration must refuse it, naming the import.
(module
  (import "edgefn" "nope" (func $nope))
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64) (call $nope) (i64.const 0)))
