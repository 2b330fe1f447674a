"""The lr schedule (engine/schedule.py): the warm-up starts at lr/warmup at the first step, not at 0, and
reaches lr at its last step; then DeepLab's poly. The help and the schema say the same."""

from __future__ import annotations

import inspect

from ksac_cli.cli.options import RUN
from ksac_cli.config import TrainConfig
from ksac_cli.engine.schedule import poly_factor


def test_warmup_starts_at_one_over_warmup_and_reaches_one_then_poly():
    total, power = 100, 0.9
    # exact: (i + 1) / 4 and the poly values are what the code must compute, not approximations of them
    assert poly_factor(0, total, power, warmup=4) == 0.25  # the first step: lr/4, never 0
    assert [poly_factor(i, total, power, warmup=4) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert poly_factor(4, total, power, warmup=4) == (1 - 4 / total) ** power
    assert poly_factor(0, total, power, warmup=0) == 1.0  # no warm-up: the first step at the full lr
    assert poly_factor(total, total, power, warmup=4) == 0.0


def test_help_and_schema_say_where_the_warmup_starts():
    (flag,) = [f for f in RUN if f.key == "train.warmup_iters"]
    assert "from lr/N at the first step" in flag.help
    (line,) = [line for line in inspect.getsource(TrainConfig).splitlines() if "warmup_iters:" in line]
    assert "from lr/warmup_iters to lr" in line and "from 0" not in line
