"""Reading the WebAssembly binary format: LEB128 numbers and the sections they frame.

Core modules (core spec 5.2.2 "Integers", 5.5.2 "Sections") and components (Component Model
binary format) frame every section the same way: an id byte, a LEB128 size, then the body. One
reader serves the preamble check (component/detect.py), the start-section strip
(validate.py) and the toolchain recogniser (toolchains/recognize.py), so hostile bytes meet the
same bounds everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

# A u64 takes at most 10 LEB128 bytes; anything longer is malformed, not a slow loop.
_MAX_SHIFT = 63


class MalformedBinary(ValueError):
    """The bytes end or nest in a way the binary format does not allow."""


def leb128(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned LEB128 number at `pos` and the position after it; MalformedBinary when it
    runs past the end or past 64 bits."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise MalformedBinary("a number runs past the end of the binary")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > _MAX_SHIFT:
            raise MalformedBinary("a number is longer than 64 bits")


def sections(data: bytes | memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(id, where the section starts, where its body starts, its end) of each section between
    `start` and `end`; MalformedBinary when one runs past `end`."""
    pos = start
    while pos < end:
        section_id = data[pos]
        size, body = leb128(data, pos + 1)
        if body + size > end:
            raise MalformedBinary(f"section {section_id} runs past the end of the binary")
        yield section_id, pos, body, body + size
        pos = body + size
