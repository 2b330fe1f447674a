"""Atomic writes: a failing write leaves the previous complete file and no temporary file."""

from __future__ import annotations

import pytest

from ksac_cli import io
from ksac_cli.errors import KsacError


def test_write_replaces_atomically(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    io.write_text(path, "one")
    io.write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]


def test_a_crash_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.csv"
    io.write_csv(path, [{"x": 1}], ["x"])
    with pytest.raises(RuntimeError):
        with io.atomic_open(path) as f:
            f.write("x\n2\n")
            raise RuntimeError("killed")
    assert path.read_text() == "x\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_a_full_disk_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    io.write_text(path, "old")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full)
    with pytest.raises(KsacError, match=r"could not write .*a\.txt: No space left on device; the previous version is intact"):
        io.write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_csv_rejects_unknown_columns(tmp_path):
    with pytest.raises(ValueError, match="not in fieldnames: 'y'"):
        io.write_csv(tmp_path / "b.csv", [{"x": 1, "y": 2}], ["x"])
