"""Idle, silent, slow and stalled clients cannot lock others out of a real `edgefn dev` ingress.

Two servers: a patient one (long deadlines, few requests in flight) proves that hundreds of such
clients, far above the 128 connections the ingress used to serve and the requests it runs at once,
are held while a new client is answered; a strict one (short deadlines, few connections) proves they
are timed out, and what each one gets. No timing is asserted: deadlines only bound how long a test
waits for what must happen.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.procs import DevServer, dev_server, wait_until, write_project
from tests.rawconn import (
    WAIT_S,
    clients,
    closed_by_server,
    hello,
    never_reading,
    read_interim,
    read_response,
    request,
    send,
    still_open,
)
from tests.sandbox.conftest import (
    error_count,
    fetch_request,
    guest_files,
    hits,
    holding,
    log_record,
    project_toml,
    url_of,
)

FUNCTIONS = {
    "hello": ("hello.wat", ""),
    "echo": ("echo.wat", "memory_pages = 512"),  # 32 MiB: BIG_ANSWER in, and out
    # a guest that runs as long as the origin it fetches from holds its answer
    "wait": ("fetch.wat", 'http_allow = ["127.0.0.1"]\nmax_execution_ms = 60000'),
}
MANY = 300  # well above the 128 connections the ingress used to serve
IN_FLIGHT = 4  # the patient server's runner.max_requests_in_flight, far below MANY
BUFFERED = 2 << 20  # its runner.max_buffered_body_bytes: two of the bodies below, not three
PART = 900 << 10  # the part of a 1 MiB body those uploads send before they stall
STRICT = {
    "EDGEFN_RUNNER__HEADER_TIMEOUT_S": "1",
    # long enough for the 8 MiB uploads below to arrive on a busy machine
    "EDGEFN_RUNNER__BODY_TIMEOUT_S": "5",
    "EDGEFN_RUNNER__SEND_TIMEOUT_S": "1",
    "EDGEFN_RUNNER__MAX_CONNECTIONS": "8",
    # answers larger than a socket's kernel buffers (4 MiB here), so that a client that does not read
    # leaves most of one at the server
    "EDGEFN_RUNNER__MAX_BODY_BYTES": str(16 << 20),
}
BIG_ANSWER = 8 << 20


def _dev(tmp: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Iterator[DevServer]:
    root = tmp.mktemp(name)
    project = write_project(root / "sandbox", project_toml(FUNCTIONS), guest_files(FUNCTIONS))
    with dev_server(project, root / "logs", env) as dev:
        yield dev
    shutil.rmtree(project / ".edgefn", ignore_errors=True)


def port(dev: DevServer) -> int:
    return dev.ports["ingress"]


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    env = {
        "EDGEFN_RUNNER__HEADER_TIMEOUT_S": "600",
        "EDGEFN_RUNNER__BODY_TIMEOUT_S": "600",
        "EDGEFN_RUNNER__MAX_REQUESTS_IN_FLIGHT": str(IN_FLIGHT),
        "EDGEFN_RUNNER__MAX_BUFFERED_BODY_BYTES": str(BUFFERED),
    }
    yield from _dev(tmp_path_factory, "patient", env)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    yield from _dev(tmp_path_factory, "strict", STRICT)


# --- hundreds of held clients, and a new one is answered at once -----------------------------------


async def test_hundreds_of_idle_keep_alive_clients_do_not_lock_out_a_new_one(patient: DevServer) -> None:
    async with clients(port(patient), MANY, request("GET", "/hello"), answered=True) as idle:
        assert await hello(port(patient)) == 200
        assert still_open(idle)
        reader, writer = idle[0]  # and they are kept alive, not dropped
        writer.write(request("GET", "/hello"))
        assert (await read_response(reader))[0] == 200


async def test_hundreds_of_silent_connections_do_not_lock_out_a_new_one(patient: DevServer) -> None:
    async with clients(port(patient), MANY, b"") as silent:
        assert await hello(port(patient)) == 200
        assert still_open(silent)


async def test_hundreds_of_slow_header_senders_do_not_lock_out_a_new_one(patient: DevServer) -> None:
    async with clients(port(patient), MANY, b"GET /hello HTTP/1.1\r\nhos") as slow:
        assert await hello(port(patient)) == 200
        assert still_open(slow)
        for reader, writer in slow[:3]:  # held open, so the rest of their heads is still read
            writer.write(b"t: 127.0.0.1\r\n\r\n")
            assert (await read_response(reader))[0] == 200


async def test_hundreds_of_stalled_uploads_do_not_lock_out_a_new_one(patient: DevServer) -> None:
    """Far more stalled uploads than requests in flight: a request still sending its body is not in
    flight, so neither a new GET nor a new upload answers 503."""
    head = request("POST", "/echo", length=20, expect_continue=True) + b"first half"
    async with clients(port(patient), MANY, head) as stalled:
        for reader, _ in stalled:  # hyper says 100 Continue once the ingress waits for the body
            assert await read_interim(reader) == 100
        assert await hello(port(patient)) == 200
        reader, writer = await send(port(patient), request("POST", "/echo", b"a whole body"))
        status, _, body = await read_response(reader)
        writer.close()
        assert (status, body[-12:]) == (200, b"a whole body")
        for reader, writer in stalled[:3]:  # and the stalled ones are still served when they go on
            writer.write(b"second half")
            status, _, body = await read_response(reader)
            assert status == 200
            assert body.endswith(b"first halfsecond hal")  # echo.wat returns what it got


async def test_stalled_uploads_hold_at_most_max_buffered_body_bytes(patient: DevServer) -> None:
    """Three uploads stalled after 900 KiB each of a 1 MiB body would hold 2.7 MiB: the one whose
    bytes go past the 2 MiB bound answers 503 at once and is closed; the others, and requests
    without a body, are served."""
    head = request("POST", "/echo", length=1 << 20)
    async with clients(port(patient), 3, head + b"x" * PART) as stalled:
        answers = {asyncio.ensure_future(read_response(reader)): n for n, (reader, _) in enumerate(stalled)}
        done, pending = await asyncio.wait(answers, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        (first,) = done
        status, headers, body = first.result()
        assert (status, json.loads(body)["error"], headers["connection"]) == (503, "overloaded", "close")
        assert headers["retry-after"] == "1"
        assert await hello(port(patient)) == 200
        for answer in pending:  # the two that fit are read whole once they go on
            stalled[answers[answer]][1].write(b"y" * ((1 << 20) - PART))
            status, _, body = await answer
            assert (status, body[-4:]) == (200, b"yyyy")
    reader, writer = await send(port(patient), request("POST", "/echo", b"z" * (1 << 20)))
    assert (await read_response(reader))[0] == 200  # the budget went back
    writer.close()


async def test_past_the_requests_in_flight_limit_a_new_request_answers_503_at_once(
    patient: DevServer, upstream: ThreadingHTTPServer
) -> None:
    """Requests whose guests are running fill the slots; the next one is shed, not queued."""
    paths = [f"/hold-{n}" for n in range(IN_FLIGHT)]
    with holding(upstream):
        running = [
            await send(port(patient), request("POST", "/wait", fetch_request(url_of(upstream, p))))
            for p in paths
        ]
        wait_until(lambda: set(paths) <= set(hits(upstream)), what="every guest running")
        reader, writer = await send(port(patient), request("GET", "/hello"))
        status, headers, body = await read_response(reader)
        writer.close()
        assert status == 503
        assert headers["retry-after"] == "1"
        assert json.loads(body)["error"] == "overloaded"
    record = log_record(patient, headers["x-request-id"])
    assert (record["error_code"], record["status"]) == ("overloaded", 503)
    assert error_count(patient, "hello", "overloaded") >= 1
    for (reader, writer), path in zip(running, paths, strict=True):  # each one was answered, none dropped
        status, _, body = await read_response(reader)
        writer.close()
        assert (status, body) == (200, b"fetched " + path.encode())
    assert await hello(port(patient)) == 200


# --- and the strict deadlines end them --------------------------------------------------------------


async def test_an_idle_keep_alive_connection_is_closed_after_the_header_timeout(strict: DevServer) -> None:
    async with clients(port(strict), 1, request("GET", "/hello"), answered=True) as idle:
        assert await closed_by_server(idle[0][0])


async def test_a_silent_connection_is_closed_after_the_header_timeout(strict: DevServer) -> None:
    async with clients(port(strict), 1, b"") as silent:
        assert await closed_by_server(silent[0][0])


async def test_a_client_dripping_its_head_is_closed_after_the_header_timeout(strict: DevServer) -> None:
    """The deadline is for the whole head: a byte now and then does not extend it."""
    head = request("GET", "/hello")
    async with clients(port(strict), 1, head[:1]) as (conn, *_):
        reader, writer = conn

        async def drip() -> None:
            for byte in head[1:-2]:  # never the final CRLF
                await asyncio.sleep(0.1)
                writer.write(bytes([byte]))

        dripping = asyncio.create_task(drip())
        assert await closed_by_server(reader)
        dripping.cancel()


@pytest.mark.parametrize("drip", [False, True], ids=["stalled", "dripping"])
async def test_an_upload_not_complete_within_the_body_timeout_answers_408(
    strict: DevServer, drip: bool
) -> None:
    before = error_count(strict, "echo", "request_timeout")
    async with clients(port(strict), 1, request("POST", "/echo", b"x", length=1000)) as (conn, *_):
        reader, writer = conn

        async def more() -> None:
            while drip:
                await asyncio.sleep(0.1)
                writer.write(b"x")

        dripping = asyncio.create_task(more())
        status, headers, body = await read_response(reader)
        dripping.cancel()
        assert status == 408
        assert headers["connection"] == "close"  # RFC 9110 §15.5.9: the rest of the body may follow
        answer = json.loads(body)
        assert answer["error"] == "request_timeout"
        assert answer["request_id"] == headers["x-request-id"]
        assert await closed_by_server(reader)
    record = log_record(strict, headers["x-request-id"])
    assert (record["error_code"], record["status"]) == ("request_timeout", 408)
    assert error_count(strict, "echo", "request_timeout") == before + 1
    assert await hello(port(strict)) == 200


async def test_at_max_connections_a_new_client_is_served_once_idle_ones_time_out(strict: DevServer) -> None:
    """runner.max_connections is what granian holds; idle keep-alive time counts against it."""
    limit = int(STRICT["EDGEFN_RUNNER__MAX_CONNECTIONS"])
    async with clients(port(strict), limit, request("GET", "/hello"), answered=True) as idle:
        assert await hello(port(strict)) == 200
        assert not still_open(idle)  # it got in only when the header timeout closed an idle one


async def test_clients_that_never_read_their_answers_are_dropped_after_the_send_timeout(
    strict: DevServer,
) -> None:
    """A client that takes none of its answer holds its connection and the answer's bytes until
    runner.send_timeout_s drops it: with every connection held that way, a new client gets in."""
    limit = int(STRICT["EDGEFN_RUNNER__MAX_CONNECTIONS"])
    big = request("POST", "/echo", b"x" * BIG_ANSWER)  # echo.wat answers with what it got
    readers = [never_reading(port(strict), big) for _ in range(limit)]
    try:
        assert await hello(port(strict)) == 200  # only once one of them was dropped
        for sock in readers:  # each was held by its answer: the start of a 200 waits in its buffer
            start = sock.recv(200)
            assert start.startswith(b"HTTP/1.1 200"), start
    finally:
        for sock in readers:
            sock.close()
