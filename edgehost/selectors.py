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
    """Condense the library's multi-line report to its first error, with line and column, as a sentence."""
    found = _PARSE_ERROR.search(message)
    if found is None:
        return f"selector {expr!r} does not parse: {message.strip()}"
    line, column, what = found.groups()
    return f"selector {expr!r} does not parse at line {line}, column {column}: {_sentence(what)}"


# The parser (ANTLR) words its errors in grammar tokens: "mismatched input '<EOF>' expecting {'[',
# ..., IDENTIFIER}". These patterns turn the kinds it produces into what a person reads.
_UNEXPECTED = re.compile(r"(?:mismatched|extraneous) input '(.*)' expecting (.*)$")
_MISSING = re.compile(r"missing '(.*)' at '(.*)'$")
_NO_ALTERNATIVE = re.compile(r"no viable alternative at input '(.*)'$")
_BAD_CHARACTER = re.compile(r"token recognition error at: '(.*)'$")
_WORDS = {"and": "&&", "or": "||", "not": "!"}


def _token(text: str) -> str:
    return "the end of the expression" if text == "<EOF>" else repr(text)


def _expected(tokens: str) -> str:
    """What the parser's expected-token set means: a value, an operator, the end, or a token."""
    wanted = set(re.findall(r"'[^']*'|<EOF>|[A-Z_]+", tokens))
    kinds = []
    if "IDENTIFIER" in wanted or "STRING" in wanted:
        kinds.append("a value (a label, a 'string', a number, true or false)")
    if "'=='" in wanted or "'&&'" in wanted:
        kinds.append("an operator (==, !=, <, in, &&, || ...)")
    if "<EOF>" in wanted:
        kinds.append("the end of the expression")
    return " or ".join(kinds) or " or ".join(sorted(wanted))


def _sentence(what: str) -> str:
    """One parser error as a sentence, with a hint for the usual slips (`=`, `and`, an open quote)."""
    if found := _UNEXPECTED.match(what):
        token, tokens = found.groups()
        found_what = "the expression ends" if token == "<EOF>" else f"found {token!r}"
        text = f"{found_what} where {_expected(tokens)} was expected"
        if token in _WORDS:
            text += f" (CEL writes {token!r} as {_WORDS[token]})"
        return text
    if found := _MISSING.match(what):
        return f"a {found.group(1)!r} is missing before {_token(found.group(2))}"
    if found := _NO_ALTERNATIVE.match(what):
        return f"{_token(found.group(1))} cannot come here"
    if found := _BAD_CHARACTER.match(what):
        text = found.group(1)
        if text[:1] in "'\"":
            return f"the string starting {text!r} is not closed"
        hint = " (compare with ==)" if text.startswith("=") else ""
        return f"{text[:1]!r} is not allowed here{hint}"
    return what
