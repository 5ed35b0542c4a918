"""The couch shift as a small self-contained HTML report (or JSON), written atomically.

Pure Python over the dicts the Logic builds: the registration result (``result_from_transform_node``)
and the shift (``igrt.mrml.couch.evaluate_shift``), and the rows shown in the table.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:900px;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .6em}"
    "th{background:#eee}td.num{text-align:right}.verdict{font-size:160%;font-weight:bold;margin:.4em 0}"
    ".note{color:#555;font-size:90%}"
)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.2f}" if isinstance(value, int | float) else html.escape(str(value))


def render_html(result: dict, shift: dict, rows, title: str = "IGRT couch shift") -> str:
    """HTML page: verdict, the shift table with the sense of every row, and the inputs."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append(f'<div class="verdict">{html.escape(str(shift.get("verdict", "")))}</div>')
    body.append(
        f"<p>Patient orientation <b>{html.escape(str(shift.get('orientation')))}</b>"
        f" ({html.escape(str(shift.get('orientation_source', '')))}); couch model "
        f"<b>{html.escape(str(shift.get('couch')))}</b>"
        + (
            f", rotation limit ±{shift['max_rotation_deg']:g}°"
            if shift.get("max_rotation_deg") is not None
            else ""
        )
        + f"; tolerance profile {html.escape(str(shift.get('tolerance_profile') or 'none'))}.</p>"
    )
    body.append("<table><tr><th>quantity</th><th>value</th><th>unit</th><th>sense</th></tr>")
    for label, value, unit, sense in rows:
        body.append(
            f"<tr><td>{html.escape(label)}</td><td class='num'>{_fmt(value)}</td>"
            f"<td>{html.escape(unit)}</td><td>{html.escape(sense)}</td></tr>"
        )
    body.append("</table>")
    t = result.get("translation_mm") or [0, 0, 0]
    body.append(
        "<p class='note'>Registration (patient is displaced, DICOM LPS at the planning isocenter "
        f"{html.escape(str(result.get('planning_isocenter_lps')))} mm): x {t[0]:+.2f} (+ left), "
        f"y {t[1]:+.2f} (+ posterior), z {t[2]:+.2f} (+ superior) mm."
        + (
            " The transform was adjusted by hand after the automatic match."
            if result.get("hand_edited")
            else ""
        )
        + "</p>"
    )
    if shift.get("target_description"):
        body.append(f"<p class='note'>Target: {html.escape(shift['target_description'])}.</p>")
    body.append(
        "<p class='note'>IEC 61217 table-top axes; translations are the motion of the point at the isocenter; "
        "rotations right-handed about the table-top axes, R = Rz(couch rotation)·Rx(pitch)·Ry(roll) "
        "(DICOM PS3.3 C.8.8.14.12).</p>"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(path, result: dict, shift: dict, rows, title: str = "IGRT couch shift") -> Path:
    """Write the report: JSON when ``path`` ends in .json, else HTML; temporary name, then renamed."""
    from igrt.result import atomic_write_text

    path = Path(path)
    if path.suffix.lower() == ".json":
        clean = [
            [label, None if _fmt(value) == "" else value, unit, sense] for label, value, unit, sense in rows
        ]
        text = json.dumps({"result": result, "couch": shift, "rows": clean}, indent=2, default=str)
    else:
        text = render_html(result, shift, rows, title)
    atomic_write_text(path, text + ("" if text.endswith("\n") else "\n"))
    return path
