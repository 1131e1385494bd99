"""The CP's tail hub keeps each stream's backlog bounded in bytes, whatever the records carry."""

from __future__ import annotations

import msgspec

from edgehost.controlplane.tail import Backlog, TailHub


async def test_a_slow_stream_holds_at_most_its_byte_budget_and_loses_the_newest_lines() -> None:
    hub = TailHub()
    with hub.subscribe("p") as backlog:
        backlog.max_bytes = 50_000
        # A record with a full guest log is ~64 KiB; a thousand of them must not queue 64 MB.
        hub.publish(
            [{"project": "p", "function_id": "p.f", "n": n, "logs": "x" * 20_000} for n in range(1000)]
        )
        hub.publish([{"project": "other", "n": -1}])
        assert backlog.size <= 50_000
        got = []
        while (item := await backlog.get(0.01)) is not None:
            got.append(msgspec.json.decode(item[1])["n"])
        assert got == [0, 1]  # the oldest arrive, the newest are the ones lost
        assert backlog.size == 0


async def test_get_waits_for_a_line_and_gives_none_after_the_timeout() -> None:
    backlog = Backlog(max_bytes=100)
    assert await backlog.get(0.01) is None
    backlog.put("p.f", b"{}\n")
    assert await backlog.get(0.01) == ("p.f", b"{}\n")
