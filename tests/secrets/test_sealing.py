"""Sealing secret values (edgehost/secrets_crypto.py) and a runner's state files holding them sealed
(edgehost/runner/statefile.py): what opens, what does not, and what reaches the disk."""

from __future__ import annotations

import base64
import os
import random
import stat
from pathlib import Path

import pytest

from edgehost.protocol import DesiredState, FunctionDeployment
from edgehost.runner.statefile import DESIRED_FILE, NODE_KEY_FILE, load_state, save_state
from edgehost.secrets_crypto import Sealer, SealError, SecretKeyError, load_or_create_key, new_key, parse_key

KEY = parse_key(new_key())


def test_values_open_only_with_their_key_and_place() -> None:
    """Property-style: random text (any code point but surrogates), random places, a fixed seed."""
    rng = random.Random(17)
    sealer, other = Sealer(KEY), Sealer(parse_key(new_key()))
    for _ in range(200):
        value = "".join(
            chr(rng.choice((rng.randrange(32, 127), rng.randrange(0xA0, 0xD800))))
            for _ in range(rng.randrange(0, 64))
        )
        place = f"p{rng.randrange(9)}/f{rng.randrange(9)}/N{rng.randrange(9)}"
        sealed = sealer.seal(value, place)
        assert sealer.open(sealed, place) == value
        assert len(value) < 8 or value not in sealed
        assert sealer.seal(value, place) != sealed  # a fresh nonce each time
        with pytest.raises(SealError):
            sealer.open(sealed, place + "X")  # another secret's row
        with pytest.raises(SealError):
            other.open(sealed, place)  # another key


@pytest.mark.parametrize("damage", ["prefix", "bit", "truncate", "base64"])
def test_a_damaged_sealed_value_does_not_open(damage: str) -> None:
    sealer = Sealer(KEY)
    sealed = sealer.seal("hunter2", "p/f/N")
    raw = bytearray(base64.b64decode(sealed[3:]))
    if damage == "prefix":
        broken = "v2." + sealed[3:]
    elif damage == "bit":
        raw[-1] ^= 1
        broken = "v1." + base64.b64encode(raw).decode()
    elif damage == "truncate":
        broken = sealed[:20]
    else:
        broken = sealed + "!"
    with pytest.raises(SealError):
        sealer.open(broken, "p/f/N")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be base64 of 32 bytes, got 0 bytes"),
        ("not base64!", "must be base64 text of 32 random bytes"),
        (base64.b64encode(b"x" * 16).decode(), "must be base64 of 32 bytes, got 16 bytes"),
    ],
)
def test_a_key_is_base64_of_32_bytes(text: str, message: str) -> None:
    with pytest.raises(SecretKeyError, match=message):
        parse_key(text)


def test_a_key_file_is_created_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "k"
    key = load_or_create_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == key  # kept, not replaced


def deployment(fid: str, values: dict[str, str]) -> FunctionDeployment:
    return FunctionDeployment(
        function_id=fid,
        project="p",
        name=fid.split(".")[1],
        version=1,
        artifact_url="http://cp/a",
        sha256="0" * 64,
        memory_pages=1,
        max_execution_ms=50,
        secrets=tuple(values),
        secret_values=values,
    )


def test_state_files_hold_secret_values_sealed_with_the_node_key(tmp_path: Path) -> None:
    desired = DesiredState(
        revision=3,
        functions=(deployment("p.a", {"API_TOKEN": "tok-123456"}), deployment("p.b", {})),
    )
    path = tmp_path / DESIRED_FILE
    save_state(path, desired)
    on_disk = path.read_bytes()
    assert b"tok-123456" not in on_disk and b'"API_TOKEN":"v1.' in on_disk
    assert stat.S_IMODE(os.stat(tmp_path / NODE_KEY_FILE).st_mode) == 0o600
    assert load_state(path) == desired


def test_a_state_file_whose_secrets_do_not_open_is_ignored_whole(tmp_path: Path) -> None:
    """Another node's key (or a lost one): no half-restored state with secrets missing."""
    path = tmp_path / DESIRED_FILE
    save_state(path, DesiredState(functions=(deployment("p.a", {"API_TOKEN": "tok"}),)))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / DESIRED_FILE).write_bytes(path.read_bytes())
    assert load_state(moved / DESIRED_FILE) is None
    assert load_state(path) is not None


def test_a_state_without_secrets_makes_no_node_key(tmp_path: Path) -> None:
    save_state(tmp_path / DESIRED_FILE, DesiredState(functions=(deployment("p.a", {}),)))
    assert not (tmp_path / NODE_KEY_FILE).exists()
