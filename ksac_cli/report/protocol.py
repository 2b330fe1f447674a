"""What the ablation's models were and which run made them: the backbone they started from and how they were
trained, from the rows' backbone_weights, backbone_sha256 and freeze_backbone (experiments/rows.py) and the
provenance JSON beside a weights file (ksac_cli/weights, torch-free); and the run, rows.RUN (grid, commit,
resolved amp, device). Rows of another protocol or run are never pooled but by `ksac report --pool`
(docs/results.md, "Which run a verdict describes")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ksac_cli import weights
from ksac_cli.errors import KsacError
from ksac_cli.heads import HEADS
from ksac_cli.experiments.rows import RUN

COLUMNS = ["backbone_weights", "backbone_sha256", "freeze_backbone"]  # with (grid, cell, seed): one result
MODEL = ["backbone", "output_stride", "rates", "head", "merge"]  # a cell but its seed
NOT_RECORDED = "not recorded"  # a run column of a CSV written before it existed
PRECISION = {"off": "float32", "bf16": "bf16", "fp16": "fp16"}


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with COLUMNS present and plain: '' where the weights or their sha256 are missing (random
    weights), freeze_backbone a bool."""
    df = df.copy()
    for column in ("backbone_weights", "backbone_sha256"):
        df[column] = df[column].fillna("").astype(str) if column in df else ""
    frozen = df["freeze_backbone"] if "freeze_backbone" in df else [False] * len(df)
    df["freeze_backbone"] = [str(v).strip().lower() in ("true", "1") for v in frozen]
    for column in RUN:
        df[column] = df[column].fillna("").astype(str).replace("", NOT_RECORDED) if column in df else NOT_RECORDED
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
        source = ("timm's ImageNet weights" if self.weights == weights.IMAGENET else
                  f"{locate(self.weights)[0].name} (sha256 {self.sha256[:12] or 'not recorded'})")
        return f"from {source}, backbone {'frozen' if self.frozen else 'fine-tuned'}"


@dataclass(frozen=True)
class Run:
    """What made a group of rows (rows.RUN), and when; `pooled`: the runs joined by --pool, else (). Runs are
    equal when made by the same grid, commit, amp and device, whatever their dates."""

    grid: str
    commit: str
    amp: str
    device: str
    first: str = field(default="", compare=False)  # the oldest and newest row's date (ISO 8601)
    last: str = field(default="", compare=False)
    pooled: tuple = ()

    def short(self) -> str:
        """'commit 941495c, bf16, cpu (AMD EPYC, ...), 2026-12-06': what a reader tells runs apart by."""
        if self.pooled:
            return "pooled with --pool: " + "; ".join(r.short() for r in self.pooled)
        when = self.first[:10] if self.first[:10] == self.last[:10] else f"{self.first[:10]} to {self.last[:10]}"
        return (f"commit {self.commit}, {PRECISION.get(self.amp, self.amp)}, {self.device}"
                + (f", {when}" if when else ""))


@dataclass(eq=False)
class Group:
    """The rows of one protocol made by one run; `title`: what differs from the main group ("" for it)."""

    protocol: Protocol
    run: Run
    rows: pd.DataFrame
    title: str = ""


def recency(df: pd.DataFrame) -> pd.Series:
    """Each row's rank by date (rows without a date oldest; of one date, the later in the file newer);
    without a date column, the file's order."""
    when = pd.to_datetime(df["date"], utc=True, errors="coerce", format="ISO8601") if "date" in df else None
    return pd.Series(range(len(df)), index=df.index) if when is None else \
        when.rank(method="first", na_option="top").fillna(0)


