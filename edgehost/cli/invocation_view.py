"""An invocation log record (the JSON line `plugins/invocation_log.py` writes) as one readable,
coloured line for a person watching `edgefn dev` or `edgefn tail` on a terminal.

    15:04:05 200 GET /hello  hello v3  0.41ms
      [info] parsed 3 items

Guest log lines follow, indented, at most GUEST_LINES of them; a failure shows its error code
and message in red.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

from rich.console import Console
from rich.text import Text

GUEST_LINES = 3
_LEVEL_STYLE = {"debug": "dim", "info": "", "warn": "yellow", "error": "red"}


def _status_style(status: int) -> str:
    return "green" if status < 300 else "cyan" if status < 400 else "yellow" if status < 500 else "bold red"


def render(record: dict[str, Any]) -> Text:
    """The record as rich Text: time, status, method, path, function, version, duration, then
    the error (if any) and the first guest log lines."""
    status = int(record.get("status") or 0)
    started = record.get("start_timestamp")
    clock = time.strftime("%H:%M:%S", time.localtime(started)) if started else "--:--:--"
    function = str(record.get("function_id", "")).split(".", 1)[-1]
    text = Text.assemble(
        (clock, "dim"),
        " ",
        (str(status or "?"), _status_style(status)),
        f" {record.get('method', '')} ",
        (str(record.get("path", "")), "bold"),
        "  ",
        (function, "magenta"),
        (f" v{record.get('version', '?')}", "dim"),
        f"  {record.get('duration_ms', 0)}ms",
    )
    if record.get("error_code"):
        text.append(f"  {record['error_code']}: {record.get('error_message') or ''}", "red")
    logs = record.get("logs") or []
    for entry in logs[:GUEST_LINES]:
        level = str(entry.get("level", ""))
        text.append(f"\n  [{level}] ", _LEVEL_STYLE.get(level, ""))
        text.append(str(entry.get("message", "")).rstrip("\n"))
    if len(logs) > GUEST_LINES:
        text.append(f"\n  ... {len(logs) - GUEST_LINES} more log lines", "dim")
    return text


class PrettySink:
    """A sink for the invocation log (its `msg(bytes)` gets one or more JSON lines joined by
    newlines) that prints each as `render` does; a line that is not a record is printed as is."""

    def __init__(self, file: IO[str]) -> None:
        self.console = Console(file=file, highlight=False, soft_wrap=True)

    def msg(self, message: bytes) -> None:
        for line in message.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                self.console.out(line.decode(errors="replace"), highlight=False)
                continue
            self.console.print(render(record))
