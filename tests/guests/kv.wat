;; Drives the KV host functions from the request: the path is /kv/STORE/KEY (or /kv/STORE, which
;; leaves no room for a key, so the key's length wraps to 0xffffffff: a malformed call).
;; GET -> kv_get, the value as the body; PUT -> kv_set with the request body; other methods ->
;; kv_delete. A negative code answers status 400 - code (-1 -> 401, ..., -7 -> 407), no body.
(module
  (import "edgefn" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i64)))
  (import "edgefn" "kv_set" (func $kv_set (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "edgefn" "kv_delete" (func $kv_delete (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 40)
  (global $base i32 (i32.const 65536))
  (global $heap (mut i32) (i32.const 65536))
  (func $alloc (export "edgefn_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap
      (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  ;; The response (status, no headers, a copy of [bp, bp + bl)) after everything allocated; the
  ;; heap starts over for the next request, as the runner copies the response out first.
  (func $answer (param $status i32) (param $bp i32) (param $bl i32) (result i64)
    (local $r i32)
    (local.set $r (call $alloc (i32.add (local.get $bl) (i32.const 12))))
    (i32.store (local.get $r) (local.get $status))
    (i32.store offset=4 (local.get $r) (i32.const 0))
    (i32.store offset=8 (local.get $r) (local.get $bl))
    (memory.copy (i32.add (local.get $r) (i32.const 12)) (local.get $bp) (local.get $bl))
    (global.set $heap (global.get $base))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $r)) (i64.const 32))
      (i64.extend_i32_u (i32.add (local.get $bl) (i32.const 12)))))
  (func $code (param $c i32) (result i64)
    (call $answer (i32.sub (i32.const 400) (local.get $c)) (i32.const 0) (i32.const 0)))
  (func (export "handle") (param $req i32) (param $len i32) (result i64)
    (local $m i32) (local $mlen i32) (local $u i32) (local $ulen i32) (local $p i32) (local $end i32)
    (local $hc i32) (local $body i32) (local $blen i32)
    (local $store i32) (local $slen i32) (local $key i32) (local $klen i32)
    (local $r i64) (local $rc i32)
    (local.set $mlen (i32.load (local.get $req)))
    (local.set $m (i32.add (local.get $req) (i32.const 4)))
    (local.set $ulen (i32.load (i32.add (local.get $m) (local.get $mlen))))
    (local.set $u (i32.add (i32.add (local.get $m) (local.get $mlen)) (i32.const 4)))
    (local.set $p (i32.add (local.get $u) (local.get $ulen)))
    (local.set $hc (i32.load (local.get $p)))
    (local.set $p (i32.add (local.get $p) (i32.const 4)))
    (block $headers_done
      (loop $header
        (br_if $headers_done (i32.eqz (local.get $hc)))
        (local.set $p (i32.add (i32.add (local.get $p) (i32.const 4)) (i32.load (local.get $p))))
        (local.set $p (i32.add (i32.add (local.get $p) (i32.const 4)) (i32.load (local.get $p))))
        (local.set $hc (i32.sub (local.get $hc) (i32.const 1)))
        (br $header)))
    (local.set $blen (i32.load (local.get $p)))
    (local.set $body (i32.add (local.get $p) (i32.const 4)))
    ;; "/kv/" is 4 bytes; the store runs to the next '/' (47), the key is the rest.
    (local.set $store (i32.add (local.get $u) (i32.const 4)))
    (local.set $end (i32.add (local.get $u) (local.get $ulen)))
    (local.set $p (local.get $store))
    (block $found
      (loop $scan
        (br_if $found (i32.ge_u (local.get $p) (local.get $end)))
        (br_if $found (i32.eq (i32.load8_u (local.get $p)) (i32.const 47)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (local.set $slen (i32.sub (local.get $p) (local.get $store)))
    (local.set $key (i32.add (local.get $p) (i32.const 1)))
    (local.set $klen (i32.sub (local.get $end) (local.get $key)))
    (if (i32.eq (i32.load8_u (local.get $m)) (i32.const 71)) ;; G
      (then
        (local.set $r
          (call $kv_get (local.get $store) (local.get $slen) (local.get $key) (local.get $klen)))
        (if (i64.lt_s (local.get $r) (i64.const 0))
          (then (return (call $code (i32.wrap_i64 (local.get $r))))))
        (return (call $answer (i32.const 200)
          (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))
          (i32.wrap_i64 (local.get $r))))))
    (if (i32.eq (i32.load8_u (local.get $m)) (i32.const 80)) ;; P
      (then
        (local.set $rc (call $kv_set (local.get $store) (local.get $slen) (local.get $key)
          (local.get $klen) (local.get $body) (local.get $blen)))
        (if (local.get $rc) (then (return (call $code (local.get $rc)))))
        (return (call $answer (i32.const 200) (i32.const 0) (i32.const 0)))))
    (local.set $rc (call $kv_delete (local.get $store) (local.get $slen) (local.get $key) (local.get $klen)))
    (if (local.get $rc) (then (return (call $code (local.get $rc)))))
    (call $answer (i32.const 200) (i32.const 0) (i32.const 0))))
