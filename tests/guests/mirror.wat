;; Mirror guest: its response is its request body, byte for byte, so a test can make it give any
;; response a guest could write (a 1xx status, a header with CR LF, a 204 with a body, ...).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

  (func (export "edgefn_alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end)
                        (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))

  ;; The address after the string at $p (u32 length, then the bytes).
  (func $skip (param $p i32) (result i32)
    (i32.add (i32.add (local.get $p) (i32.const 4)) (i32.load (local.get $p))))

  (func (export "handle") (param $req i32) (param $len i32) (result i64)
    (local $p i32) (local $n i32)
    (global.set $heap (i32.const 1024))  ;; the next request may reuse the memory once this answer is copied
    (local.set $p (call $skip (call $skip (local.get $req))))  ;; past method and uri
    (local.set $n (i32.load (local.get $p)))
    (local.set $p (i32.add (local.get $p) (i32.const 4)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $p (call $skip (call $skip (local.get $p))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    ;; $p is the body string: answer with its bytes
    (i64.or (i64.shl (i64.extend_i32_u (i32.add (local.get $p) (i32.const 4))) (i64.const 32))
            (i64.extend_i32_u (i32.load (local.get $p))))))
