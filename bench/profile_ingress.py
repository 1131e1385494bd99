"""Profiles the ingress of a live `edgefn dev` under wrk load with py-spy and prints the top costs.

py-spy samples the real server process (GIL holder, event loop and guest threads), so what it shows
is the per-request path as deployed, including granian's Python side and the plugins' hooks.

Run: .venv/bin/python -m bench.profile_ingress [--seconds 10] [--raw OUT]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import servers
from bench.common import VENV_BIN, loadavg, say
from bench.loadgen import load


def py_spy() -> str | None:
    found = VENV_BIN / "py-spy"
    if found.exists():
        return str(found)
    return shutil.which("py-spy")


def aggregate(raw: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Total samples, and per frame the samples that include it (inclusive) or end in it (self)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    return total, inclusive, own


# A sample is charged to the outermost feature on its stack (so a Timer thread started by `limits` under
# the quotas plugin counts for quotas); samples under no feature go to the innermost framework part.
FEATURES = (
    ("quotas (plugins/quotas.py + limits)", ("plugins/quotas.py", "limits/")),
    ("invocation log (structlog)", ("plugins/invocation_log.py", "structlog/")),
    ("metrics (prometheus_client)", ("plugins/metrics.py", "prometheus_client/")),
    ("guest call (edgehost/runtime, wasmtime)", ("edgehost/runtime/", "wasmtime/")),
    ("routing (plugins/routing.py)", ("plugins/routing.py",)),
)
FRAMEWORK = (
    ("pluggy hook dispatch", ("pluggy/",)),
    ("ingress own code (edgehost/runner)", ("edgehost/runner/",)),
    ("litestar", ("litestar/",)),
    ("granian (python side)", ("granian/",)),
    ("threads / futures", ("threading.py", "concurrent/futures")),
    ("asyncio loop", ("asyncio/", "selectors.py")),
)


def _first(frames: list[str], groups: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    for frame in frames:
        for name, needles in groups:
            if any(n in frame for n in needles):
                return name
    return None


def by_component(raw: str) -> list[tuple[str, float]]:
    shares: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        total += int(count_text)
        frames = stack.split(";")
        name = _first(frames, FEATURES) or _first(list(reversed(frames)), FRAMEWORK) or "other"
        shares[name] += int(count_text)
    return [(name, n / total * 100) for name, n in shares.most_common()] if total else []


def report(raw: str, top: int = 25) -> str:
    total, inclusive, own = aggregate(raw)
    lines = [f"{total} samples (all threads)", "", "component %"]
    lines += [f"{share:6.1f}% | {name}" for name, share in by_component(raw)]
    lines += ["", "inclusive % | frame"]
    lines += [f"{n / total * 100:10.1f}% | {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self % | frame"]
    lines += [f"{n / total * 100:6.1f}% | {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def profile(seconds: float, rate: int, out: Path) -> str:
    spy = py_spy()
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="edgefn-bench-prof-") as tmp:
        root = Path(tmp)
        project = servers.copy_example(root / "project")
        with servers.dev(project, root / "logs") as dev:
            url = f"{dev.ingress}/hello"
            load(url, 2.0)
            result: dict[str, object] = {}
            loader = threading.Thread(target=lambda: result.update(r=load(url, seconds + 3)))
            loader.start()
            time.sleep(1.0)
            cmd = [spy, "record", "-p", str(dev.proc.pid), "-d", f"{seconds:g}", "-r", str(rate)]
            cmd += ["-f", "raw", "-o", str(out), "--gil"]
            spy_run = subprocess.run(cmd, capture_output=True, text=True)
            loader.join()
            if spy_run.returncode != 0:
                raise SystemExit(f"py-spy failed (needs ptrace rights):\n{spy_run.stderr[-2000:]}")
            say(f"load during profile: {result.get('r')}")
    return out.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, default=Path(tempfile.gettempdir()) / "edgefn-ingress.raw")
    parser.add_argument("--from-raw", type=Path, default=None, help="only summarise an existing raw file")
    args = parser.parse_args()
    raw = args.from_raw.read_text() if args.from_raw else profile(args.seconds, args.rate, args.raw)
    print(f"load average {loadavg()}")
    print(report(raw))
    if not args.from_raw:
        print(f"\nraw stacks: {args.raw}", file=sys.stderr)


if __name__ == "__main__":
    main()
