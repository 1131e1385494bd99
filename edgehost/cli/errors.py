"""The CLI's one error type: a sentence and the exit status docs/cli.md documents."""

from __future__ import annotations

USAGE = 2  # a bad project file, setting or argument
REFUSED = 1  # the control plane said no, or could not be reached


class CliError(Exception):
    def __init__(self, message: str, status: int = REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
