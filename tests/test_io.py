"""Atomic writes: a failing write leaves the previous complete file and no temporary file; a rewrite keeps the
file's mode, a new file gets the usual one (0666 less the umask)."""

from __future__ import annotations

import os
import stat

import numpy as np
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


@pytest.fixture
def umask_027():
    """A known umask for the test (restored after): new files get 0666 & ~0027 = 0640."""
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_a_rewritten_file_keeps_its_mode(tmp_path, umask_027):
    path = tmp_path / "report.md"
    path.write_text("old")
    for mode in (0o640, 0o604, 0o755):
        path.chmod(mode)
        io.write_text(path, "new")
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002], ids=["022", "027", "077", "002"])
def test_a_new_file_gets_the_usual_mode_under_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        io.write_text(tmp_path / "a.txt", "x")
        io.write_npz(tmp_path / "maps.npz", a=np.zeros(2))
        with open(tmp_path / "by_open.txt", "w") as f:  # what a plain open() gives, for comparison
            f.write("x")
    finally:
        os.umask(old)
    for name in ("a.txt", "maps.npz", "by_open.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_place_that_cannot_hold_the_temporary_file_is_named_by_the_users_path(tmp_path):
    """/proc takes no new file: the error names the path asked for, never `.<name>.<random>.tmp` (ours)."""
    for call in (lambda: io.write_text("/proc/nope.txt", "x"), lambda: io.check_writable("/proc/nope.txt")):
        with pytest.raises(KsacError) as e:
            call()
        assert "/proc/nope.txt" in str(e.value) and ".tmp" not in str(e.value)
    io.check_writable(tmp_path / "fine.txt")  # a writable place: nothing is left behind
    assert list(tmp_path.iterdir()) == []
