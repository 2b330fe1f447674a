"""What the ablation's models were: the backbone they started from and how they were trained, from the
rows' backbone_weights, backbone_sha256 and freeze_backbone (experiments/rows.py) and the provenance JSON
beside a weights file (ksac_cli/weights, torch-free).

Rows that started from different backbones (another file, another sha256, random weights) or froze it
differently follow different protocols: the report never pools them, it shows every protocol but the main
one as its own row group. A CSV written before these columns existed reads as random weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ksac_cli import weights
from ksac_cli.errors import KsacError

COLUMNS = ["backbone_weights", "backbone_sha256", "freeze_backbone"]  # with (grid, cell, seed): one result
MODEL = ["backbone", "output_stride", "rates", "head", "merge"]  # a cell but its seed


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with COLUMNS present and plain: '' where the weights or their sha256 are missing (random
    weights), freeze_backbone a bool."""
    df = df.copy()
    for column in ("backbone_weights", "backbone_sha256"):
        df[column] = df[column].fillna("").astype(str) if column in df else ""
    frozen = df["freeze_backbone"] if "freeze_backbone" in df else [False] * len(df)
    df["freeze_backbone"] = [str(v).strip().lower() in ("true", "1") for v in frozen]
    return df


@dataclass(frozen=True)
class Protocol:
    weights: str  # builtin:<name>, a file, or '' (random weights)
    sha256: str
    frozen: bool

    @property
    def pretrained(self) -> bool:
        return bool(self.weights)

    def short(self) -> str:
        """'from random weights', or 'from quick_backbone.pt (sha256 0123456789ab), backbone frozen'."""
        if not self.pretrained:
            return "from random weights"
        if self.weights == weights.IMAGENET:
            return f"from timm's ImageNet weights, backbone {'frozen' if self.frozen else 'fine-tuned'}"
        return (f"from {locate(self.weights)[0].name} (sha256 {self.sha256[:12] or 'not recorded'}), "
                f"backbone {'frozen' if self.frozen else 'fine-tuned'}")


def split(df: pd.DataFrame) -> list[tuple[Protocol, pd.DataFrame]]:
    """The rows of each protocol, the main one first: of the protocols starting from a backbone file, the
    one with the newest row (from random weights only when no row starts from a file); then the other
    files', newest first, and random weights last. Rows without a date count as oldest; rows of one date
    are newer the later they come in the file."""
    df = normalise(df)
    when = pd.to_datetime(df["date"], utc=True, errors="coerce", format="ISO8601") if "date" in df else None
    recency = pd.Series(range(len(df)), index=df.index) if when is None else \
        when.rank(method="first", na_option="top").fillna(0)
    groups = []
    for (value, sha, frozen), rows in df.groupby(COLUMNS, sort=False):
        groups.append((Protocol(value, sha, bool(frozen)), rows, recency.loc[rows.index].max()))
    groups.sort(key=lambda g: (g[0].pretrained, g[2]), reverse=True)
    return [(protocol, rows) for protocol, rows, _ in groups]


def locate(value: str) -> tuple[Path, dict | None]:
    """The weights file a row names and its provenance record (None when the file or the record is not
    here: a built-in name this version does not ship, a path on another machine)."""
    try:
        path = weights.resolve(value)
    except KsacError:  # a built-in name not shipped with this version
        return Path(value.removeprefix(weights.PREFIX) + ".pt"), None
    try:
        return path, weights.provenance_of(path)
    except (OSError, ValueError):
        return path, None


def _span(values) -> str:
    values = sorted({int(v) for v in values if pd.notna(v)})
    if not values:
        return "an unrecorded number of"
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def made_by(record: dict) -> str:
    """'made by `<command>`: <iterations> iterations with a neutral 1x1 head on built-in images of seed
    <seed>, held-out mIoU <x>%' from a provenance record (workflows/pretrain.py), missing parts left out."""
    text = f"made by `{record['command']}`" if record.get("command") else "made by an unrecorded command"
    how = []
    if record.get("iterations") is not None:
        how.append(f"{record['iterations']} iterations")
    head = ((record.get("config") or {}).get("model") or {}).get("head")
    if head:
        how.append("with a neutral 1x1 head" if head == "pointwise" else f"with a {head} head")
    data = record.get("dataset") or {}
    if data.get("name") == "synthetic":
        how.append("on built-in images" + (f" of seed {data['seed']}" if data.get("seed") is not None else ""))
    elif data.get("name"):
        how.append(f"on {data['name']}")
    if how:
        text += ": " + " ".join(how)
    if record.get("heldout_miou") is not None:
        text += f", held-out mIoU {100 * record['heldout_miou']:.2f}%"
    return text


def backbone_text(protocol: Protocol) -> str:
    """The starting backbone: its file, the first 12 hex of its sha256 and how it was made."""
    if protocol.weights == weights.IMAGENET:
        return "timm's ImageNet weights (`--pretrained`)"
    path, record = locate(protocol.weights)
    named = [f"`{protocol.weights}`"] if protocol.weights != path.name else []
    sha = f"sha256 `{protocol.sha256[:12] or 'not recorded'}`"
    if record is None:
        how = "no provenance record beside it here, so how it was made is not known"
    elif record.get("sha256") and protocol.sha256 and record["sha256"] != protocol.sha256:
        how = (f"the provenance record beside it describes another file (sha256 `{record['sha256'][:12]}`), so "
               f"how this one was made is not known")
    else:
        how = made_by(record)
    return f"`{path.name}` ({', '.join([*named, sha, how])})"


def sentence(protocol: Protocol, rows: pd.DataFrame, subject: str = "Every model starts") -> str:
    """The protocol of `rows` in one sentence, opening with `subject`."""
    iterations = _span(rows["iterations"]) if "iterations" in rows else "an unrecorded number of"
    seeds = _span(rows.groupby(MODEL, sort=False, dropna=False).size())
    if not protocol.pretrained:
        return (f"{subject} from random weights: the whole network is initialised from each seed and trained for "
                f"{iterations} iterations, {seeds} seeds per cell.")
    return (f"{subject} from the backbone {backbone_text(protocol)}; the head and decoder are freshly initialised "
            f"from each seed and trained for {iterations} iterations (backbone "
            f"{'frozen' if protocol.frozen else 'fine-tuned'}), {seeds} seeds per cell.")


def group_title(protocol: Protocol) -> str:
    """The title of another protocol's row group."""
    return f"{protocol.short()}, for comparison"


def pooled_note(rows: pd.DataFrame) -> str | None:
    """A sentence when `rows` pool results computed in different ways: another resolved amp (bf16 moves a
    cell's mIoU by up to ~0.15 points against float32) or another device. None when they agree (rows of a
    CSV written before the amp column count as 'not recorded')."""
    parts = []
    for column, what in (("amp", "mixed precision"), ("device", "device")):
        values = rows[column].fillna("").astype(str).replace("", "not recorded") if column in rows else None
        if values is not None and values.nunique() > 1:
            counts = ", ".join(f"{v} ({n} rows)" for v, n in values.value_counts(sort=False).items())
            parts.append(f"{what}: {counts}")
    if not parts:
        return None
    return ("These rows pool results made in different ways (" + "; ".join(parts) + "): a difference between "
            "cells may partly be one of precision or device. Rerun on one machine to compare like with like.")
