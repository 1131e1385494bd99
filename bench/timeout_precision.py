"""Timeout precision through a real runner: answer time of a runaway guest against its max_execution_ms.

Goal: a 504 answers within ~10 ms of the limit. The baseline is a hello request on the same
runner in the same session, so HTTP and framework overhead can be told apart from overshoot.
Run: .venv/bin/python -m bench.timeout_precision
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.procs import dev_server, write_project  # noqa: E402

LIMITS_MS = (20, 50, 200)
REQUESTS = 15


def project(root: Path) -> Path:
    toml = ['project = "precision"\n']
    files = {"hello.wat": (REPO / "functions/hello/hello.wat").read_text()}
    files["loop.wat"] = (REPO / "tests/guests/loop.wat").read_text()
    for name, wasm, ms in [("hello", "hello.wat", 50), *((f"loop{ms}", "loop.wat", ms) for ms in LIMITS_MS)]:
        toml.append(f'[[functions]]\nname = "{name}"\nwasm = "{wasm}"\nmax_execution_ms = {ms}\n')
        toml.append(
            f'[[routes]]\npath = "/{name}"\nfunction = "{name}"\n[[deployments]]\nfunction = "{name}"\n'
        )
    return write_project(root / "precision", "\n".join(toml), files)


def timed(client: httpx.Client, url: str, status: int) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == status, response.text
    return elapsed


def main() -> None:
    root = Path(tempfile.mkdtemp())
    with dev_server(project(root), root / "logs") as dev, httpx.Client(timeout=30) as client:
        hello = [timed(client, f"{dev.ingress}/hello", 200) for _ in range(REQUESTS * 3)]
        base = statistics.median(hello)
        print(f"\nbaseline: hello through the runner, median {base:.2f} ms (n={len(hello)})")
        print(f"  {'max_execution_ms':>16} {'median answer':>14} {'overshoot med':>14} {'overshoot max':>14}")
        for ms in LIMITS_MS:
            answers = [timed(client, f"{dev.ingress}/loop{ms}", 504) for _ in range(REQUESTS)]
            over = [a - ms for a in answers]
            print(
                f"  {ms:>16} {statistics.median(answers):>11.1f} ms {statistics.median(over):>+11.1f} ms"
                f" {max(over):>+11.1f} ms   (x{statistics.median(answers) / ms:.2f} of the limit)"
            )
        print("  (overshoot includes the baseline request cost above)")


if __name__ == "__main__":
    main()
