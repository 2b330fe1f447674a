"""The qualitative figures read at the size GitHub shows a PNG: one per rate set, at most 6 sample rows
each, the title clear of the column headers and panels (bounding boxes from matplotlib's renderer)."""

from __future__ import annotations

import pandas as pd
from handmade import ablation_row, write_samples

from ksac_cli.report import qualitative

IDS = [f"img_{n}" for n in range(7)]  # more samples than a figure shows


def test_one_figure_per_rate_set_of_at_most_6_rows_with_the_title_clear_of_the_panels(tmp_path, monkeypatch):
    rows = []
    for rates in ("6,12,18", "6,12,18,24"):
        for head, merge, shift in (("aspp", "concat", 0), ("ksac", "concat", 1), ("ksac", "sum", 2)):
            run = tmp_path / "runs" / f"{head}-{merge}-{rates}"
            write_samples(run, IDS, shift)
            metrics = {"miou": 0.5, "iou_small": 0.2, "iou_medium": 0.4, "iou_large": 0.6}
            rows.append(ablation_row(head, rates, 0, metrics, run, merge=merge))
    drawn = []
    monkeypatch.setattr(qualitative, "save_figure", lambda fig, path: drawn.append((fig, path.name)))
    made, why_not = qualitative.qualitative_figures(pd.DataFrame(rows), tmp_path / "out")

    names = ["qualitative_mobilenetv2_050_os16_r6-12-18.png", "qualitative_mobilenetv2_050_os16_r6-12-18-24.png"]
    assert why_not is None and [name for name, _ in made] == names == [name for _, name in drawn]
    for fig, name in drawn:
        axes = fig.axes
        assert axes[0].get_gridspec().nrows == 6, name  # 7 samples in common: the first 6
        assert axes[0].get_gridspec().ncols == 5  # image | ground truth | ASPP | KSAC (concat) | KSAC (sum)
        width, height = fig.get_size_inches()
        assert height <= 2 * width, name  # not a strip GitHub shrinks to unreadable
        renderer = fig.canvas.get_renderer()
        (title,) = [t for t in fig.texts if t.get_text().startswith("Val images")]
        box = title.get_window_extent(renderer)
        panels = [ax.get_tightbbox(renderer) for ax in axes]  # each panel with its column header
        assert not any(box.overlaps(p) for p in panels), name
        assert box.y0 > max(p.y1 for p in panels) and box.y1 <= fig.bbox.y1, name  # above them, inside the figure
        assert "rates " + name.removesuffix(".png").rsplit("_r", 1)[1].replace("-", ",") in title.get_text()
