;; hello: the example function that edgefn.toml serves, handwritten against
;; guest ABI v1 (see docs/abi.md) so it needs no toolchain to build.
;;
;; Every request answers 200, `content-type: text/plain`, "Hello from edgefn!\n".
;; The response never changes, so it lives pre-encoded in a data segment and
;; `handle` only returns its address. The request is ignored.
(module
  ;; One page is enough; edgefn_alloc grows memory when a request is bigger
  ;; (the function's memory_pages limit, e.g. 16, caps the growth).
  (memory (export "memory") 1)

  ;; The response in the wire format: u32 status, u32 header_count, then each
  ;; header as two strings (u32 length + bytes), then the body as a string.
  ;; All integers little-endian. 61 bytes in total.
  (data (i32.const 16)
    "\c8\00\00\00"                   ;; status 200
    "\01\00\00\00"                   ;; 1 header
    "\0c\00\00\00" "content-type"    ;; name  (12 bytes)
    "\0a\00\00\00" "text/plain"      ;; value (10 bytes)
    "\13\00\00\00" "Hello from edgefn!\n")  ;; body (19 bytes)
  (global $response i32 (i32.const 16))
  (global $response_len i32 (i32.const 61))

  ;; The heap starts after the data and is a bump allocator: edgefn_alloc hands
  ;; out the request buffer, and `handle` releases everything once it is done
  ;; with the request, so a hot instance reuses the same bytes every time.
  (global $heap_base i32 (i32.const 1024))
  (global $heap_top (mut i32) (i32.const 1024))

  ;; edgefn_alloc(size) -> ptr: `size` writable bytes, or 0 if memory cannot
  ;; grow that far. The arithmetic is in i64 so a huge size cannot wrap.
  (func $edgefn_alloc (export "edgefn_alloc") (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i64)
    (local $have i64)
    ;; 8-byte align the allocation.
    (local.set $ptr
      (i32.and (i32.add (global.get $heap_top) (i32.const 7)) (i32.const -8)))
    (local.set $end
      (i64.add (i64.extend_i32_u (local.get $ptr)) (i64.extend_i32_u (local.get $size))))
    (local.set $have (i64.mul (i64.extend_i32_u (memory.size)) (i64.const 65536)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        ;; Grow by the missing bytes rounded up to whole pages; -1 = refused.
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

  ;; handle(req_ptr, req_len) -> (resp_ptr << 32) | resp_len
  (func (export "handle") (param $req_ptr i32) (param $req_len i32) (result i64)
    ;; The request is not needed: free the whole heap for the next request.
    (global.set $heap_top (global.get $heap_base))
    (i64.or
      (i64.shl (i64.extend_i32_u (global.get $response)) (i64.const 32))
      (i64.extend_i32_u (global.get $response_len))))
)
