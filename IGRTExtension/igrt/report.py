"""Headless HTML report of a daily match: numbers with their sense, timing, and comparison pictures."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from igrt import geometry
from igrt.registration import compare
from igrt.result import atomic_write_text, escalation

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}.warn{color:#a40}
img{max-width:100%;border:1px solid #888}.sense{font-style:italic;color:#555}
figure{margin:.8em 0}figcaption{font-size:90%;color:#444}
"""

_FLICKER_JS = """
<script>
let flick=null;
function toggleFlicker(){const a=document.getElementById('flick');
 if(flick){clearInterval(flick);flick=null;return;}
 flick=setInterval(()=>{a.src=a.dataset.cur==='p'?a.dataset.d:a.dataset.p;a.dataset.cur=a.dataset.cur==='p'?'d':'p';},600);}
</script>
"""


def _row(label, values, fmt="{:+.2f}"):
    """A table row; a missing value (None or not finite) shows as "–", never as "nan"."""
    cells = "".join(f"<td>{fmt.format(v) if v is not None and np.isfinite(v) else '–'}</td>" for v in values)
    return f"<tr><td>{html.escape(label)}</td>{cells}</tr>"


def _verdict(couch: dict) -> dict:
    """TG-142 verdict of the full 6-DOF correction (``igrt shift`` gives it for other couches)."""
    from igrt.couch import tolerance

    check = tolerance.evaluate(couch)
    check["profile_name"] = next(iter(tolerance.TOLERANCE_PROFILES))
    return check


def _angle(result: dict) -> float:
    """Rotation magnitude (°) of a result's matrix: the angle about its axis."""
    return geometry.rotation_angle_deg(np.asarray(result["matrix_lps"], float))


def marker_html(image_result: dict, marker_result: dict) -> str:
    """The marker match beside the image match: both displacements, their difference, per-marker fit."""
    ti, tm = np.asarray(image_result["translation_mm"]), np.asarray(marker_result["translation_mm"])
    q = marker_result["quality"]
    rows = "".join(
        f"<tr><td>planning M{i + 1} ↔ daily M{j + 1}</td><td>{res:.2f}</td>"
        f"<td>{'' if loo is None else f'{loo:.2f}'}</td></tr>"
        for (i, j), res, loo in zip(q["pairs"], q["residuals_mm"], q["leave_one_out_mm"], strict=True)
    )
    warnings = "".join(f"<li class=warn>{html.escape(w)}</li>" for w in marker_result.get("warnings", []))
    tre = q.get("predicted_tre_at_isocenter_mm")
    return f"""<h2>Marker match beside the image match</h2>
<p class=sense>patient is displaced — where the planned anatomy went (DICOM LPS: x left, y posterior, z superior)</p>
<table><tr><th></th><th>x (L)</th><th>y (P)</th><th>z (S)</th><th>magnitude: |t| (mm), angle (°)</th></tr>
{_row("image match, translation (mm)", [*ti, np.linalg.norm(ti)])}
{_row("marker match, translation (mm)", [*tm, np.linalg.norm(tm)])}
{_row("marker − image (mm)", [*(tm - ti), np.linalg.norm(tm - ti)])}
{_row("image match, rotation (°)", [*image_result["rotation_deg"], _angle(image_result)])}
{_row("marker match, rotation (°)", [*marker_result["rotation_deg"], _angle(marker_result)])}</table>
<p>Marker fit: FRE {q["fre_mm"]:.2f} mm, predicted TRE at the isocenter
{"–" if tre is None else f"{tre:.2f} mm"} (Fitzpatrick–West), {len(q["pairs"])} pairs.</p>
<table><tr><th>pair</th><th>residual (mm)</th><th>leave-one-out error (mm)</th></tr>{rows}</table>
{f"<ul>{warnings}</ul>" if warnings else ""}
"""


def _escalation_html(result: dict) -> str:
    """Beside the verdict: "escalate: match uncertain" and why, or the match's 95 % bounds."""
    esc = escalation(result)
    if not esc["known"]:
        return ""
    bounds = (
        f"95% bounds: {esc['translation_mm_95']} mm at the isocenter, {esc['rotation_deg_95']}°"
        if esc["translation_mm_95"] is not None
        else "no bound could be made"
    )
    if esc["escalate"]:
        return f"<p class=warn><b>{html.escape(esc['text'])}</b>: {html.escape('; '.join(esc['reasons']))} ({bounds})</p>"
    return f"<p>Match uncertainty: {html.escape(bounds)}</p>"


