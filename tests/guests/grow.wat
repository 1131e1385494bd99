;; Reports memory.grow results in its body: grow(1) then grow(64), as two i32 LE.
(module
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.const 8))
    (i32.store (i32.const 12) (memory.grow (i32.const 1)))
    (i32.store (i32.const 16) (memory.grow (i32.const 64)))
    (i64.const 20)))
