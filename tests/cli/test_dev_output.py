"""`edgefn dev` prints a readable line per invocation on a terminal and JSON lines otherwise.

The JSON line on a pipe is read by tools outside the project: its shape must not change.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.procs import dev_server, get, run_cli, wait_until, write_project

LOGGING_WAT = (Path(__file__).resolve().parent.parent / "guests" / "log.wat").read_text()
JSON_KEYS = [
    "event", "request_id", "function_id", "version", "project", "node_id", "method", "path", "status",
    "start_timestamp", "end_timestamp", "duration_ms", "execution_status", "error_message",
    "error_code", "logs",
]  # fmt: skip
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def project(tmp_path: Path) -> Path:
    assert run_cli("init", "proj", cwd=tmp_path).returncode == 0
    folder = tmp_path / "proj"
    write_project(folder, (folder / "edgefn.toml").read_text(), {"functions/talk/talk.wat": LOGGING_WAT})
    with (folder / "edgefn.toml").open("a") as toml:
        toml.write(
            '\n[[functions]]\nname = "talk"\nwasm = "functions/talk/talk.wat"\n'
            '[[routes]]\npath = "/talk"\nfunction = "talk"\n[[deployments]]\nfunction = "talk"\n'
        )
    return folder


def test_on_a_terminal_each_invocation_is_a_readable_coloured_line(tmp_path: Path) -> None:
    with dev_server(project(tmp_path), tmp_path / "logs", tty=True) as dev:
        assert get(f"{dev.ingress}/talk").status_code == 204
        assert get(f"{dev.ingress}/hello").status_code == 200
        shown = wait_until(lambda: "/hello" in dev.stdout and dev.stdout, what="two readable lines")
        assert "\x1b[" in shown  # coloured
        plain = ANSI.sub("", shown).replace("\r\n", "\n")
        talk = r"^\d\d:\d\d:\d\d 204 GET /talk  talk v1  [\d.]+ms\n  \[warn\] hi from guest$"
        assert re.search(talk, plain, re.M), plain
        assert re.search(r"^\d\d:\d\d:\d\d 200 GET /hello  hello v1  [\d.]+ms$", plain, re.M), plain
        assert "{" not in plain


def test_json_lines_on_a_pipe_and_with_log_format_json(tmp_path: Path) -> None:
    folder = project(tmp_path)
    for tty, extra in ((False, ()), (True, ("--log-format", "json"))):
        with dev_server(folder, tmp_path / f"logs-{tty}", tty=tty, extra=extra) as dev:
            assert get(f"{dev.ingress}/talk").status_code == 204
            line = wait_until(
                lambda: [x for x in dev.stdout.splitlines() if '"/talk"' in x], what="a JSON line"
            )
            record = json.loads(line[0])
            assert list(record) == JSON_KEYS
            assert record["logs"] == [{"level": "warn", "message": "hi from guest", "source": "log"}]
            assert record["status"] == 204 and record["function_id"] == "proj.talk"


def test_log_format_pretty_on_a_pipe(tmp_path: Path) -> None:
    with dev_server(project(tmp_path), tmp_path / "logs", extra=("--log-format", "pretty")) as dev:
        assert get(f"{dev.ingress}/hello").status_code == 200
        shown = wait_until(lambda: "/hello" in dev.stdout and dev.stdout, what="a readable line")
        assert re.search(r"^\d\d:\d\d:\d\d 200 GET /hello  hello v1  [\d.]+ms$", shown, re.M), shown
