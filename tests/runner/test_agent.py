"""The sync agent against a scripted CP client (unit level): reconnect backoff on an injected clock,
persisted desired state, and usage that survives a failed heartbeat."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from edgehost.protocol import DesiredState, Heartbeat, HeartbeatReply
from edgehost.runner.agent import SyncAgent, load_desired, save_desired


class ScriptedCP:
    """Fails `failures` heartbeats, then answers with `desired`."""

    def __init__(self, failures: int, desired: DesiredState) -> None:
        self.failures = failures
        self.desired = desired
        self.beats: list[Heartbeat] = []

    async def heartbeat(self, beat: Heartbeat) -> HeartbeatReply:
        self.beats.append(beat)
        if len(self.beats) <= self.failures:
            raise ConnectionError("refused")
        return HeartbeatReply(desired=self.desired, heartbeat_interval_s=7.0)


class Stop(Exception):
    pass


def make_agent(
    tmp_path: Path, cp: Any, applied: list[DesiredState], sleeps: list[float], **kw: Any
) -> SyncAgent:
    async def apply(desired: DesiredState) -> None:
        applied.append(desired)

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)  # lets the agent's other loops run, as a real sleep would
        sleeps.append(seconds)
        if len(sleeps) >= kw.pop("stop_after", 4):
            raise Stop

    return SyncAgent(
        cp,
        node_id="n1",
        labels={"region": "tokyo"},
        state_dir=tmp_path,
        interval_s=30.0,
        watch=kw.pop("watch", True),
        apply=apply,
        inventory=lambda: (),
        drain_usage=kw.pop("drain_usage", dict),
        sleep=sleep,
        rng=random.Random(1),
    )


def test_unreachable_cp_is_retried_with_backoff_then_the_reply_interval_is_used(tmp_path: Path) -> None:
    desired = DesiredState(revision=3)
    cp = ScriptedCP(failures=3, desired=desired)
    applied: list[DesiredState] = []
    sleeps: list[float] = []
    agent = make_agent(tmp_path, cp, applied, sleeps)
    with pytest.raises(Stop):
        asyncio.run(agent.heartbeat_forever())
    assert [round(s) for s in sleeps[:3]] == [1, 2, 4]
    assert sleeps[3] == 7.0  # connected: the CP's heartbeat interval
    assert applied == [desired]
    assert agent.connected.is_set()
    assert load_desired(tmp_path) == desired  # persisted for a restart during an outage


def test_usage_of_failed_heartbeats_is_sent_with_the_next(tmp_path: Path) -> None:
    cp = ScriptedCP(failures=1, desired=DesiredState(revision=1))
    drains = iter([{"t": 1.0}, {"t": 0.5}])
    agent = make_agent(tmp_path, cp, [], [], drain_usage=lambda: next(drains, {}), stop_after=2)
    with pytest.raises(Stop):
        asyncio.run(agent.heartbeat_forever())
    assert cp.beats[0].cpu_usage == {"t": 1.0}
    assert cp.beats[1].cpu_usage == {"t": 1.5}


def test_restore_applies_the_persisted_state_before_the_cp_answers(tmp_path: Path) -> None:
    desired = DesiredState(revision=9, blocked_tenants=("x",))
    save_desired(tmp_path, desired)
    applied: list[DesiredState] = []
    agent = make_agent(tmp_path, ScriptedCP(0, desired), applied, [])
    asyncio.run(agent.restore())
    assert applied == [desired]
    assert agent.revision == 9
    (tmp_path / "desired.json").write_text("{torn")
    assert load_desired(tmp_path) is None


class WatchedCP(ScriptedCP):
    """Also counts watch long-polls, each answered at once with "no change"."""

    def __init__(self) -> None:
        super().__init__(failures=0, desired=DesiredState(revision=1))
        self.watches = 0

    async def watch(self, revision: int) -> None:
        self.watches += 1
        await asyncio.sleep(0)


@pytest.mark.parametrize("watch", [True, False])
def test_heartbeat_watch_false_leaves_the_long_poll_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watch: bool
) -> None:
    async def no_tail(_cp: object, **_: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr("edgehost.runner.agent.forward_tail", no_tail)
    cp = WatchedCP()
    agent = make_agent(tmp_path, cp, [], [], watch=watch, stop_after=3)
    with pytest.raises(Stop):
        asyncio.run(agent.run())
    assert cp.beats
    assert (cp.watches > 0) is watch


class WatchingCP(ScriptedCP):
    """Answers heartbeats with `desired` and every watch with the next of `watched`."""

    def __init__(self, desired: DesiredState, watched: list[DesiredState]) -> None:
        super().__init__(0, desired)
        self.watched = watched

    async def watch(self, revision: int) -> DesiredState | None:
        # A real long-poll waits on the network; one that never yields would starve the heartbeat.
        await asyncio.sleep(0)
        if self.watched:
            self.desired = self.watched.pop(0)  # heartbeats answer the newest revision too
        return self.desired


def test_an_apply_that_fails_stops_neither_heartbeats_nor_the_watch(tmp_path: Path) -> None:
    """A desired state the node cannot apply is logged and retried; the loops go on and the next
    revision is applied."""
    broken, fixed = DesiredState(revision=2), DesiredState(revision=3)
    cp = WatchingCP(broken, [broken, fixed])
    attempts: list[int] = []
    sleeps: list[float] = []

    async def apply(desired: DesiredState) -> None:
        attempts.append(desired.revision)
        if desired.revision == 2:
            raise RuntimeError("a bug in applying")

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)
        sleeps.append(seconds)
        if len(sleeps) >= 6:
            raise Stop

    agent = SyncAgent(
        cp,
        node_id="n1",
        labels={},
        state_dir=tmp_path,
        interval_s=30.0,
        apply=apply,
        inventory=lambda: (),
        drain_usage=dict,
        sleep=sleep,
        rng=random.Random(1),
    )

    async def main() -> None:
        await asyncio.gather(agent.heartbeat_forever(), agent.watch_forever())

    with pytest.raises(Stop):
        asyncio.run(main())
    assert attempts[:2] == [2, 2] and attempts[-1] == 3  # retried, then the watch's next revision
    assert agent.revision == 3
    assert agent.connected.is_set()  # the heartbeat never counted the failure as the CP's
    assert load_desired(tmp_path) == fixed
