"""The A/A check (ksac ablate --streams 2): rows of another seed stream are compared with stream 0 of the
same model in a family of their own, and never enter the KSAC-vs-ASPP or rate-24 comparisons."""

from __future__ import annotations

import pandas as pd

from ksac_cli.report import compare
from ksac_cli.report.evidence import EvidenceStore


def rows(stream_col: bool = True) -> pd.DataFrame:
    out = []
    for seed, (aspp, aspp1, ksac) in enumerate([(0.70, 0.71, 0.72), (0.71, 0.705, 0.73), (0.69, 0.70, 0.715)]):
        for head, stream, miou in (("aspp", 0, aspp), ("aspp", 1, aspp1), ("ksac", 0, ksac)):
            out.append({"backbone": "b", "output_stride": 8, "rates": "6,12,18", "head": head, "merge": "concat",
                        "seed": seed, "stream": stream, "miou": miou, "run_dir": "", "cell": f"{head}{stream}{seed}",
                        "margin": 1.0})
    df = pd.DataFrame(out)
    return df if stream_col else df[df["stream"] == 0].drop(columns="stream")


def test_a_a_compares_each_stream_with_stream_0_of_the_same_model():
    (c,) = compare.a_a(rows(), EvidenceStore())
    assert c.line.first == "stream 1" and c.line.second == "stream 0" and c.seeds == 3 and "ASPP" in c.line.comparison
    assert abs(c.t.mean - 100 * (0.71 - 0.70 + 0.705 - 0.71 + 0.70 - 0.69) / 3) < 1e-9


def test_the_other_stream_never_enters_the_main_comparisons():
    (c,) = compare.ksac_vs_aspp(rows(), EvidenceStore())
    assert c.seeds == 3 and abs(c.second - 100 * (0.70 + 0.71 + 0.69) / 3) < 1e-9  # ASPP of stream 0 only
    assert compare.a_a(rows(stream_col=False), EvidenceStore()) == []  # a CSV from before the column


def test_the_scale_sweep_caption_says_how_many_images_it_used():
    from ksac_cli.report.document import _images_text

    assert _images_text(pd.DataFrame({"images": [25, 25]})) == "The first 25 val images"
    assert _images_text(pd.DataFrame({"miou": [0.5]})) == "Every val image"  # not recorded
