"""Project folders for the observability tests: a fast guest, a slow one, a logging one, a trapping one."""

from __future__ import annotations

from pathlib import Path

from tests.procs import REPO, write_project

HELLO = (REPO / "functions/hello/hello.wat").read_text()
# Spins 2e9 iterations (about a second), then answers 200: slow enough to hold a concurrency
# slot while a test looks, bounded by work rather than by a clock.
SLOW = """
(module
  (memory (export "memory") 1)
  (func (export "edgefn_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (local $i i32)
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 2000000000))))
    (i32.store (i32.const 512) (i32.const 200))
    (i64.const 0x000002000000000c)))
"""
LOG = (REPO / "tests/guests/log.wat").read_text()
TRAP = (REPO / "tests/guests/traps.wat").read_text()
GUESTS = {"hello": HELLO, "slow": SLOW, "log": LOG, "boom": TRAP}
ENTRYPOINTS = {"boom": "unreachable"}


def project(directory: Path, name: str, functions: tuple[str, ...], *, prefix: str = "") -> Path:
    """A project `name` with the named guests, each routed at `{prefix}/{function}`."""
    parts = [f'project = "{name}"']
    for fn in functions:
        entrypoint = ENTRYPOINTS.get(fn, "handle")
        parts.append(
            f'[[functions]]\nname = "{fn}"\nwasm = "{fn}.wat"\nentrypoint = "{entrypoint}"\n'
            f"max_execution_ms = 60000\nmax_hot_instances = 4\n"
            f'[[routes]]\npath = "{prefix}/{fn}"\nfunction = "{fn}"\n'
            f'[[deployments]]\nfunction = "{fn}"\n'
        )
    return write_project(directory, "\n".join(parts), {f"{fn}.wat": GUESTS[fn] for fn in functions})
