"""The review workflow: the one function ``igrt review``, ``igrt study run`` and ``igrt commission`` call.

A table of per-fraction couch corrections → STATS.json (statistics, margins, protocols; plus the
known-shift accuracy when the table has ``error_*`` columns) and, when asked, ``report.html`` with its
pictures.
"""

from __future__ import annotations

from pathlib import Path

from igrt.errors import IGRTInputError
from igrt.result import write_json
from igrt.review import protocols
from igrt.review.known_shift import known_shift_html, known_shift_summary
from igrt.review.report_html import write_review_report
from igrt.review.stats_json import review_statistics
from igrt.review.table import read_rows, read_shift_table


def check_review_options(
    nal_fractions, enal_period, sal_alpha_mm, sal_nmax, tolerance_mm, tolerance_deg
) -> None:
    """Refuse review options that make no sense (one line), before a table is read or a study runs."""
    protocols.check_parameters(nal_fractions, enal_period, sal_alpha_mm, sal_nmax)
    for name, v in (("--tolerance-mm", tolerance_mm), ("--tolerance-deg", tolerance_deg)):
        if not (isinstance(v, int | float) and 0 < v < 1e3):
            raise IGRTInputError(f"{name} {v!r} makes no sense (a positive number)")


def review(
    table_path,
    *,
    stats_out=None,
    report_dir=None,
    tolerance_mm: float = 2.0,
    tolerance_deg: float = 1.0,
    nal_fractions: int = 3,
    enal_period: int = 5,
    sal_alpha_mm: float = 9.0,
    sal_nmax: int = 2,
) -> dict:
    """Review a table; write STATS.json and the report when paths are given.

    Parameters
    ----------
    table_path : str or Path
        ``study.csv`` or any CSV with patient, fraction, lateral_mm, longitudinal_mm, vertical_mm
        (couch moves).
    stats_out : str or Path, optional
        STATS.json to write (atomically).
    report_dir : str or Path, optional
        Folder for ``report.html`` and its PNGs.
    tolerance_mm, tolerance_deg : float
        Known-shift pass/fail limits and the band of the shift-history plot.
    nal_fractions, enal_period, sal_alpha_mm, sal_nmax
        Protocol parameters (see :mod:`igrt.review.protocols`).

    Returns
    -------
    dict
        The STATS.json document; ``known_shift`` when the table has error columns.
    """
    check_review_options(nal_fractions, enal_period, sal_alpha_mm, sal_nmax, tolerance_mm, tolerance_deg)
    table = read_shift_table(table_path)
    stats = review_statistics(
        table,
        nal_fractions=nal_fractions,
        enal_period=enal_period,
        sal_alpha_mm=sal_alpha_mm,
        sal_nmax=sal_nmax,
    )
    _, rows = read_rows(table_path)
    known = known_shift_summary(rows, tolerance_mm, tolerance_deg)
    if known["fractions"]:
        stats["known_shift"] = known
    if stats_out is not None:
        write_json(stats_out, stats)
    if report_dir is not None:
        write_review_report(
            Path(report_dir), table, stats, extra_sections=known_shift_html(known), tolerance_mm=tolerance_mm
        )
    return stats
