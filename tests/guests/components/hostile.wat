;; A guest that misbehaves towards the host, by the first letter of its path (world `minimal`):
;;   /k...  answers "ok" but never drops its incoming-request
;;   /f...  makes fields resources forever, never dropping one
;;   /a...  appends a 1 KiB header value to one fields resource forever
;;   /x...  sets its response-outparam to an error code (DNS-timeout)
;;   /n...  returns without setting its response-outparam
;;   /2...  sets its response-outparam twice
;;   /b...  writes to its response body's stream after finishing the body
;;   /s...  answers status 101, after set-status-code refused 700 (traps if it did not)
;;   else   answers "ok"
(module
  (import "wasi:http/types@0.2.0" "[resource-drop]incoming-request" (func $drop_request (param i32)))
  (import "wasi:http/types@0.2.0" "[method]incoming-request.path-with-query" (func $path (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[constructor]fields" (func $fields_new (result i32)))
  (import "wasi:http/types@0.2.0" "[method]fields.append" (func $fields_append (param i32 i32 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.0" "[constructor]outgoing-response" (func $response_new (param i32) (result i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-response.body" (func $response_body (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-response.set-status-code"
    (func $set_status (param i32 i32) (result i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop_stream (param i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.subscribe" (func $subscribe (param i32) (result i32)))
  (import "wasi:io/poll@0.2.0" "[resource-drop]pollable" (func $drop_pollable (param i32)))
  (import "wasi:http/types@0.2.0" "[static]outgoing-body.finish" (func $finish (param i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.0" "[static]response-outparam.set"
    (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 8192))
  (data (i32.const 16) "x-a")
  (data (i32.const 48) "ok\n")

  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
    (global.set $next (i32.add (local.get $ptr) (local.get 3)))
    (local.get $ptr))

  ;; A 200 "ok" set on $out.
  (func $respond (param $out i32)
    (call $answer (local.get $out) (call $response_new (call $fields_new))))

  ;; $response with the body "ok" set on $out.
  (func $answer (param $out i32) (param $response i32)
    (local $body i32) (local $stream i32)
    (call $response_body (local.get $response) (i32.const 1024))
    (local.set $body (i32.load (i32.const 1028)))
    (call $body_write (local.get $body) (i32.const 1024))
    (local.set $stream (i32.load (i32.const 1028)))
    (call $drop_pollable (call $subscribe (local.get $stream)))  ;; as a guest waiting to write does
    (call $write (local.get $stream) (i32.const 48) (i32.const 3) (i32.const 1024))
    (call $drop_stream (local.get $stream))
    (call $finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 1024))
    (call $set (local.get $out) (i32.const 0) (local.get $response) (i32.const 0) (i64.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))

  (func (export "wasi:http/incoming-handler@0.2.0#handle") (param $request i32) (param $out i32)
    (local $letter i32) (local $fields i32)
    (global.set $next (i32.const 8192))
    (call $path (local.get $request) (i32.const 1056))
    (local.set $letter (i32.load8_u offset=1 (i32.load (i32.const 1060))))
    (if (i32.eq (local.get $letter) (i32.const 0x6b)) (then (call $respond (local.get $out)) (return)))  ;; k
    (call $drop_request (local.get $request))
    (if (i32.eq (local.get $letter) (i32.const 0x66))  ;; f
      (then (loop $forever (drop (call $fields_new)) (br $forever))))
    (if (i32.eq (local.get $letter) (i32.const 0x61))  ;; a
      (then
        (local.set $fields (call $fields_new))
        (memory.fill (i32.const 2048) (i32.const 0x61) (i32.const 1024))
        (loop $forever
          (call $fields_append (local.get $fields) (i32.const 16) (i32.const 3) (i32.const 2048)
            (i32.const 1024) (i32.const 1040))
          (br $forever))))
    (if (i32.eq (local.get $letter) (i32.const 0x78))  ;; x
      (then
        (call $set (local.get $out) (i32.const 1) (i32.const 0) (i32.const 0) (i64.const 0)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
        (return)))
    (if (i32.eq (local.get $letter) (i32.const 0x6e)) (then (return)))  ;; n
    (if (i32.eq (local.get $letter) (i32.const 0x62))  ;; b
      (then
        (local.set $fields (call $response_new (call $fields_new)))
        (call $response_body (local.get $fields) (i32.const 1024))
        (local.set $letter (i32.load (i32.const 1028)))  ;; the body
        (call $body_write (local.get $letter) (i32.const 1024))
        (call $finish (local.get $letter) (i32.const 0) (i32.const 0) (i32.const 1032))
        (call $write (i32.load (i32.const 1028)) (i32.const 48) (i32.const 3) (i32.const 1040))
        (return)))
    (if (i32.eq (local.get $letter) (i32.const 0x73))  ;; s
      (then
        (local.set $fields (call $response_new (call $fields_new)))
        (if (i32.eqz (call $set_status (local.get $fields) (i32.const 700))) (then unreachable))
        (drop (call $set_status (local.get $fields) (i32.const 101)))
        (call $answer (local.get $out) (local.get $fields))
        (return)))
    (if (i32.eq (local.get $letter) (i32.const 0x32))  ;; 2
      (then (call $respond (local.get $out)) (call $respond (local.get $out)) (return)))
    (call $respond (local.get $out)))
)
