"""One TOML table of the project file under validation: typed reads that record every problem
under the table's label, so a developer sees them all in one pass (edgehost/project/schema.py)."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from edgehost.routes import RouteSyntaxError


class Table:
    """One TOML table under validation: typed reads that record problems under the table's label."""

    def __init__(self, data: Mapping[str, Any], label: str, problems: list[str], known: Sequence[str]):
        self.data = data
        self.label = label
        self.problems = problems
        self._start = len(problems)
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {show(close[0])}?)" if close else ""
                self.problem(f"unknown key {show(key)}{hint}")

    @property
    def ok(self) -> bool:
        """No problem recorded since this table was opened."""
        return len(self.problems) == self._start

    def problem(self, message: str) -> None:
        self.problems.append(f"{self.label}: {message}")

    def syntax(self, parse: Callable[[str], object], value: str) -> None:
        """Records the route syntax's refusal of `value` (its sentence names the key) as a problem."""
        try:
            parse(value)
        except RouteSyntaxError as exc:
            self.problem(str(exc))

    def _absent(self, key: str, required: bool) -> bool:
        if key in self.data:
            return False
        if required:
            self.problem(f'missing required key "{key}"')
        return True

    def has_text(self, key: str) -> bool:
        """The key holds a string, so checks on its content are worth reporting."""
        return isinstance(self.data.get(key), str)

    def text(self, key: str, default: str | None = None) -> str:
        """A string value, required when there is no default; after a problem, the default or ""
        (so later checks on its content do not report the same key twice)."""
        if self._absent(key, default is None):
            return default or ""
        value = self.data[key]
        if not isinstance(value, str):
            self.problem(f"{key} must be a string, got {show(value)}")
            return default or ""
        return value

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        """An integer within [low, high]; returns the default after a problem."""
        if self._absent(key, False):
            return default
        value = self.data[key]
        is_int = isinstance(value, int) and not isinstance(value, bool)  # TOML true is no integer
        if not is_int or value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f">= {low}"
            self.problem(f"{key} must be an integer {bounds}, got {show(value)}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """A TOML boolean (`true`/`false`; not 0, 1 or "true"); returns the default after a problem."""
        if self._absent(key, False):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.problem(f"{key} must be true or false, got {show(value)}")
            return default
        return value

    def strings(self, key: str) -> list[tuple[int, str]]:
        """An optional array of strings, as (1-based position, entry); entries of other types are
        reported and left out."""
        if self._absent(key, False):
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.problem(f"{key} must be an array of strings, got {show(value)}")
            return []
        for position, entry in enumerate(value, 1):
            if not isinstance(entry, str):
                self.problem(f"{key}[{position}] must be a string, got {show(entry)}")
        return [(position, entry) for position, entry in enumerate(value, 1) if isinstance(entry, str)]

    def string_table(self, key: str) -> list[tuple[str, str]]:
        """An optional inline table of strings (`key = { NAME = "value" }`), as (name, value);
        values of other types are reported and left out."""
        if self._absent(key, False):
            return []
        value = self.data[key]
        if not isinstance(value, Mapping):
            example = f'{key} = {{ NAME = "value" }}'
            self.problem(f"{key} must be a table of strings like {example}, got {show(value)}")
            return []
        for name, entry in value.items():
            if not isinstance(entry, str):
                self.problem(f"{key}.{name} must be a string, got {show(entry)}")
        return [(name, entry) for name, entry in value.items() if isinstance(entry, str)]

    def reference(self, functions: Mapping[str, str]) -> str:
        """The required ``function`` key, which must name a function of this project."""
        function = self.text("function")
        if self.has_text("function") and function not in functions:
            self.problem(f"function {show(function)} is not defined in [[functions]]")
        return function

    def tables(self, key: str) -> list[Mapping[str, Any]]:
        """An optional array of tables (``[[key]]``); entries that are not tables are reported."""
        if self._absent(key, False):
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.problem(f"{key} must be an array of tables ([[{key}]]), got {show(value)}")
            return []
        for index, entry in enumerate(value, 1):
            if not isinstance(entry, Mapping):
                self.problem(f"[[{key}]] #{index} must be a table, got {show(entry)}")
        return [entry for entry in value if isinstance(entry, Mapping)]


def fields_of(cls: type) -> tuple[str, ...]:
    """TOML keys of a table: the dataclass's or struct's fields, which are named exactly like them."""
    if dataclasses.is_dataclass(cls):
        return tuple(field.name for field in dataclasses.fields(cls))
    return tuple(field.name for field in msgspec.structs.fields(cls))


def show(value: object) -> str:
    """A value as it would look in the TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"
