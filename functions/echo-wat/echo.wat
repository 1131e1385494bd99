;; echo-wat: answers 200 with the request body echoed back and the request
;; method in an `x-method` header. Shows how to read and write the ABI v1 wire
;; format by hand (see docs/abi.md): every integer is a little-endian u32 and a
;; string is a u32 length followed by that many bytes.
(module
  (memory (export "memory") 1)

  (data (i32.const 16) "x-method")   ;; the response header name (8 bytes)

  ;; Bump allocator. Nothing outlives a request: once the host has copied the
  ;; response out it calls edgefn_free, which releases the whole heap.
  (global $heap_base i32 (i32.const 1024))
  (global $heap_top (mut i32) (i32.const 1024))

  ;; edgefn_alloc(size) -> ptr, 0 when memory cannot grow that far.
  (func $edgefn_alloc (export "edgefn_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i64)
    (local $have i64)
    (local.set $ptr
      (i32.and (i32.add (global.get $heap_top) (i32.const 7)) (i32.const -8)))
    (local.set $end
      (i64.add (i64.extend_i32_u (local.get $ptr)) (i64.extend_i32_u (local.get $size))))
    (local.set $have (i64.mul (i64.extend_i32_u (memory.size)) (i64.const 65536)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow
                (i32.wrap_i64
                  (i64.div_u
                    (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 65535))
                    (i64.const 65536))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap_top (i32.wrap_i64 (local.get $end)))
    (local.get $ptr))

  ;; edgefn_free(ptr, size): called on the response buffer, the last live
  ;; allocation of the request, so the heap can start over.
  (func (export "edgefn_free") (param $ptr i32) (param $size i32)
    (global.set $heap_top (global.get $heap_base)))

  ;; Cursor over the request: $pos is the next unread byte, $end one past the
  ;; last. $take moves the cursor by $n bytes and returns where it was, trapping
  ;; (unreachable) if that would run past the end of the request.
  (global $pos (mut i32) (i32.const 0))
  (global $end (mut i32) (i32.const 0))

  (func $take (param $n i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $pos))
    (if (i32.gt_u (local.get $n) (i32.sub (global.get $end) (local.get $at)))
      (then unreachable))
    (global.set $pos (i32.add (local.get $at) (local.get $n)))
    (local.get $at))

  ;; Reads a u32 at the cursor.
  (func $u32 (result i32)
    (i32.load (call $take (i32.const 4))))

  ;; Skips a string, returning its length; its bytes start at $pos - length.
  (func $string (result i32)
    (local $len i32)
    (local.set $len (call $u32))
    (drop (call $take (local.get $len)))
    (local.get $len))

  ;; Writes a string (length + bytes) at $dst and returns the address after it.
  (func $put_string (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (i32.store (local.get $dst) (local.get $len))
    (memory.copy (i32.add (local.get $dst) (i32.const 4)) (local.get $src) (local.get $len))
    (i32.add (local.get $dst) (i32.add (i32.const 4) (local.get $len))))

  (func (export "handle") (param $req_ptr i32) (param $req_len i32) (result i64)
    (local $method_len i32) (local $method i32)
    (local $body_len i32) (local $body i32)
    (local $count i32)
    (local $resp i32) (local $resp_len i32) (local $out i32)
    (global.set $pos (local.get $req_ptr))
    (global.set $end (i32.add (local.get $req_ptr) (local.get $req_len)))

    ;; method
    (local.set $method_len (call $string))
    (local.set $method (i32.sub (global.get $pos) (local.get $method_len)))
    ;; uri (unused)
    (drop (call $string))
    ;; headers (unused): header_count pairs of strings
    (local.set $count (call $u32))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $count)))
        (drop (call $string))
        (drop (call $string))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next)))
    ;; body
    (local.set $body_len (call $string))
    (local.set $body (i32.sub (global.get $pos) (local.get $body_len)))

    ;; Response: status, 1 header ("x-method": method), body.
    ;; Size = 4 + 4 + (4 + 8) + (4 + method_len) + (4 + body_len).
    (local.set $resp_len
      (i32.add (i32.const 28) (i32.add (local.get $method_len) (local.get $body_len))))
    (local.set $resp (call $edgefn_alloc (local.get $resp_len)))
    (if (i32.eqz (local.get $resp)) (then unreachable))  ;; out of memory: trap
    (i32.store (local.get $resp) (i32.const 200))
    (i32.store offset=4 (local.get $resp) (i32.const 1))
    (local.set $out (i32.add (local.get $resp) (i32.const 8)))
    (local.set $out (call $put_string (local.get $out) (i32.const 16) (i32.const 8)))
    (local.set $out (call $put_string (local.get $out) (local.get $method) (local.get $method_len)))
    (drop (call $put_string (local.get $out) (local.get $body) (local.get $body_len)))

    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $resp)) (i64.const 32))
      (i64.extend_i32_u (local.get $resp_len))))
)