def newest(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The newest row (`recency`) of each value of `keys`, in file order."""
    ranked = df.assign(_rank=recency(df)).sort_values("_rank", kind="stable")
    return ranked.drop_duplicates(keys, keep="last").drop(columns="_rank").sort_index()


def _run_of(rows: pd.DataFrame) -> Run:
    dates = (sorted(rows["date"].dropna().astype(str)) if "date" in rows else []) or [""]
    return Run(*rows.iloc[0][list(RUN)], dates[0], dates[-1])


def split(df: pd.DataFrame, pool: bool = False) -> list[Group]:
    """The groups of `df` (ablation.load's rows), one per protocol and run, the main group first: of the groups
    starting from a backbone file, the one with the newest row (from random weights only when no row starts
    from a file); then the others, newest first, random weights last. With `pool`, the runs of one protocol
    are one group (`pooled`)."""
    rank = recency(df)
    groups = []
    for (value, sha, frozen, *_), rows in df.groupby(COLUMNS if pool else [*COLUMNS, *RUN], sort=False):
        runs = [_run_of(r) for _, r in rows.groupby(list(RUN), sort=False)]
        if len(runs) > 1:  # with `pool` only
            rows = pooled(rows)
            runs = [Run(runs[0].grid, "", "", "", min(r.first for r in runs), max(r.last for r in runs), tuple(runs))]
        groups.append(Group(Protocol(value, sha, bool(frozen)), runs[0], rows))
    groups.sort(key=lambda g: (g.protocol.pretrained, rank.loc[g.rows.index].max()), reverse=True)
    for group in groups[1:]:
        group.title = group_title(group, groups[0])
    return groups


def pooled(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of several runs of one protocol as one (--pool): the newest row of each cell and seed. Raises
    KsacError unless the runs are compatible: one resolved amp, and one config_hash for each cell and seed
    that more than one run made."""
    amps = sorted(set(rows["amp"]))
    if len(amps) > 1:
        counts = ", ".join(f"{PRECISION.get(a, a)} ({(rows['amp'] == a).sum()} rows)" for a in amps)
        raise KsacError(f"--pool: these runs were made at different precisions ({counts}); a pooled verdict would mix "
                        f"them. Compare them side by side (ksac report without --pool), or rerun at one --amp")
    hashes = rows.groupby(["grid", "cell", "seed"])["config_hash"].nunique()
    if (hashes > 1).any():
        cell = hashes[hashes > 1].index[0]
        raise KsacError(f"--pool: the runs made cell {cell[1]} seed {cell[2]} with different configs (config_hash "
                        f"differs); pooling needs the same recipe and flags. Compare them side by side instead")
    return newest(rows, ["grid", "cell", "seed"])


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


def span(values) -> str:
    """'13', or '4-13': the range of the recorded integers among `values`; '' where none is recorded."""
    values = sorted({int(v) for v in values if pd.notna(v)})
    if not values:
        return ""
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
        how.append(f"with a {HEADS[head].display if head in HEADS else head} head")
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
    unrecorded = "an unrecorded number of"
    iterations = (span(rows["iterations"]) if "iterations" in rows else "") or unrecorded
    seeds = span(rows.groupby(MODEL, sort=False, dropna=False).size()) or unrecorded
    if not protocol.pretrained:
        return (f"{subject} from random weights: the whole network is initialised from each seed and trained for "
                f"{iterations} iterations, {seeds} seeds per cell.")
    return (f"{subject} from the backbone {backbone_text(protocol)}; the head and decoder are freshly initialised "
            f"from each seed and trained for {iterations} iterations (backbone "
            f"{'frozen' if protocol.frozen else 'fine-tuned'}), {seeds} seeds per cell.")


def group_title(group: Group, main: Group) -> str:
    """The title of another run's or protocol's row group: what differs from the `main` group."""
    parts = [group.protocol.short()] if group.protocol != main.protocol else []
    parts += [f"run: {group.run.short()}"] if group.run != main.run else []
    return "; ".join(parts) + ", for comparison"


def describe(groups: list[Group]) -> list[str]:
    """What the models were and which run made them, a paragraph per group, the main group's first, kept
    apart; led, when the groups hold more than one run, by which answer belongs to which run."""
    main, others = groups[0], groups[1:]
    lines = [sentence(main.protocol, main.rows) + f" Run: {main.run.short()}."]
    for group in others:
        lines.append(sentence(group.protocol, group.rows, f'In the row group "{group.title}", every model starts')
                     + " These rows are another run or protocol and are never pooled with the rows above: they "
                       "appear only in their own row group of the verdicts and of the tables below; table (a), "
                       "the plots and the qualitative figures show the rows above only.")
    if len({g.run for g in groups}) > 1:
        seeds = int(main.rows.groupby(MODEL, sort=False, dropna=False).size().max())
        titles = "; ".join(f'"{g.title}"' for g in others)
        lines.insert(0, f"**These results hold {len(groups)} runs; the verdicts above are those of one run, the "
                        f"newest: {main.run.short()} ({seeds} seeds per cell).** The other runs are never pooled with "
                        f"it: each has its own verdicts in its row group below ({titles}). `ksac report --pool` pools "
                        f"runs of one protocol made at one precision and config.")
    return lines
