"""Which toolchain built a component, from its bytes.

Some toolchains' components cannot serve two requests on one instance (componentize-js 0.19's
engine refuses a second `respondWith`), so the runner needs to know who built a component
without being told. Two markers, read without compiling anything:

- the `producers` custom sections (tool-conventions' producers section: fields `language`,
  `processed-by`, `sdk`, each a list of name/version pairs), of the component and of every core
  module and component nested in it. componentize-js names itself there (`ComponentizeJS`).
- the core modules' names in the component's `component-name` section (the component model's
  name section, subsection 1 with sort core module). componentize-py names no producer, but its
  components link a core module called `libcomponentize_py_runtime.so`.

The binary format is walked section by section (the component model's binary format: a section
is an id byte and a LEB128 u32 size; id 0 custom, 1 core module, 4 component). Malformed bytes are not
an error here: they are simply not recognised (validation is someone else's job).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from edgehost.runtime.binary import MalformedBinary, leb128, sections

COMPONENT_PREAMBLE = b"\0asm\x0d\x00\x01\x00"  # magic, version 0x0d, layer 1
MODULE_PREAMBLE = b"\0asm\x01\x00\x00\x00"
_CUSTOM, _CORE_MODULE, _COMPONENT = 0, 1, 4
_NAMES_SUBSECTION, _SORT_CORE, _SORT_CORE_MODULE = 1, 0x00, 0x11
_MAX_DEPTH = 8  # nesting deeper than any toolchain emits is not followed

COMPONENTIZE_JS = "componentize-js"
COMPONENTIZE_PY = "componentize-py"


@dataclass
class Marks:
    """What a component says about its makers: producers entries as (field, name, version), e.g.
    ("processed-by", "ComponentizeJS", "0.19.3"), and the names of its core modules."""

    producers: list[tuple[str, str, str]] = field(default_factory=list)
    core_modules: list[str] = field(default_factory=list)


def toolchain_of(data: bytes) -> str | None:
    """The toolchain that built the component `data`: COMPONENTIZE_JS, COMPONENTIZE_PY, or None
    when it is not a component or its markers name no toolchain this module knows."""
    if not data.startswith(COMPONENT_PREAMBLE):
        return None
    found = marks(data)
    if any(f == "processed-by" and name == "ComponentizeJS" for f, name, _ in found.producers):
        return COMPONENTIZE_JS
    if "libcomponentize_py_runtime.so" in found.core_modules or any(
        name == "componentize-py" for _, name, _ in found.producers
    ):
        return COMPONENTIZE_PY
    return None


def marks(data: bytes) -> Marks:
    """The producers entries and core module names of a component or module and everything
    nested in it, in the order the sections come; as much as could be read if the bytes are
    malformed."""
    found = Marks()
    with contextlib.suppress(MalformedBinary, IndexError, UnicodeDecodeError):
        _walk(memoryview(data), found, 0)
    return found


def _walk(data: memoryview, found: Marks, depth: int) -> None:
    component = bytes(data[:8]) == COMPONENT_PREAMBLE
    if not component and bytes(data[:8]) != MODULE_PREAMBLE:
        raise MalformedBinary("not a WebAssembly preamble")
    for section_id, _, start, end in sections(data, 8, len(data)):
        body = data[start:end]
        if section_id == _CUSTOM:
            name, rest = _name(body, 0)
            if name == "producers":
                _producers(body, rest, found)
            elif name == "component-name" and component:
                _core_module_names(body, rest, found)
        elif component and section_id in (_CORE_MODULE, _COMPONENT) and depth < _MAX_DEPTH:
            _walk(body, found, depth + 1)


def _producers(body: memoryview, at: int, found: Marks) -> None:
    fields, at = leb128(body, at)
    for _ in range(fields):
        field_name, at = _name(body, at)
        count, at = leb128(body, at)
        for _ in range(count):
            name, at = _name(body, at)
            version, at = _name(body, at)
            found.producers.append((field_name, name, version))


def _core_module_names(body: memoryview, at: int, found: Marks) -> None:
    while at < len(body):
        subsection = body[at]
        size, start = leb128(body, at + 1)
        at = start + size
        sort = bytes(body[start : start + 2])
        if subsection != _NAMES_SUBSECTION or sort != bytes((_SORT_CORE, _SORT_CORE_MODULE)):
            continue
        count, cursor = leb128(body, start + 2)
        for _ in range(count):
            _, cursor = leb128(body, cursor)  # the module's index
            name, cursor = _name(body, cursor)
            found.core_modules.append(name)


def _name(data: memoryview, at: int) -> tuple[str, int]:
    length, at = leb128(data, at)
    if at + length > len(data):
        raise MalformedBinary("a name runs past its section")
    return bytes(data[at : at + length]).decode("utf-8"), at + length
