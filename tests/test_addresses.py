"""What a runner advertises when `runner.public_url` / `runner.metrics_url` are left empty."""

from __future__ import annotations

import socket

import pytest

from edgehost.addresses import advertised
from edgehost.settings import load_settings
from edgehost.startup import advertised_urls


def test_a_set_url_is_reported_as_is() -> None:
    assert (
        advertised("https://edge-1.example.com", "0.0.0.0", 8080, "https://cp:8788")
        == "https://edge-1.example.com"
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("10.1.2.3", "http://10.1.2.3:8080"),
        ("::1", "http://[::1]:8080"),
    ],
)
def test_the_default_is_what_the_runner_binds(host: str, expected: str) -> None:
    assert advertised("", host, 8080, "https://cp.internal:8788") == expected


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", ""])
def test_a_wildcard_bind_reports_the_address_towards_the_control_plane(wildcard: str) -> None:
    assert advertised("", wildcard, 8080, "https://127.0.0.1:8788") == "http://127.0.0.1:8080"


def test_a_control_plane_that_does_not_resolve_leaves_the_host_name(caplog: pytest.LogCaptureFixture) -> None:
    url = advertised("", "0.0.0.0", 8080, "https://cp.invalid:8788")
    assert url == f"http://{socket.gethostname()}:8080"
    assert "cannot find the address towards https://cp.invalid:8788" in caplog.text


def test_the_runner_reports_both_listeners() -> None:
    settings = load_settings(
        "runner",
        overrides={"runner.host": "127.0.0.1", "runner.ingress_port": 18080, "runner.metrics_port": 19090},
    )
    assert advertised_urls(settings.runner, "https://127.0.0.1:8788") == (
        "http://127.0.0.1:18080",
        "http://127.0.0.1:19090",
    )
    overridden = load_settings("runner", overrides={"runner.metrics_url": "https://metrics.edge-1.example"})
    assert advertised_urls(overridden.runner, "https://127.0.0.1:8788")[1] == "https://metrics.edge-1.example"
