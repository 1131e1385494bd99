"""Writing secret files so they are never readable by others, not even briefly."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, data: bytes, *, replace: bool) -> None:
    """Create `path` with mode 0600; with `replace`, atomically swap out an existing file.

    Without `replace` an existing file raises FileExistsError, so a key is never clobbered.
    """
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if replace else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    if replace:
        os.replace(target, path)
