"""`write_atomic`: the one way files are replaced in place, atomic always, durable by default."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from edgehost import files
from edgehost.files import atomic_path, read_or_create, write_atomic


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records what each fsync flushed: 'file' or 'dir'."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    return seen


def test_replaces_the_content_with_a_private_file_and_no_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.json"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["state.json"]


def test_durable_flushes_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _fsyncs(monkeypatch)
    order: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(files.os, "replace", lambda a, b: (order.extend(seen), real_replace(a, b)))
    write_atomic(tmp_path / "f", b"x")
    assert order == ["file"]
    assert seen == ["file", "dir"]


def test_not_durable_flushes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _fsyncs(monkeypatch)
    write_atomic(tmp_path / "f", b"x", durable=False)
    assert seen == []
    assert (tmp_path / "f").read_bytes() == b"x"


def test_a_failure_leaves_the_old_content_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    write_atomic(path, b"old")

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_a_failing_writer_leaves_the_old_content(tmp_path: Path) -> None:
    path = tmp_path / "module.wasm"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(path, suffix=".wasm") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the compiler failed")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["module.wasm"]


def test_the_temporary_file_goes_to_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / ".tmp"
    folders: list[Path] = []
    real_replace = os.replace
    monkeypatch.setattr(
        files.os, "replace", lambda a, b: (folders.append(Path(a).parent), real_replace(a, b))
    )
    write_atomic(tmp_path / "entry" / "1.sha256", b"abc", tmp_dir=scratch)
    assert folders == [scratch]
    assert (tmp_path / "entry" / "1.sha256").read_bytes() == b"abc"
    assert os.listdir(scratch) == []


def test_exclusive_creates_but_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    write_atomic(path, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_atomic(path, b"second", exclusive=True)
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["key.pem"]


def test_read_or_create_makes_the_secret_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret"
    made: list[bytes] = []

    def make() -> bytes:
        made.append(os.urandom(8))
        return made[-1]

    assert read_or_create(path, make) == made[0]
    assert read_or_create(path, make) == made[0]
    assert len(made) == 1


def test_read_or_create_keeps_a_concurrent_creators_secret(tmp_path: Path) -> None:
    """Another process creates the file between our read and our write: its secret wins."""
    path = tmp_path / "secret"

    def make() -> bytes:
        write_atomic(path, b"theirs", exclusive=True)  # the other process, just before us
        return b"ours"

    assert read_or_create(path, make) == b"theirs"
    assert path.read_bytes() == b"theirs"
