"""``report.html`` of a review or a study: statistics, margins, protocols, failures, pictures next to it."""

from __future__ import annotations

import html
from pathlib import Path

from igrt.result import atomic_write_text
from igrt.review import plots
from igrt.review.table import ShiftTable

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}.sense{font-style:italic;color:#555}
img{max-width:100%;border:1px solid #888}.fail{color:#a40}
"""


def _cell(v) -> str:
    return "<td>–</td>" if v is None else f"<td>{v:.2f}</td>"


def _axes_table(axes: dict) -> str:
    head = "<tr><th>axis</th><th>M</th><th>Σ</th><th>σ</th><th>van Herk 2.5Σ+0.7σ</th><th>Stroom 2Σ+0.7σ</th></tr>"
    rows = []
    for name, a in axes.items():
        unit = "mm" if "M_mm" in a else "deg"
        keys = ("M", "Sigma", "sigma", "margin_van_herk", "margin_stroom")
        cells = "".join(_cell(a[f"{k}_{unit}"]) for k in keys)
        rows.append(f"<tr><td>{html.escape(name)} ({unit})</td>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _protocols_table(protocols: dict) -> str:
    head = "<tr><th>protocol</th><th>imaged fractions</th>" + "".join(
        f"<th>{a}: Σ / σ / van Herk (mm)</th>" for a in plots.AXIS_LABELS
    )
    rows = []
    for name, p in protocols.items():
        cells = []
        for a in plots.AXIS_LABELS:
            ax = p["axes"][a]
            vals = [ax["Sigma_mm"], ax["sigma_mm"], ax["margin_van_herk_mm"]]
            cells.append("<td>" + " / ".join("–" if v is None else f"{v:.2f}" for v in vals) + "</td>")
        rows.append(f"<tr><td>{name}</td><td>{p['imaged_fractions']}</td>{''.join(cells)}</tr>")
    return f"<table>{head}</tr>{''.join(rows)}</table>"


def _failed_table(failed: list) -> str:
    if not failed:
        return "<p>No failed fraction.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(str(f['patient']))}</td><td>{html.escape(str(f['fraction']))}</td>"
        f"<td class='fail' style='text-align:left'>{html.escape(str(f.get('reason', '')))}</td></tr>"
        for f in failed
    )
    return f"<table><tr><th>patient</th><th>fraction</th><th>reason</th></tr>{rows}</table>"


def write_review_report(
    folder, table: ShiftTable, stats: dict, *, extra_sections: str = "", tolerance_mm: float = 2.0
) -> Path:
    """Write ``folder/report.html`` and its PNGs (shift history, distributions); returns the HTML path.

    Parameters
    ----------
    folder : str or Path
        Created if needed; the pictures are written next to the HTML.
    table : ShiftTable
        The reviewed fractions (set-up errors, patient is displaced).
    stats : dict
        The STATS.json of :func:`igrt.review.stats_json.review_statistics` for ``table``.
    extra_sections : str
        HTML inserted before the failures (the known-shift table of a commissioning study).
    tolerance_mm : float
        Half-width of the band drawn on the shift history (mm).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plots.shift_history(table, folder / "shift_history.png", tolerance_mm)
    plots.distributions(table, folder / "distributions.png")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in stats["notes"])
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>IGRT study review</title>
<style>{_CSS}</style></head><body>
<h1>Set-up error review</h1>
<p>{stats["patients"]} patients, {stats["fractions"]} fractions (source {html.escape(str(stats["source"]))}).</p>
<p class="sense">{html.escape(stats["sense"])}.</p>
<ul>{notes}</ul>
<h2>Shift history</h2><img src="shift_history.png" alt="set-up error per fraction and patient">
<h2>Distributions</h2><img src="distributions.png" alt="histograms per axis and scatter">
<h2>Population statistics and margins</h2>
<p class="sense">M: group mean, Σ: systematic (SD of patient means), σ: random (RMS of patient SDs).</p>
{_axes_table(stats["axes"])}
<h2>Offline protocols (residual set-up error)</h2>{_protocols_table(stats["protocols"])}
{extra_sections}
<h2>Failed fractions</h2>{_failed_table(stats["excluded_fractions"])}
</body></html>
"""
    out = folder / "report.html"
    atomic_write_text(out, body)
    return out
