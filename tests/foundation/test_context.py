"""`ctx.services`: live objects found by their class, so a reader is typed and never handed a
look-alike object of another kind."""

from __future__ import annotations

import pytest

from edgehost.context import Services


class Fleet:
    pass


class Node:
    pass


class SpecialNode(Node):
    pass


def test_a_service_is_found_by_its_class_and_only_by_it() -> None:
    services = Services()
    fleet, node = Fleet(), SpecialNode()
    services.add(nodes=fleet, node=node)
    assert services.get(Fleet) is fleet
    assert services.get(Node) is node  # a subclass is still that kind of service
    assert services.get(int) is None
    assert services.named() == {"nodes": fleet, "node": node}  # the names Litestar's app.state uses


def test_require_names_the_missing_class() -> None:
    with pytest.raises(LookupError, match="no Fleet service in this process"):
        Services().require(Fleet)


def test_setdefault_makes_the_service_once() -> None:
    services = Services()
    made: list[Fleet] = []

    def make() -> Fleet:
        made.append(Fleet())
        return made[-1]

    first = services.setdefault("fleet", Fleet, make)
    assert services.setdefault("fleet", Fleet, make) is first
    assert made == [first] and services.named() == {"fleet": first}
