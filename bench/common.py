"""Shared helpers: the results table, medians, machine facts and the load average printed beside every figure.

Absolute numbers on a shared 2-core box are noise; only ratios against a baseline measured in the
same session mean anything, so every row carries its baseline and the load average at the time.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
EDGEFN = str(VENV_BIN / "edgefn")
# What the bench installs or builds once and keeps between runs (node certificates, workerd).
CACHE = Path(os.environ.get("EDGEFN_BENCH_CACHE", Path(tempfile.gettempdir()) / "edgefn-bench-cache"))
if str(REPO) not in sys.path:  # tests/procs.py and tests/services.py are reused, not copied
    sys.path.insert(0, str(REPO))


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    return (
        f"{os.cpu_count()} cores, {cpu}, {mem_kb / 1024 / 1024:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )


@dataclass
class Row:
    """One line of the final table: a measured value beside its same-session baseline."""

    bench: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    goal: str = ""
    met: bool | None = None
    load: str = field(default_factory=loadavg)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "n/a"
    if value == int(value) and abs(value) < 1e6:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def table(rows: list[Row]) -> str:
    header = ("bench", "metric", "value", "baseline", "ratio", "goal", "met", "load 1/5/15", "note")
    lines = [header]
    for r in rows:
        base = f"{fmt(r.baseline)} ({r.baseline_label})" if r.baseline is not None else "-"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(
            (r.bench, r.metric, f"{fmt(r.value)} {r.unit}", base, ratio, r.goal, met, r.load, r.note)
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def say(message: str) -> None:
    """Progress on stderr, so the table on stdout stays clean."""
    print(f"[bench {dt.datetime.now():%H:%M:%S} load {loadavg()}] {message}", file=sys.stderr, flush=True)