def render_html(
    result: dict, panels: dict, title: str = "IGRT daily match", marker_result=None, contours_drawn=None
) -> str:
    """The report page for a result JSON and its panel pictures (file names relative to the page);
    ``marker_result`` (a fiducial result JSON) adds the marker match beside the image match;
    ``contours_drawn`` names what the contour panels show (default: the HU-threshold body and bone)."""
    t, r, c = result["translation_mm"], result["rotation_deg"], result["couch"]
    drawn = contours_drawn or "contours (body cyan, bone yellow)"
    check = _verdict(c)
    q = result["quality"]
    warnings = "".join(f"<li class=warn>{html.escape(w)}</li>" for w in result.get("warnings", []))
    stages = "".join(
        f"<tr><td>{html.escape(s['stage'])}</td><td>{s['similarity_before']:.3f}</td>"
        f"<td>{s['similarity_after']:.3f}</td><td>{s['samples']}</td><td>{s['iterations']}</td></tr>"
        for s in result.get("stages", [])
    )
    views = " | ".join(compare.VIEWS)

    def fig(name, caption):
        if name not in panels:
            return ""
        return f"<figure><img src='{panels[name]}' alt='{name}'><figcaption>{caption} ({views})</figcaption></figure>"

    flicker = ""
    if "planning" in panels and "daily_after" in panels:
        flicker = (
            f"<h3>Flicker</h3><p><button onclick='toggleFlicker()'>start / stop flicker</button> "
            f"planning ⇄ daily after the match</p><img id=flick src='{panels['planning']}' "
            f"data-p='{panels['planning']}' data-d='{panels['daily_after']}' data-cur='p'>"
        )
    extra = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in result.get("extra", {}).items()
    )
    return f"""<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>
<style>{_CSS}</style>{_FLICKER_JS}</head><body>
<h1>{html.escape(title)}</h1>
<p>Method <b>{html.escape(result["method"])}</b>, patient orientation <b>{html.escape(result["orientation"])}</b>,
match time {result["elapsed_s"]:.2f} s. {html.escape(result.get("software", {}).get("name", ""))}
{html.escape(result.get("software", {}).get("version", ""))}</p>
{f"<ul>{warnings}</ul>" if warnings else ""}
<h2>Patient displacement at the isocenter</h2>
<p class=sense>patient is displaced — where the planned anatomy went (DICOM LPS: x left, y posterior, z superior)</p>
<table><tr><th></th><th>x (L)</th><th>y (P)</th><th>z (S)</th></tr>
{_row("translation (mm)", t)}{_row("rotation about axis (°)", r)}</table>
<h2>Couch correction (6 DOF, IEC 61217 table top)</h2>
<p>Verdict ({html.escape(check["profile_name"])}): <b>{html.escape(check["verdict"])}</b>
{html.escape("; ".join(check["reasons"]))}</p>
{_escalation_html(result)}
<p class=sense>{html.escape(c["sense"])} — motion of the point at the isocenter, rotations right-handed about the table-top axes</p>
<table><tr><th></th><th>lateral</th><th>longitudinal</th><th>vertical</th></tr>
{_row("translation (mm)", [c["lateral_mm"], c["longitudinal_mm"], c["vertical_mm"]])}</table>
<table><tr><th></th><th>couch rotation</th><th>pitch</th><th>roll</th></tr>
{_row("rotation (°)", [c["rotation_deg"], c["pitch_deg"], c["roll_deg"]])}</table>
<h2>Quality</h2>
<p>{html.escape(q.get("metric", ""))}: before {q["similarity_before"]:.3f}, after {q["similarity_after"]:.3f}</p>
<table><tr><th>stage</th><th>similarity before</th><th>after</th><th>samples</th><th>iterations</th></tr>{stages}</table>
{f"<table>{extra}</table>" if extra else ""}
{marker_html(result, marker_result) if marker_result else ""}
<h2>Comparison</h2>
<p class=sense>Fusion: planning magenta, daily green (grey where they agree). Difference: daily − planning after a
linear intensity match, red positive, blue negative, ±300 HU full scale.</p>
{fig("fusion_before", "Fusion before the match (isocenter alignment only)")}
{fig("fusion_after", "Fusion after the match")}
{fig("checkerboard_before", "Checkerboard before")}
{fig("checkerboard_after", "Checkerboard after")}
{fig("contours_before", f"Planning {drawn} on the daily image, before")}
{fig("contours_after", "Planning contours on the daily image, after the match")}
{fig("difference_before", "Difference before")}
{fig("difference_after", "Difference after")}
{flicker}
</body></html>
"""


def write_report(
    result: dict, planning, daily, folder, title="IGRT daily match", marker_result=None, structures=None
) -> Path:
    """Write panels and ``report.html`` into ``folder`` (pictures under ``panels/``); returns the page path.

    ``structures``: optional [(RGB 0–1, Structure)] of the planning frame, drawn on the daily image in the
    contour panels instead of the HU-threshold body and bone outlines.
    """
    folder = Path(folder)
    views = compare.comparison_slices(
        planning,
        daily,
        np.asarray(result["matrix_lps"]),
        result["planning_isocenter_lps"],
        result["daily_isocenter_lps"],
        structures=structures,
    )
    names = compare.write_panels(views, folder / "panels")
    panels = {k: f"panels/{v}" for k, v in names.items()}
    page = folder / "report.html"
    drawn = f"structures ({', '.join(s.name for _, s in structures)})" if structures else None
    atomic_write_text(page, render_html(result, panels, title, marker_result, drawn))
    return page
