"""Where a running `edgefn dev` leaves its token and API address, so commands run in its project
folder need neither `--token` nor `--api`.

`edgefn dev` keeps its state in `{project}/.edgefn` unless told `--state-dir`; it writes
`token` (a developer token) there at start, and `api` and `ingress` (the API's and the ingress's
base URLs, one line each) once it serves; it removes those two when it stops.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from edgehost.project import PROJECT_FILE

STATE_DIR_NAME = ".edgefn"
API_FILE = "api"
INGRESS_FILE = "ingress"
TOKEN_FILE = "token"


def find_state_dir(start: Path) -> Path | None:
    """The dev state folder of the project holding `start` (a folder or a file in it), or None.

    Looks in `start` and then its parents, stopping at the first folder that holds a project
    file, so a nested project never borrows its parent's dev server.
    """
    folder = start.resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        state_dir = candidate / STATE_DIR_NAME
        if state_dir.is_dir():
            return state_dir
        if (candidate / PROJECT_FILE).is_file():
            return None
    return None


def read_state(state_dir: Path, name: str) -> str | None:
    """One state file's content without surrounding space, or None if it is missing or empty."""
    try:
        return state_dir.joinpath(name).read_text().strip() or None
    except OSError:
        return None


def write_urls(state_dir: Path, api_url: str, ingress_url: str) -> None:
    (state_dir / INGRESS_FILE).write_text(ingress_url + "\n")
    (state_dir / API_FILE).write_text(api_url + "\n")


def remove_urls(state_dir: Path) -> None:
    for name in (API_FILE, INGRESS_FILE):
        with contextlib.suppress(OSError):
            (state_dir / name).unlink()
