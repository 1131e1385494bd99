"""What a WebAssembly binary is, read from its bytes: a core module or a component, and the
linear memories a component's core modules declare.

The preamble (Component Model binary format, "Component Definitions"; core spec 5.5.16) is the
magic `\\0asm` followed by a 16-bit version and a 16-bit layer, little-endian: layer 0 is a core
module (version 1), layer 1 a component. A component's core modules are its sections of id 1, each
a whole core module; nested components (section id 4) hold their own.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..binary import MalformedBinary, leb128, sections

_MAGIC = b"\0asm"
_COMPONENT_LAYER = 1
_CORE_MODULE_SECTION = 1
_NESTED_COMPONENT_SECTION = 4
_MEMORY_SECTION = 5
_HAS_MAX = 0x01
_CUSTOM_PAGE_SIZE = 0x08


def is_component(wasm: bytes) -> bool:
    """True for a component's preamble (layer 1); a core module, text or anything else is False."""
    return len(wasm) >= 8 and wasm[:4] == _MAGIC and int.from_bytes(wasm[6:8], "little") == _COMPONENT_LAYER


def _memory_minimums(data: bytes, start: int, end: int) -> Iterator[int]:
    """The initial pages of each memory a core module (between `start` and `end`) defines."""
    for section_id, _, body, section_end in sections(data, start + 8, end):
        if section_id != _MEMORY_SECTION:
            continue
        count, pos = leb128(data, body)
        for _ in range(count):
            if pos >= section_end:
                raise MalformedBinary("the memory section is shorter than its count")
            flags = data[pos]
            minimum, pos = leb128(data, pos + 1)
            if flags & _HAS_MAX:
                _, pos = leb128(data, pos)
            if flags & _CUSTOM_PAGE_SIZE:
                _, pos = leb128(data, pos)
            yield minimum


def memory_minimums(wasm: bytes) -> list[int]:
    """The initial pages of every memory the component's core modules define (nested components
    included), in binary order. Raises MalformedBinary."""
    found: list[int] = []

    def walk(start: int, end: int) -> None:
        for section_id, _, body, section_end in sections(wasm, start + 8, end):
            if section_id == _CORE_MODULE_SECTION:
                found.extend(_memory_minimums(wasm, body, section_end))
            elif section_id == _NESTED_COMPONENT_SECTION:
                walk(body, section_end)

    walk(0, len(wasm))
    return found
