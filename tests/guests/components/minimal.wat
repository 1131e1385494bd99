;; The smallest wasi:http guest, written against the canonical ABI of wasi:http@0.2.0 by hand: it
;; answers every request 200 with one header field and a fixed body, so a benchmark of it measures
;; the host's own cost per request. `wasm-tools component embed` (world `minimal`, minimal.wit) and
;; `component new` turn it into a component (tests/component_guests.py).
(module
  (import "wasi:http/types@0.2.0" "[resource-drop]incoming-request" (func $drop_request (param i32)))
  (import "wasi:http/types@0.2.0" "[constructor]fields" (func $fields_new (result i32)))
  ;; self, name (ptr, len), value (ptr, len), where result<_, header-error> goes
  (import "wasi:http/types@0.2.0" "[method]fields.append" (func $fields_append (param i32 i32 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.0" "[constructor]outgoing-response" (func $response_new (param i32) (result i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-response.body" (func $response_body (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop_stream (param i32)))
  ;; body, option<own<trailers>> (tag, handle), where result<_, error-code> goes
  (import "wasi:http/types@0.2.0" "[static]outgoing-body.finish" (func $finish (param i32 i32 i32 i32)))
  ;; outparam, result<own<outgoing-response>, error-code> flattened (tag, then the joined payload)
  (import "wasi:http/types@0.2.0" "[static]response-outparam.set"
    (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 4096))
  (data (i32.const 16) "content-type")
  (data (i32.const 32) "text/plain")
  (data (i32.const 48) "hello from a component\n")

  ;; A bump allocator: the host only returns small results here.
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
    (global.set $next (i32.add (local.get $ptr) (local.get 3)))
    (local.get $ptr))

  (func (export "wasi:http/incoming-handler@0.2.0#handle") (param $request i32) (param $out i32)
    (local $fields i32) (local $response i32) (local $body i32) (local $stream i32)
    (global.set $next (i32.const 4096))
    (call $drop_request (local.get $request))
    (local.set $fields (call $fields_new))
    (call $fields_append (local.get $fields) (i32.const 16) (i32.const 12) (i32.const 32) (i32.const 10)
      (i32.const 1024))
    (local.set $response (call $response_new (local.get $fields)))
    (call $response_body (local.get $response) (i32.const 1024))
    (local.set $body (i32.load (i32.const 1028)))
    (call $body_write (local.get $body) (i32.const 1024))
    (local.set $stream (i32.load (i32.const 1028)))
    (call $write (local.get $stream) (i32.const 48) (i32.const 23) (i32.const 1024))
    (call $drop_stream (local.get $stream))
    (call $finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 1024))
    (call $set (local.get $out) (i32.const 0) (local.get $response) (i32.const 0) (i64.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
)
