;; Guests that write far more output than the runner keeps. Memory is 1025 pages: page 0 holds the
;; iovec, the counters and the response; the 64 MiB after it are the bytes written (NUL unless
;; filled, so the guest itself touches no memory for them). Every answer is 200 with a 4-byte body:
;; the u32 the export names.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "edgefn" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1025)
  (global $big i32 (i32.const 67108864))  ;; 64 MiB, from 65536 to the end of memory

  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))

  (func $answer (param $value i32) (result i64)
    (i32.store (i32.const 256) (i32.const 200))
    (i32.store (i32.const 260) (i32.const 0))
    (i32.store (i32.const 264) (i32.const 4))
    (i32.store (i32.const 268) (local.get $value))
    (i64.const 0x0000010000000010))

  ;; One fd_write of `len` bytes from 65536; the runner stores how many it took at 8.
  (func $write (param $fd i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))

  ;; 8 x 64 MiB to stdout without a newline; answers the last nwritten.
  (func (export "stdout") (param i32 i32) (result i64)
    (local $i i32)
    (loop $again
      (drop (call $write (i32.const 1) (global.get $big)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 8))))
    (call $answer (i32.load (i32.const 8))))

  ;; 1 MiB of newlines to stderr (a million empty lines); answers nwritten.
  (func (export "newlines") (param i32 i32) (result i64)
    (memory.fill (i32.const 65536) (i32.const 10) (i32.const 1048576))
    (drop (call $write (i32.const 2) (i32.const 1048576)))
    (call $answer (i32.load (i32.const 8))))

  ;; 8 edgefn.log lines of 64 MiB each; answers 0.
  (func (export "log") (param i32 i32) (result i64)
    (local $i i32)
    (loop $again
      (call $log (i32.const 1) (i32.const 65536) (global.get $big))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 8))))
    (call $answer (i32.const 0)))

  ;; One fd_write of 1025 iovecs, one over IOV_MAX; answers its errno.
  (func (export "iovecs") (param i32 i32) (result i64)
    (call $answer (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1025) (i32.const 8))))

  ;; 128 KiB from random_get; answers its errno.
  (func (export "random") (param i32 i32) (result i64)
    (call $answer (call $random_get (i32.const 65536) (i32.const 131072)))))
