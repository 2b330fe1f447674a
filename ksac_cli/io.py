"""Every file the toolkit writes goes through here: atomic writes (temp file + fsync + rename). A crash, kill
or full disk leaves the previous complete file or the new one, never half of one (docs/reliability.md)."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from ksac_cli.errors import KsacRuntimeError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[io.IOBase]:
    """Open a temporary file beside `path`; on success it replaces `path` atomically, on any exception it
    is removed and `path` is left untouched (an OSError raised as KsacRuntimeError naming `path`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary_named_by(path, "could not write {path}: {error}; the previous version is intact")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _remove_quietly(tmp)
        raise KsacRuntimeError(f"could not write {path}: {e.strerror or e}; the previous version is intact") from e
    except BaseException:
        _remove_quietly(tmp)
        raise


def check_writable(path: str | os.PathLike) -> None:
    """Before long work that ends by writing `path` (through `atomic_open`): create and remove the temporary
    file it will use, so a place that cannot be written fails now, not after the work. Raises
    KsacRuntimeError naming `path`. The folder must exist."""
    fd, tmp = _temporary_named_by(Path(path), "cannot write {path}: {error}")
    os.close(fd)
    _remove_quietly(tmp)


def _temporary_named_by(path: Path, message: str) -> tuple[int, str]:
    """`_create_temporary(path)`; its failure raised as KsacRuntimeError(`message` with {path} and {error}),
    named by the user's path: the temporary name is ours, not theirs."""
    try:
        return _create_temporary(path)
    except OSError as e:
        raise KsacRuntimeError(message.format(path=path, error=e.strerror or e)) from e


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file `.<name>.<random>.tmp` beside `path`, open for writing, with the mode `path` will have: the
    old file's, else 0666 less the umask as open() gives (tempfile.mkstemp would give 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue  # another writer's temporary file: draw another name
        break
    else:
        raise FileExistsError(errno.EEXIST, f"no free temporary name beside {path}")
    try:
        os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
    except FileNotFoundError:
        pass  # a new file: the mode open() gave it
    except BaseException:
        os.close(fd)
        _remove_quietly(tmp)
        raise
    return fd, tmp


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


class CacheFolder:
    """Files that only save time, in `folder` (None: none kept). A write that fails (a read-only folder, a full
    disk) turns writing off: from then on the work is done in memory."""

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.folder = None if folder is None else Path(folder)
        self.writable = folder is not None

    def write(self, path: Path, data: bytes) -> None:
        if not self.writable:
            return
        try:
            write_bytes(path, data)
        except (OSError, KsacRuntimeError):
            self.writable = False


def serialised(save: Callable[[io.BytesIO], object]) -> bytes:
    """The bytes `save(file)` writes, made in memory: a write the OS refuses then fails in `write_bytes` as one
    clear error, not inside the serialiser (torch's zip writer, numpy, PIL), which would word it as its own."""
    buffer = io.BytesIO()
    save(buffer)
    return buffer.getvalue()


def write_npz(path: str | os.PathLike, **arrays) -> None:
    """`numpy.savez_compressed(path, **arrays)` written atomically (numpy itself would write the file in
    place, and append `.npz` to a name without it)."""
    import numpy as np

    write_bytes(path, serialised(lambda f: np.savez_compressed(f, **arrays)))


def write_json(path: str | os.PathLike, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> None:
    """Write `rows` (dicts) as a CSV with exactly `columns`, in that order."""
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)


def append_jsonl(path: str | os.PathLike, record: Mapping[str, object]) -> None:
    """Append one JSON line and fsync it. A crash can leave at most one partial last line, which
    `read_jsonl` skips and `truncate_jsonl` removes."""
    append_text(path, json.dumps(record, sort_keys=False) + "\n")


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append `text` (whole lines: a JSON line, a log's line) to `path`, creating it and its folder, and fsync."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise KsacRuntimeError(f"could not append to {path}: {e.strerror or e}") from e


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Every complete JSON line of `path` ([] when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    return records


def truncate_jsonl(path: str | os.PathLike, keep) -> None:
    """Rewrite `path` atomically with only the complete records for which `keep(record)` is true."""
    path = Path(path)
    if path.is_file():
        write_text(path, "".join(json.dumps(r) + "\n" for r in read_jsonl(path) if keep(r)))


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, blocking: bool = True) -> Iterator[bool]:
    """An advisory lock on `path` + '.lock' (fcntl.flock: released by the OS if the holder dies).
    Yields True when held; with blocking=False yields False at once when another process holds it."""
    import fcntl

    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def upsert_csv_row(path: str | os.PathLike, row: Mapping[str, object], columns: Sequence[str],
                   key: Sequence[str]) -> None:
    """Put `row` into the CSV at `path`: it replaces the row with the same `key` values, if any, or is
    appended; every other row is kept. Under a lock, read and rewritten atomically: safe for several processes."""
    wanted = tuple(str(row[k]) for k in key)
    with file_lock(path):
        rows = [{c: r.get(c, "") for c in columns} for r in read_csv_rows(path)
                if tuple(r.get(k, "") for k in key) != wanted]
        write_csv(path, rows + [dict(row)], columns)
