"""Seeds derived from a run's seed, once (no torch here). Common random numbers (issue 32, STYLE habit 11):
each random draw is keyed by what it is for, never by how many draws came before it (docs/training.md,
"Like with like", lists the keys)."""

from __future__ import annotations

import hashlib


def derive(seed: int, *parts: str | int) -> int:
    """A 63-bit seed for `parts` under `seed`: the same in every process and Python version (hashlib, not
    `hash`, which is salted per process), and unrelated for different parts."""
    text = "\x1f".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1
