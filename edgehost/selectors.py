"""POP selectors: CEL expressions over a node's labels, e.g. ``region == 'tokyo'``.

Evaluated by the maintained ``common-expression-language`` package (Rust core), never ``eval``.
Each label is a variable of its own; the whole set is also ``labels`` (a map), for keys that are
not CEL identifiers (``labels['topology/zone'] == 'a'``) and presence tests (``'gpu' in labels``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import cel

__all__ = ["Selector", "SelectorError", "compile_selector"]

# The library reports parse errors as "ERROR: <input>:LINE:COL: Syntax error: WHAT\n| source...".
_PARSE_ERROR = re.compile(r"<input>:(\d+):(\d+): (?:Syntax error: )?([^\n]*)")


class SelectorError(ValueError):
    """A selector that does not parse; the message names the problem and its position."""


class Selector:
    """A compiled selector: parsed once, then cheap to evaluate against many nodes."""

    __slots__ = ("_program", "_wants_map", "expr")

    def __init__(self, expr: str, program: cel.Program) -> None:
        self.expr = expr
        self._program = program
        # Building the ``labels`` map costs ~10 µs per call; pay it only when the expression uses it.
        self._wants_map = "labels" in program.variables()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True only if the expression evaluates to the boolean true for these labels.

        A label the node lacks makes CEL raise (undefined variable / missing key); that node simply
        does not match, and neither does a non-boolean result.
        """
        variables: dict[str, object] = dict(labels)
        if self._wants_map:
            variables["labels"] = dict(labels)
        try:
            result = self._program.execute(variables)
        except Exception:  # the library maps CEL runtime errors onto several builtin types
            return False
        return result is True

    def __repr__(self) -> str:
        return f"Selector({self.expr!r})"


def compile_selector(expr: str) -> Selector:
    """Parse ``expr`` once; raise SelectorError on an empty or malformed expression."""
    if not expr.strip():
        raise SelectorError('selector is empty (use "true" to select every node)')
    try:
        program = cel.compile(expr)
    except Exception as exc:  # a ValueError today; the message format is what we rely on
        raise SelectorError(_describe(expr, str(exc))) from None
    return Selector(expr, program)


def _describe(expr: str, message: str) -> str:
    """Condense the library's multi-line report to its first error with line and column."""
    found = _PARSE_ERROR.search(message)
    if found is None:
        return f"selector {expr!r} does not parse: {message.strip()}"
    line, column, what = found.groups()
    return f"selector {expr!r} does not parse at line {line}, column {column}: {what}"
