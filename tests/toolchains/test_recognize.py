"""The toolchain recogniser on components really built by componentize-py and componentize-js,
on core modules, and on damaged bytes (never an exception)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edgehost.guestbuild import load_guest_bytes
from edgehost.toolchains.recognize import COMPONENTIZE_JS, COMPONENTIZE_PY, marks, toolchain_of

pytestmark = pytest.mark.toolchains
HELLO_WAT = Path(__file__).resolve().parents[2] / "functions" / "hello" / "hello.wat"


def test_a_componentize_py_component_is_recognised(echo_py_component: Path) -> None:
    data = echo_py_component.read_bytes()
    assert toolchain_of(data) == COMPONENTIZE_PY
    assert "libcomponentize_py_runtime.so" in marks(data).core_modules


def test_a_componentize_js_component_is_recognised(echo_js_component: Path) -> None:
    data = echo_js_component.read_bytes()
    assert toolchain_of(data) == COMPONENTIZE_JS
    assert ("processed-by", "ComponentizeJS", "0.19.3") in marks(data).producers


def test_core_modules_and_other_bytes_name_no_toolchain() -> None:
    assert toolchain_of(load_guest_bytes(HELLO_WAT)) is None
    assert toolchain_of(b"") is None
    assert toolchain_of(b"\0asm\x0d\x00\x01\x00") is None  # an empty component


def test_damaged_components_never_raise(echo_py_component: Path, echo_js_component: Path) -> None:
    """Truncated anywhere or with bytes flipped anywhere: an answer (maybe None), no exception."""
    rng = random.Random(18)
    for path in (echo_py_component, echo_js_component):
        data = path.read_bytes()
        for _ in range(200):
            cut = rng.randrange(len(data))
            toolchain_of(data[:cut])
            flipped = bytearray(data[: 1 << 16])
            for _ in range(8):
                flipped[rng.randrange(8, len(flipped))] = rng.randrange(256)
            toolchain_of(bytes(flipped))
