"""Invocation log lines are written in batches on a loop (bounded in delay and size), at once off it."""

from __future__ import annotations

import asyncio

from edgehost.plugins.invocation_log import LineBatch


class Sink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def msg(self, message: bytes) -> None:
        self.writes.append(message)


async def test_lines_of_a_burst_go_out_in_one_write_soon_after() -> None:
    sink = Sink()
    batch = LineBatch(sink)  # type: ignore[arg-type]
    for n in range(3):
        batch.add(b'{"n":%d}' % n)
    assert sink.writes == []
    await asyncio.sleep(LineBatch.FLUSH_S * 5)
    assert sink.writes == [b'{"n":0}\n{"n":1}\n{"n":2}']


async def test_a_long_burst_is_written_before_the_timer_fires() -> None:
    sink = Sink()
    batch = LineBatch(sink)  # type: ignore[arg-type]
    for _ in range(LineBatch.MAX_LINES):
        batch.add(b"x")
    assert len(sink.writes) == 1 and sink.writes[0].count(b"\n") == LineBatch.MAX_LINES - 1


async def test_large_lines_are_written_once_max_bytes_wait() -> None:
    sink = Sink()
    batch = LineBatch(sink)  # type: ignore[arg-type]
    line = b"x" * (LineBatch.MAX_BYTES // 3 + 1)  # a record with a full guest log, escaped
    for _ in range(3):
        batch.add(line)
    assert len(sink.writes) == 1  # written at the third line, not held for the timer or 256 lines
    assert sink.writes[0].count(b"\n") == 2


def test_off_a_loop_a_line_is_written_at_once() -> None:
    sink = Sink()
    LineBatch(sink).add(b"alone")  # type: ignore[arg-type]
    assert sink.writes == [b"alone"]
