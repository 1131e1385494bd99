;; Logs "hi from guest" at warn level, then answers 204.
(module
  (import "edgefn" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi from guest")
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (call $log (i32.const 2) (i32.const 16) (i32.const 13))
    (i32.store (i32.const 512) (i32.const 204))
    (i64.const 0x000002000000000c)))
