"""Rows from several processes at once: none lost, none duplicated, none half-written."""

from __future__ import annotations

import multiprocessing as mp

from ksac_cli import io

COLUMNS = ["cell", "seed", "value"]


def _writer(path: str, worker: int, n: int) -> None:
    for i in range(n):
        io.upsert_csv_row(path, {"cell": f"w{worker}-{i}", "seed": 0, "value": "x" * 200}, COLUMNS, ("cell", "seed"))
        # every worker also re-sends one shared row: it must stay a single row
        io.upsert_csv_row(path, {"cell": "shared", "seed": 0, "value": worker}, COLUMNS, ("cell", "seed"))


def test_concurrent_appends_lose_and_duplicate_nothing(tmp_path):
    path = str(tmp_path / "ablation.csv")
    workers, n = 4, 25
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    rows = io.read_csv_rows(path)
    cells = [r["cell"] for r in rows]
    assert len(cells) == len(set(cells)) == workers * n + 1
    assert all(r["value"] == "x" * 200 for r in rows if r["cell"] != "shared")
    assert not list(tmp_path.glob(".ablation.csv.*.tmp"))


def test_a_rerun_replaces_the_row_of_the_same_key(tmp_path):
    path = tmp_path / "a.csv"
    io.upsert_csv_row(path, {"cell": "a", "seed": 0, "value": "failed"}, COLUMNS, ("cell", "seed"))
    io.upsert_csv_row(path, {"cell": "b", "seed": 0, "value": "ok"}, COLUMNS, ("cell", "seed"))
    io.upsert_csv_row(path, {"cell": "a", "seed": 0, "value": "ok"}, COLUMNS, ("cell", "seed"))
    assert [(r["cell"], r["value"]) for r in io.read_csv_rows(path)] == [("b", "ok"), ("a", "ok")]
