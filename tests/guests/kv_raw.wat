;; Calls one KV host function with raw arguments from the request body: u32 op (0 kv_get,
;; 1 kv_set, 2 kv_delete), then six u32 (store ptr/len, key ptr/len, value ptr/len). Answers 200
;; with the result as 8 little-endian bytes (kv_get's i64, the others' i32 sign-extended).
;; Memory: "default" at 16, "carts" at 32, "k" at 48, "value" at 64, requests from 65536.
(module
  (import "edgefn" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i64)))
  (import "edgefn" "kv_set" (func $kv_set (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "edgefn" "kv_delete" (func $kv_delete (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "default")
  (data (i32.const 32) "carts")
  (data (i32.const 48) "k")
  (data (i32.const 64) "value")
  (global $heap (mut i32) (i32.const 65536))
  (func (export "edgefn_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "handle") (param $req i32) (param $len i32) (result i64)
    (local $a i32) (local $r i64)
    ;; the body is the last 28 bytes of the request: the op, then the six arguments
    (local.set $a (i32.sub (i32.add (local.get $req) (local.get $len)) (i32.const 24)))
    (local.set $r
      (if (result i64) (i32.eqz (i32.load (i32.sub (local.get $a) (i32.const 4))))
        (then (call $kv_get (i32.load (local.get $a)) (i32.load offset=4 (local.get $a))
          (i32.load offset=8 (local.get $a)) (i32.load offset=12 (local.get $a))))
        (else (if (result i64) (i32.eq (i32.load (i32.sub (local.get $a) (i32.const 4))) (i32.const 1))
          (then (i64.extend_i32_s (call $kv_set (i32.load (local.get $a)) (i32.load offset=4 (local.get $a))
            (i32.load offset=8 (local.get $a)) (i32.load offset=12 (local.get $a))
            (i32.load offset=16 (local.get $a)) (i32.load offset=20 (local.get $a)))))
          (else (i64.extend_i32_s (call $kv_delete (i32.load (local.get $a)) (i32.load offset=4 (local.get $a))
            (i32.load offset=8 (local.get $a)) (i32.load offset=12 (local.get $a)))))))))
    (i32.store (i32.const 1024) (i32.const 200))
    (i32.store (i32.const 1028) (i32.const 0))
    (i32.store (i32.const 1032) (i32.const 8))
    (i64.store (i32.const 1036) (local.get $r))
    (global.set $heap (i32.const 65536))
    (i64.const 0x0000040000000014)))
