"""The review report: HTML with the statistics it was given, and real PNG pictures next to it."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from igrt.review.report_html import write_review_report
from igrt.review.stats_json import review_statistics
from igrt.review.table import read_shift_table


def test_review_report_writes_html_and_pictures(tmp_path):
    table_path = tmp_path / "study.csv"
    table_path.write_text(
        "patient,fraction,status,reason,lateral_mm,longitudinal_mm,vertical_mm\n"
        "A,1,ok,,-1,0,0\nA,2,ok,,-3,0,1\nB,1,ok,,2,1,0\nB,2,ok,,4,1,0\nB,3,failed,daily image unreadable,,,\n"
    )
    table = read_shift_table(table_path)
    stats = review_statistics(table)
    html = write_review_report(tmp_path / "rep", table, stats).read_text()
    # Lateral e: A 1, 3 (m 2), B −2, −4 (m −3): Σ = SD(2, −3) = 3.54, σ = sqrt((2 + 2)/2) = 1.41.
    assert "<td>3.54</td><td>1.41</td>" in html
    assert "daily image unreadable" in html and "patient is displaced" in html
    for name in ("shift_history.png", "distributions.png"):
        img = mpimg.imread(tmp_path / "rep" / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400
        assert np.ptp(img[..., :3]) > 0.5  # not a blank picture
    assert not list((tmp_path / "rep").glob(".*tmp*"))
