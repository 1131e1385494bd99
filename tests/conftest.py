"""Shared fixtures.

Real services (PostgreSQL, Redis, SeaweedFS S3) are session-scoped and start only when a test asks for
them. A missing binary or a server that will not start fails the test with the reason: a skip would hide it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.components import ECHO_JS, ECHO_PY, js_component, python_component
from tests.services import PostgresServer, RedisServer, S3Server, Server, ServiceError

S = TypeVar("S", bound=Server)


def _serve(factory: Callable[[], S]) -> Iterator[S]:
    try:
        with factory() as server:
            yield server
    except ServiceError as exc:
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL: `.url` for the shared `edgefn` database, `.new_database()` for a private one."""
    yield from _serve(PostgresServer)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Redis at `.url`; `.stop()` and `.start()` let a test take it away and bring it back."""
    yield from _serve(RedisServer)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """SeaweedFS S3: `.endpoint` (host:port), `.access_key`, `.secret_key`, `.secure`, `.region`."""
    yield from _serve(S3Server)


@pytest.fixture(scope="session")
def echo_py_component() -> Path:
    """tests/guests/components/echo_py built into a wasi:http component (tests/components.py:
    once per session, cached across runs)."""
    return python_component(ECHO_PY)


@pytest.fixture(scope="session")
def echo_js_component() -> Path:
    """tests/guests/components/echo_js built into a wasi:http component with componentize-js."""
    return js_component(ECHO_JS)
