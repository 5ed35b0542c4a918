"""Known-shift accuracy (commissioning): applied vs measured couch correction per axis, pass/fail.

For each fraction with a known couch correction k (IEC 61217 table top, couch moves) and the measured
one c, the error is c − k per axis. Per axis over the fractions: mean, SD (n − 1; null for one
fraction), largest |error|, 95th percentile of |error| (linear interpolation), and pass when every
|error| is within the tolerance (TG-142: 1 mm SRS/SBRT, 2 mm otherwise; rotations 0.5° / 1°).
"""

from __future__ import annotations

import numpy as np

AXES = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")
TOLERANCES = {"TG-142": (2.0, 1.0), "SRS/SBRT": (1.0, 0.5)}


def known_shift_summary(rows: list, tolerance_mm: float = 2.0, tolerance_deg: float = 1.0) -> dict:
    """Error statistics and pass/fail of study rows that carry ``error_<axis>`` values.

    Parameters
    ----------
    rows : list of dict
        ``study.csv`` rows (numbers or text); rows without errors (no known values, failed) are left out.
    tolerance_mm, tolerance_deg : float
        Largest accepted |measured − known| per translation (mm) and rotation (degrees) axis.

    Returns
    -------
    dict
        ``fractions``, ``axes.<axis>.{mean, sd, max_abs, p95_abs, tolerance, pass}``, ``pass`` (all axes),
        ``rows`` (patient, fraction, known, measured, error per axis), ``sense``.
    """
    known_rows = [
        r
        for r in rows
        if r.get("status") == "ok" and any(r.get(f"error_{a}") not in (None, "") for a in AXES)
    ]
    axes, table = {}, []
    for a in AXES:
        err = np.array([float(r[f"error_{a}"]) for r in known_rows if r.get(f"error_{a}") not in (None, "")])
        if not len(err):
            continue
        tol = tolerance_mm if a.endswith("_mm") else tolerance_deg
        axes[a] = {
            "fractions": int(len(err)),
            "mean": round(float(err.mean()), 4),
            "sd": round(float(err.std(ddof=1)), 4) if len(err) > 1 else None,
            "max_abs": round(float(np.abs(err).max()), 4),
            "p95_abs": round(float(np.percentile(np.abs(err), 95)), 4),
            "tolerance": tol,
            "pass": bool(np.all(np.abs(err) <= tol)),
        }
    for r in known_rows:
        entry = {"patient": r["patient"], "fraction": r["fraction"]}
        for a in AXES:
            if r.get(f"error_{a}") not in (None, ""):
                measured, error = float(r[a]), float(r[f"error_{a}"])
                entry[a] = {"known": round(measured - error, 4), "measured": measured, "error": error}
        table.append(entry)
    return {
        "fractions": len(known_rows),
        "axes": axes,
        "pass": bool(axes) and all(v["pass"] for v in axes.values()),
        "tolerance_mm": tolerance_mm,
        "tolerance_deg": tolerance_deg,
        "rows": table,
        "sense": "couch moves (IEC 61217 table top); error = measured − known",
    }


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.2f}"


def known_shift_html(summary: dict) -> str:
    """The known-shift section of a report: per-axis statistics with pass/fail, then every fraction."""
    import html

    if not summary["fractions"]:
        return ""
    head = "<tr><th>axis</th><th>n</th><th>mean</th><th>SD</th><th>max |error|</th><th>95th pct |error|</th><th>tolerance</th><th>result</th></tr>"
    body = "".join(
        f"<tr><td>{a}</td><td>{v['fractions']}</td><td>{v['mean']:+.2f}</td>"
        f"<td>{_fmt(v['sd'])}</td><td>{v['max_abs']:.2f}</td><td>{v['p95_abs']:.2f}</td>"
        f"<td>{v['tolerance']:g}</td><td>{'pass' if v['pass'] else '<b>FAIL</b>'}</td></tr>"
        for a, v in summary["axes"].items()
    )
    cols = [a for a in AXES if a in summary["axes"]]
    detail_head = (
        "<tr><th>fraction</th>" + "".join(f"<th>{a}: known / measured / error</th>" for a in cols) + "</tr>"
    )
    detail = "".join(
        f"<tr><td>{html.escape(r['patient'])}/{html.escape(r['fraction'])}</td>"
        + "".join(
            f"<td>{r[a]['known']:+.2f} / {r[a]['measured']:+.2f} / {r[a]['error']:+.2f}</td>"
            if a in r
            else "<td>–</td>"
            for a in cols
        )
        + "</tr>"
        for r in summary["rows"]
    )
    verdict = "PASS" if summary["pass"] else "FAIL"
    return (
        f"<h2>Known-shift accuracy: {verdict}</h2><p class='sense'>{html.escape(summary['sense'])}; tolerance "
        f"{summary['tolerance_mm']:g} mm, {summary['tolerance_deg']:g}°.</p>"
        f"<table>{head}{body}</table><table>{detail_head}{detail}</table>"
    )
