"""Invocation log lines are rendered and written in batches on a loop (bounded in delay and size), at
once off it; a batch renders the same lines as rendering each invocation alone."""

from __future__ import annotations

import asyncio

from edgehost.plugins.invocation_log import LineBatch


def join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


class Sink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def msg(self, message: bytes) -> None:
        self.writes.append(message)


async def test_lines_of_a_burst_go_out_in_one_write_soon_after() -> None:
    sink = Sink()
    batch = LineBatch(sink, join)
    for n in range(3):
        batch.add(b'{"n":%d}' % n, 7)
    assert sink.writes == []
    await asyncio.sleep(LineBatch.FLUSH_S * 5)
    assert sink.writes == [b'{"n":0}\n{"n":1}\n{"n":2}']


async def test_a_long_burst_is_written_before_the_timer_fires() -> None:
    sink = Sink()
    batch = LineBatch(sink, join)
    for _ in range(LineBatch.MAX_LINES):
        batch.add(b"x", 1)
    assert len(sink.writes) == 1 and sink.writes[0].count(b"\n") == LineBatch.MAX_LINES - 1


async def test_large_lines_are_written_once_max_bytes_wait() -> None:
    sink = Sink()
    batch = LineBatch(sink, join)
    line = b"x" * (LineBatch.MAX_BYTES // 3 + 1)  # a record with a full guest log, escaped
    for _ in range(3):
        batch.add(line, len(line))
    assert len(sink.writes) == 1  # written at the third line, not held for the timer or 256 lines
    assert sink.writes[0].count(b"\n") == 2


def test_off_a_loop_a_line_is_written_at_once() -> None:
    sink = Sink()
    LineBatch(sink, join).add(b"alone", 5)
    assert sink.writes == [b"alone"]


def test_a_batch_renders_each_invocation_as_its_own_documented_line() -> None:
    """Property: random invocations (guest lines or none, errors, odd text, lone surrogates from
    guest bytes that are not UTF-8) rendered as one batch give one line each, with the documented
    keys in their order and the invocation's values: none is lost."""
    import json
    import random

    from edgehost.contracts import Invocation
    from edgehost.plugins.invocation_log import LEVELS, log_record, render
    from edgehost.runtime.types import LogLine

    rng = random.Random(19)
    text = [
        "",
        "hello",
        'q"uote',
        "back\\slash",
        "new\nline",
        "\x00\x1f",
        "\u2603 snow",
        "x" * 300,
        "not utf-8 \udcff",
    ]
    invocations = []
    for n in range(60):
        inv = Invocation(
            f"{n:016x}",
            "node-1",
            rng.choice(["GET", "POST"]),
            "h",
            rng.choice(text) or "/",
            start_timestamp=1000.0 + n,
            tenant=rng.choice(text),
            function_id=rng.choice(text),
        )
        inv.version, inv.status, inv.end_timestamp = (
            rng.randint(1, 9),
            rng.choice([200, 404, 500]),
            1000.5 + n,
        )
        if rng.random() < 0.3:
            inv.error_code, inv.error_message = "trap", rng.choice(text)
        if rng.random() < 0.4:
            inv.logs = [
                LogLine(rng.randint(0, 5), rng.choice(text), rng.choice(["stdout", "log"]))
                for _ in range(rng.randint(1, 3))
            ]
        invocations.append(inv)
    lines = render([log_record(inv) for inv in invocations]).split(b"\n")
    assert len(lines) == len(invocations)
    for inv, line in zip(invocations, lines, strict=True):
        want = {
            "event": "invocation",
            "request_id": inv.request_id,
            "function_id": inv.function_id,
            "version": inv.version,
            "project": inv.tenant,
            "node_id": inv.node_id,
            "method": inv.method,
            "path": inv.path,
            "status": inv.status,
            "start_timestamp": inv.start_timestamp,
            "end_timestamp": inv.end_timestamp,
            "duration_ms": 500.0,
            "execution_status": "ok" if inv.error_code is None else "error",
            "error_message": inv.error_message,
            "error_code": inv.error_code,
        }
        if inv.logs:
            want["logs"] = [
                {"level": LEVELS.get(g.level, g.level), "message": g.message, "source": g.source}
                for g in inv.logs
            ]
        assert list(json.loads(line).items()) == list(want.items())


async def test_what_waits_in_the_batch_is_untracked_by_the_garbage_collector() -> None:
    """A queued line must not keep its invocation alive for hundreds of requests: what waits is the
    record, which the collector does not track, so a full batch promotes nothing to the oldest
    generation (whose collections pause the runner for tens of milliseconds)."""
    import gc

    from edgehost.contracts import Invocation
    from edgehost.plugins import invocation_log
    from edgehost.runtime.types import LogLine

    sink = Sink()
    invocation_log.set_sink(sink)
    try:
        for logs in ([], [LogLine(1, "said", "log")]):
            inv = Invocation("0" * 16, "node-1", "GET", "h", "/", 1000.0, tenant="p", function_id="p.f")
            inv.end_timestamp, inv.logs = 1000.5, logs
            invocation_log.edgehost_invocation_finished(inv)
            queued = invocation_log._lines._items[-1]
            assert not gc.is_tracked(queued)
            assert not any(referent is inv for referent in gc.get_referents(queued))
        invocation_log.flush()
        assert len(sink.writes) == 1 and sink.writes[0].count(b'"event":"invocation"') == 2
    finally:
        invocation_log.set_sink(invocation_log._sink)
