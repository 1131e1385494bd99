"""Writing secret files so they are never readable by others, not even briefly."""

from __future__ import annotations

import os
from pathlib import Path

from edgehost.files import write_atomic


def write_secret(path: Path, data: bytes, *, replace: bool) -> None:
    """Create `path` with mode 0600; with `replace`, atomically swap out an existing file.

    Without `replace` an existing file raises FileExistsError, so a key is never clobbered.
    """
    if replace:
        write_atomic(path, data)  # its temporary file is created 0600 too
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
