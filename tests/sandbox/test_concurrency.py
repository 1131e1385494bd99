"""The runner keeps answering while ten runaway guests burn their budget (order-based, no timing)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import httpx

from tests.procs import DevServer, wait_until
from tests.sandbox.conftest import fetch_request, hits, url_of

RUNAWAYS = 10


def test_hello_answers_while_ten_runaways_run(sandbox: DevServer, upstream: ThreadingHTTPServer) -> None:
    finished: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def runaway(index: int) -> None:
        # fetch_then_spin.wat fetches /running-N first, so the origin sees it start, then spins for 2 s.
        body = fetch_request(url_of(upstream, f"/running-{index}"))
        response = httpx.post(f"{sandbox.ingress}/runaway", content=body, timeout=30)
        with lock:
            finished.append(f"runaway-{index}")
            statuses.append(response.status_code)

    threads = [threading.Thread(target=runaway, args=(i,)) for i in range(RUNAWAYS)]
    for thread in threads:
        thread.start()
    try:
        wait_until(
            lambda: all(f"/running-{i}" in hits(upstream) for i in range(RUNAWAYS)),
            what="all ten runaways running guest code",
        )
        with lock:
            assert finished == []  # all ten are still inside their 2000 ms budget
        assert httpx.get(f"{sandbox.ingress}/hello", timeout=30).status_code == 200
        with lock:
            finished.append("hello")
    finally:
        for thread in threads:
            thread.join(30)
    assert finished[0] == "hello"
    assert statuses == [504] * RUNAWAYS
