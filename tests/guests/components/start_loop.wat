;; A component whose core module's start function never returns (world `minimal`): instantiation
;; itself must end at the function's deadline.
(module
  (memory (export "memory") 1)
  (func $forever (loop $again (br $again)))
  (start $forever)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "wasi:http/incoming-handler@0.2.0#handle") (param i32 i32))
)
