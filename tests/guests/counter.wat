;; Answers 200 with how many requests this instance has been given, as three ASCII digits: requests
;; that share an instance count up, a fresh instance answers 001. A POST counts, then traps.
(module
  (memory (export "memory") 1)
  (global $given (mut i32) (i32.const 0))
  ;; the response at 16: status 200, no headers, a 3-byte body (the digits, written at 28)
  (data (i32.const 16) "\c8\00\00\00\00\00\00\00\03\00\00\00")
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func $digit (param $at i32) (param $place i32)
    (i32.store8 (local.get $at)
      (i32.add (i32.const 48)
        (i32.rem_u (i32.div_u (global.get $given) (local.get $place)) (i32.const 10)))))
  (func (export "handle") (param $req i32) (param $len i32) (result i64)
    (global.set $given (i32.add (global.get $given) (i32.const 1)))
    ;; the request starts with the method's length: 4 is "POST"
    (if (i32.eq (i32.load (local.get $req)) (i32.const 4)) (then (unreachable)))
    (call $digit (i32.const 28) (i32.const 100))
    (call $digit (i32.const 29) (i32.const 10))
    (call $digit (i32.const 30) (i32.const 1))
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 15))))
