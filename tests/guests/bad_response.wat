;; Responses that break the ABI: a pointer past memory, and a status of 99.
(module
  (memory (export "memory") 1)
  (data (i32.const 64) "\63\00\00\00\00\00\00\00\00\00\00\00")
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "oob") (param i32 i32) (result i64)
    (i64.const 0xfff0000000000010))
  (func (export "bad_status") (param i32 i32) (result i64)
    (i64.const 0x000000400000000c)))
