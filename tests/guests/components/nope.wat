;; Imports edgefn:guests/nope, which no runner provides (world `nope-world`, wit/guests.wit).
(module
  (import "edgefn:guests/nope" "thing" (func $thing (result i32)))
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
  (func (export "wasi:http/incoming-handler@0.2.0#handle") (param i32 i32) (drop (call $thing)))
)
