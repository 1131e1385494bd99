"""`ctx.services`: live objects found by their class, so a reader is typed and never handed a
look-alike object of another kind."""

from __future__ import annotations

from typing import Any

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


class Counted(type):
    """A kind that counts the isinstance checks made against it."""

    checks = 0

    def __instancecheck__(cls, instance: object) -> bool:
        Counted.checks += 1
        return type.__instancecheck__(cls, instance)


class Store(metaclass=Counted):
    pass


class SqlStore(Store):  # isinstance consults the metaclass only for instances of other classes
    pass


def test_a_kind_is_looked_up_once_until_services_change() -> None:
    """Per-request readers (the ingress mount, the KV host functions) call `get` on every request:
    the scan runs once per kind, and again only after an `add` (which may replace the service)."""
    services = Services()
    first = SqlStore()
    services.add(fleet=Fleet(), node=Node(), store=first)
    checks = Counted.checks
    assert services.get(Store) is first
    assert Counted.checks == checks + 3  # the scan: fleet, node, then the store
    checks = Counted.checks
    for _ in range(5):
        assert services.require(Store) is first
    assert Counted.checks == checks  # no scan: the kind's answer was kept
    second = SqlStore()
    services.add(store=second)  # replaced under the same name
    assert services.get(Store) is second


class Racing(type):
    """A kind whose first isinstance check replaces the service being looked up, as an `add` on
    another thread can while a lookup scans."""

    during: Any = None

    def __instancecheck__(cls, instance: object) -> bool:
        during, Racing.during = Racing.during, None
        if during is not None:
            during()
        return type.__instancecheck__(cls, instance)


class Replaced(metaclass=Racing):
    pass


class OneReplaced(Replaced):
    pass


def test_a_lookup_that_raced_an_add_keeps_no_stale_answer() -> None:
    services = Services()
    old, new = OneReplaced(), OneReplaced()
    services.add(store=old)
    Racing.during = lambda: services.add(store=new)
    services.get(Replaced)  # scanned while the service was replaced
    assert services.get(Replaced) is new
