"""`edgefn.http_fetch` rules against a local origin. fetch.wat answers 555 with the code's magnitude
as a one-byte body when the host refuses, and the fetched response as is otherwise."""

from __future__ import annotations

from http.server import ThreadingHTTPServer

import httpx

from tests.procs import DevServer
from tests.sandbox.conftest import fetch_request, hits, log_record, url_of


def fetch(dev: DevServer, function: str, url: str) -> httpx.Response:
    response = httpx.post(f"{dev.ingress}/{function}", content=fetch_request(url), timeout=30)
    assert httpx.get(f"{dev.ingress}/hello", timeout=10).status_code == 200
    return response


def refusal(response: httpx.Response) -> int:
    assert response.status_code == 555, response.text
    return -response.content[0]


def test_an_allow_listed_literal_address_is_fetched(
    sandbox: DevServer, upstream: ThreadingHTTPServer
) -> None:
    response = fetch(sandbox, "fetch", url_of(upstream, "/ok"))
    assert response.status_code == 200
    assert response.text == "fetched /ok"
    assert "/ok" in hits(upstream)


def test_a_host_not_on_the_allow_list_is_denied(sandbox: DevServer) -> None:
    response = fetch(sandbox, "fetch", "http://example.com/")
    assert refusal(response) == -1
    logs = log_record(sandbox, response.headers["x-request-id"])["logs"]
    assert "not on the allow-list" in logs[0]["message"]


def test_a_name_resolving_to_loopback_is_denied_unless_the_address_is_listed(
    sandbox: DevServer, upstream: ThreadingHTTPServer
) -> None:
    response = fetch(sandbox, "fetch-by-name", url_of(upstream, "/by-name", host="localhost"))
    assert refusal(response) == -1
    assert "/by-name" not in hits(upstream)
    assert (
        "which the runner refuses"
        in log_record(sandbox, response.headers["x-request-id"])["logs"][0]["message"]
    )


def test_a_fetch_past_the_deadline_answers_minus_four(
    sandbox: DevServer, upstream: ThreadingHTTPServer
) -> None:
    assert refusal(fetch(sandbox, "fetch", url_of(upstream, "/slow"))) == -4


def test_a_response_over_the_size_limit_answers_minus_five(
    sandbox: DevServer, upstream: ThreadingHTTPServer
) -> None:
    assert refusal(fetch(sandbox, "fetch", url_of(upstream, "/big"))) == -5


def test_no_redirect_is_followed_to_a_refused_address(
    sandbox: DevServer, upstream: ThreadingHTTPServer
) -> None:
    response = fetch(sandbox, "fetch", url_of(upstream, "/redirect"))
    assert response.status_code == 302  # the guest sees the redirect itself
    assert response.headers["location"].endswith("/target")
    assert "/target" not in hits(upstream)
