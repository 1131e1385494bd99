"""Replacing a file atomically: a reader sees the old content or the new, never a torn file.

The one way files are written in place across the project (state files, artifacts, caches, keys,
the relays between a runner's processes). The new content goes to a temporary file in the same
folder (or `tmp_dir`, which must be on the same filesystem), created with mode 0600 by `mkstemp`,
and `os.replace` swaps it in (POSIX `rename(2)`: atomic for other processes and across a crash
of this one).

Durability, chosen per call:

- `durable=True` (the default): the file's data is `fsync`ed before the rename and the folder
  after it, so once the call returns the new content survives a power loss or kernel crash too
  (without the file fsync a crash may leave the new name with empty content on ext4/xfs; without
  the folder fsync, the old content).
- `durable=False`: atomic, not durable; a power loss may bring back the old content. For files
  that are cheap to lose and written often: the relays under `runner.state_dir` that a runner's
  start-up empties anyway, and caches whose entries are checked before use and rebuilt.

With `exclusive`, an existing file is never replaced: the temporary file is hard-linked to the
name (POSIX `link(2)` fails with EEXIST), so a key or secret appears complete or not at all and
two processes creating it at once agree on one (`read_or_create`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Makes the folder's entries (names created, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(
    path: Path,
    *,
    durable: bool = True,
    exclusive: bool = False,
    tmp_dir: Path | None = None,
    suffix: str = "",
) -> Iterator[Path]:
    """A temporary file for the caller to fill (e.g. a compiler's output); on a normal exit it
    replaces `path` (with `exclusive`, becomes it), on an exception it is removed and `path` is
    untouched.

    Creates `path`'s folder if missing. Raises FileExistsError with `exclusive` when `path`
    exists, OSError from the filesystem.
    """
    folder = tmp_dir or path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        path.parent.mkdir(parents=True, exist_ok=True)
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(
    path: Path, data: bytes, *, durable: bool = True, exclusive: bool = False, tmp_dir: Path | None = None
) -> None:
    """Replaces `path`'s content with `data`, or with `exclusive` creates it (module docstring:
    atomicity, durability, mode 0600).

    Raises FileExistsError (`exclusive`) or OSError from the filesystem; `path` is then untouched
    and no temporary file remains.
    """
    with atomic_path(path, durable=durable, exclusive=exclusive, tmp_dir=tmp_dir) as tmp:
        tmp.write_bytes(data)


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of `path`; when it does not exist, `make()`'s, written there first (exclusive,
    durable, mode 0600). When another process creates it meanwhile, its bytes win and are returned,
    so every process uses the same key or secret."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = make()
    try:
        write_atomic(path, data, exclusive=True)
    except FileExistsError:
        return path.read_bytes()
    return data
