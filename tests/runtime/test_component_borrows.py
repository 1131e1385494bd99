"""Every host function looks up every handle the guest passes it, on every path, so a dead or
foreign handle is a trap wherever it is passed. Before borrows were converted as they are read
(values._read_borrow), a function that ignored its `self` (a stream's subscribe) or returned early
(set-status-code with 700) also left the borrow live, and wasmtime trapped guests that did nothing
wrong ("borrow handles still remain"); test_component_instance covers that through a real guest.

Property-style: each provided function, called with arguments drawn from its parameter types
(fixed seed) and a state that records what it converts, must have converted each of its handles
by the time it returns or raises."""

from __future__ import annotations

import contextlib
import inspect
import random
from typing import Any
from unittest.mock import MagicMock

from edgehost.runtime.component import linking

DRAWS = 20
INTS = (0, 1, 99, 100, 101, 200, 599, 600, 700, 65536, 2**32 - 1, 2**64 - 1)


class Recording:
    """A ComponentState stand-in: what `get` and `take` were given; any object back."""

    max_bytes = 1 << 20
    fetched = 0
    context = 0
    response = None

    def __init__(self) -> None:
        self.converted: list[int] = []

    def get(self, handle: int, _cls: object) -> Any:
        self.converted.append(handle)
        return MagicMock()

    take = get

    def own(self, _value: object, kind: str, *, lasting: bool = False) -> tuple[str, str]:
        return ("own", kind)

    def invocation(self) -> Any:
        return MagicMock()


def _draw(annotation: str, rng: random.Random, handles: list[int]) -> Any:
    if annotation == "Handle":
        handles.append(1000 + len(handles))
        return handles[-1]
    if annotation == "list[Handle]":
        batch = [1000 + len(handles) + i for i in range(rng.randint(1, 3))]
        handles.extend(batch)
        return batch
    if annotation == "int":
        return rng.choice(INTS)
    if annotation == "str":
        return rng.choice(["", "x-a", "bad name", "a" * 300])
    if annotation == "bytes":
        return rng.choice([b"", b"v", b"bad\r\nvalue", b"x" * 70_000])
    return MagicMock()


def test_every_host_function_converts_every_handle_it_is_given() -> None:
    rng = random.Random(18)
    checked = 0
    for interface, handlers in linking.PROVIDED.items():
        for name, handler in handlers.items():
            params = list(inspect.signature(handler).parameters.values())[1:]
            for _ in range(DRAWS):
                handles: list[int] = []
                args = [_draw(str(param.annotation), rng, handles) for param in params]
                if not handles:
                    break
                state = Recording()
                with contextlib.suppress(Exception):  # a refusal is fine; an unconverted handle is not
                    handler(state, *args)
                assert sorted(state.converted) == handles, f"{interface}#{name}{tuple(args)!r:.200}"
                checked += 1
    assert checked > 40 * DRAWS // 2  # the provided functions with handles were all reached
