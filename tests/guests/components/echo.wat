;; A wasi:http guest for the runner's tests, written against the canonical ABI of wasi:http@0.2.0
;; (world `echo`, wit/guests.wit). What it does depends on the first letter of the path:
;;   /e...  echo: the request's header fields back as the response's, and a body of the method,
;;          the path with its query, a newline, then the request body read as a stream (64 KiB reads)
;;   /r...  a response body written as 64 writes of 1 KiB
;;   /v...  the environment, one NAME=value line each
;;   /o...  "hello from stdout" on stdout, then an empty 200
;;   /w...  waits 30 ms on a monotonic-clock pollable, then an empty 200
;;   /l...  loops forever          /t...  traps (unreachable)
;;   /n...  calls wasi:sockets/instance-network (denied)
;;   else   "hello from a component"
(module
  (import "wasi:http/types@0.2.0" "[method]incoming-request.method" (func $method (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[method]incoming-request.path-with-query" (func $path (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[method]incoming-request.headers" (func $headers (param i32) (result i32)))
  (import "wasi:http/types@0.2.0" "[method]incoming-request.consume" (func $consume (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[method]incoming-body.stream" (func $body_stream (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[resource-drop]incoming-request" (func $drop_request (param i32)))
  (import "wasi:http/types@0.2.0" "[resource-drop]incoming-body" (func $drop_incoming_body (param i32)))
  (import "wasi:http/types@0.2.0" "[method]fields.clone" (func $fields_clone (param i32) (result i32)))
  (import "wasi:http/types@0.2.0" "[resource-drop]fields" (func $drop_fields (param i32)))
  (import "wasi:http/types@0.2.0" "[constructor]fields" (func $fields_new (result i32)))
  (import "wasi:http/types@0.2.0" "[constructor]outgoing-response" (func $response_new (param i32) (result i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-response.body" (func $response_body (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[static]outgoing-body.finish" (func $finish (param i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.0" "[static]response-outparam.set"
    (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]input-stream.blocking-read" (func $read (param i32 i64 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.write" (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write_flush (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]input-stream" (func $drop_input (param i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop_output (param i32)))
  (import "wasi:cli/environment@0.2.0" "get-environment" (func $environment (param i32)))
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $stdout (result i32)))
  (import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration" (func $after (param i64) (result i32)))
  (import "wasi:io/poll@0.2.0" "[method]pollable.block" (func $block (param i32)))
  (import "wasi:io/poll@0.2.0" "[resource-drop]pollable" (func $drop_pollable (param i32)))
  (import "wasi:sockets/instance-network@0.2.0" "instance-network" (func $network (result i32)))

  (memory (export "memory") 32)
  (global $next (mut i32) (i32.const 8192))
  (global $body (mut i32) (i32.const 0))
  (global $response (mut i32) (i32.const 0))
  (global $out (mut i32) (i32.const 0))
  ;; method names, and their (offset, length) by wasi:http method tag
  (data (i32.const 64) "GETHEADPOSTPUTDELETECONNECTOPTIONSTRACEPATCH")
  (data (i32.const 128) "\40\00\00\00\03\00\00\00\43\00\00\00\04\00\00\00\47\00\00\00\04\00\00\00"
                        "\4b\00\00\00\03\00\00\00\4e\00\00\00\06\00\00\00\54\00\00\00\07\00\00\00"
                        "\5b\00\00\00\07\00\00\00\62\00\00\00\05\00\00\00\67\00\00\00\05\00\00\00")
  (data (i32.const 256) "hello from a component\n")
  (data (i32.const 288) "hello from stdout\n")
  (data (i32.const 320) " \n=")
  (data (i32.const 336) "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get 2))))
    (global.set $next (i32.add (local.get $ptr) (local.get 3)))
    (local.get $ptr))

  ;; Starts the response with these header fields; returns the body's output stream.
  (func $start (param $fields i32) (result i32)
    (global.set $response (call $response_new (local.get $fields)))
    (call $response_body (global.get $response) (i32.const 1024))
    (global.set $body (i32.load (i32.const 1028)))
    (call $body_write (global.get $body) (i32.const 1024))
    (i32.load (i32.const 1028)))

  (func $emit (param $stream i32) (param $ptr i32) (param $len i32)
    (call $write (local.get $stream) (local.get $ptr) (local.get $len) (i32.const 1040))
    (if (i32.load8_u (i32.const 1040)) (then unreachable)))

  (func $end (param $stream i32)
    (call $drop_output (local.get $stream))
    (call $finish (global.get $body) (i32.const 0) (i32.const 0) (i32.const 1024))
    (call $set (global.get $out) (i32.const 0) (global.get $response) (i32.const 0) (i64.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))

  (func $echo (param $request i32)
    (local $stream i32) (local $input i32) (local $incoming i32) (local $tag i32)
    (local.set $stream (call $start (call $fields_clone (call $headers (local.get $request)))))
    (call $method (local.get $request) (i32.const 1056))
    (local.set $tag (i32.load8_u (i32.const 1056)))
    (if (i32.eq (local.get $tag) (i32.const 9))
      (then (call $emit (local.get $stream) (i32.load (i32.const 1060)) (i32.load (i32.const 1064))))
      (else (call $emit (local.get $stream)
        (i32.load (i32.add (i32.const 128) (i32.shl (local.get $tag) (i32.const 3))))
        (i32.load (i32.add (i32.const 132) (i32.shl (local.get $tag) (i32.const 3)))))))
    (call $emit (local.get $stream) (i32.const 320) (i32.const 1))
    (call $path (local.get $request) (i32.const 1056))
    (call $emit (local.get $stream) (i32.load (i32.const 1060)) (i32.load (i32.const 1064)))
    (call $emit (local.get $stream) (i32.const 321) (i32.const 1))
    (call $consume (local.get $request) (i32.const 1056))
    (local.set $incoming (i32.load (i32.const 1060)))
    (call $body_stream (local.get $incoming) (i32.const 1056))
    (local.set $input (i32.load (i32.const 1060)))
    (block $done
      (loop $more
        (global.set $next (i32.const 8192))
        (call $read (local.get $input) (i64.const 65536) (i32.const 1056))
        (br_if $done (i32.load8_u (i32.const 1056)))  ;; err: closed
        (call $emit (local.get $stream) (i32.load (i32.const 1060)) (i32.load (i32.const 1064)))
        (br $more)))
    (call $drop_input (local.get $input))
    (call $drop_incoming_body (local.get $incoming))
    (call $end (local.get $stream)))

  (func $chunks
    (local $stream i32) (local $i i32)
    (local.set $stream (call $start (call $fields_new)))
    (loop $more
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (call $emit (local.get $stream) (i32.const 336) (i32.const 64))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 64))))
    (call $end (local.get $stream)))

  (func $variables
    (local $stream i32) (local $entry i32) (local $last i32)
    (local.set $stream (call $start (call $fields_new)))
    (call $environment (i32.const 1056))
    (local.set $entry (i32.load (i32.const 1056)))
    (local.set $last (i32.add (local.get $entry) (i32.shl (i32.load (i32.const 1060)) (i32.const 4))))
    (block $done
      (loop $more
        (br_if $done (i32.ge_u (local.get $entry) (local.get $last)))
        (call $emit (local.get $stream) (i32.load (local.get $entry)) (i32.load offset=4 (local.get $entry)))
        (call $emit (local.get $stream) (i32.const 322) (i32.const 1))
        (call $emit (local.get $stream) (i32.load offset=8 (local.get $entry)) (i32.load offset=12 (local.get $entry)))
        (call $emit (local.get $stream) (i32.const 321) (i32.const 1))
        (local.set $entry (i32.add (local.get $entry) (i32.const 16)))
        (br $more)))
    (call $end (local.get $stream)))

  (func $empty
    (call $end (call $start (call $fields_new))))

  (func (export "wasi:http/incoming-handler@0.2.0#handle") (param $request i32) (param $out i32)
    (local $letter i32) (local $stdout i32) (local $timer i32)
    (global.set $next (i32.const 8192))
    (global.set $out (local.get $out))
    (call $path (local.get $request) (i32.const 1056))
    (local.set $letter (i32.load8_u offset=1 (i32.load (i32.const 1060))))
    (if (i32.eq (local.get $letter) (i32.const 0x65))  ;; e
      (then (call $echo (local.get $request)) (call $drop_request (local.get $request)) (return)))
    (call $drop_request (local.get $request))
    (if (i32.eq (local.get $letter) (i32.const 0x6c)) (then (loop $forever (br $forever))))  ;; l
    (if (i32.eq (local.get $letter) (i32.const 0x74)) (then unreachable))  ;; t
    (if (i32.eq (local.get $letter) (i32.const 0x6e)) (then (drop (call $network))))  ;; n
    (if (i32.eq (local.get $letter) (i32.const 0x72)) (then (call $chunks) (return)))  ;; r
    (if (i32.eq (local.get $letter) (i32.const 0x76)) (then (call $variables) (return)))  ;; v
    (if (i32.eq (local.get $letter) (i32.const 0x6f))  ;; o
      (then
        (local.set $stdout (call $stdout))
        (call $write_flush (local.get $stdout) (i32.const 288) (i32.const 18) (i32.const 1040))
        (call $drop_output (local.get $stdout))
        (call $empty) (return)))
    (if (i32.eq (local.get $letter) (i32.const 0x77))  ;; w
      (then
        (local.set $timer (call $after (i64.const 30000000)))
        (call $block (local.get $timer))
        (call $drop_pollable (local.get $timer))
        (call $empty) (return)))
    (local.set $letter (call $start (call $fields_new)))
    (call $emit (local.get $letter) (i32.const 256) (i32.const 23))
    (call $end (local.get $letter)))
)
