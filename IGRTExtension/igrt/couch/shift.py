"""The couch shift of a match result (``igrt shift``): correction, residuals, verdict, display rows.

The computation is :func:`igrt.couch.correction.couch_correction`; this module turns a result JSON into the shift
JSON (DESIGN §4: a ``couch`` object with lateral_mm, longitudinal_mm, vertical_mm, rotation_deg,
pitch_deg, roll_deg, sense, verdict and residuals). The display profile only adds relabelled rows
(``display``); the ``couch`` object is the same whatever the profile.
"""

from __future__ import annotations

import numpy as np

from igrt import __version__, geometry
from igrt.couch import tolerance
from igrt.couch.correction import couch_correction
from igrt.errors import IGRTInputError

SHIFT_SCHEMA_VERSION = "1.0"

COUCH_FIELDS = (
    "lateral_mm",
    "longitudinal_mm",
    "vertical_mm",
    "rotation_deg",
    "pitch_deg",
    "roll_deg",
    "sense",
    "orientation",
    "couch",
    "dof",
    "max_rotation_deg",
)


def residual_max_mm(couch_matrix_lps, matrix_lps, points_lps) -> float:
    """Largest remaining displacement |C·M(p) − p| over points (mm) after the couch correction C."""
    after = np.asarray(couch_matrix_lps, float) @ np.asarray(matrix_lps, float)
    pts = np.atleast_2d(np.asarray(points_lps, float))
    return float(np.max(np.linalg.norm(geometry.apply(after, pts) - pts, axis=1)))


def _points(points) -> np.ndarray | None:
    if points is None:
        return None
    pts = np.atleast_2d(np.asarray(points, float))
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.all(np.isfinite(pts)):
        raise IGRTInputError("target points must be N×3 finite LPS coordinates in mm")
    return pts


def shift_from_result(
    result: dict,
    *,
    couch: str = "6dof",
    max_rotation_deg=None,
    orientation=None,
    target_lps=None,
    target_points_lps=None,
    tolerance_profile=None,
    display_profile=None,
    inputs: dict | None = None,
) -> dict:
    """Shift JSON for a (validated) result JSON; ``orientation`` overrides the result's patient position.

    ``target_lps``: the point made exact (default the isocenter); ``target_points_lps``: points of the
    target structure, whose largest residual is reported (``residuals.max_over_target_mm``).
    ``tolerance_profile``: a profile name or a dict (see :func:`igrt.couch.tolerance.tolerance_profile`).
    """
    warnings = []
    m = np.asarray(result["matrix_lps"], float)
    if result.get("planning_isocenter_lps") is None:
        raise IGRTInputError("the result has no planning_isocenter_lps")
    iso = np.asarray(result["planning_isocenter_lps"], float)
    orient = orientation or result.get("orientation")
    if not orient:
        orient = "HFS"
        warnings.append("patient orientation unknown (not in the result, not given): assumed HFS")
    pts = _points(target_points_lps)
    c = couch_correction(m, iso, orient, couch, max_rotation_deg, target_lps)
    max_over = None if pts is None else residual_max_mm(c["couch_matrix_lps"], m, pts)
    check = tolerance.evaluate({**c, "residual_max_over_target_mm": max_over}, tolerance_profile)
    display_name = tolerance.resolve_display_profile(display_profile)
    rows = tolerance.display_rows(c, display_name)
    if isinstance(tolerance_profile, dict):
        tolerance_name = (
            f"custom (from {tolerance_profile.get('base') or tolerance.tolerance_profile_names()[0]})"
        )
    else:
        tolerance_name = tolerance_profile or tolerance.tolerance_profile_names()[0]
    return {
        "schema_version": SHIFT_SCHEMA_VERSION,
        "kind": "igrt.couch.shift",
        "couch": {
            **{k: c[k] for k in COUCH_FIELDS},
            "verdict": check["verdict"],
            "verdict_reasons": check["reasons"],
            "uncorrected_rotation_deg": c["uncorrected_rotation_deg"],
            "residuals": {
                "at_isocenter_mm": c["residual_at_isocenter_mm"],
                "at_target_mm": c["residual_at_target_mm"],
                "max_over_target_mm": max_over,
                "target_point_count": None if pts is None else len(pts),
                "sense": "patient is displaced: remaining error after the couch correction",
            },
            "couch_matrix_lps": c["couch_matrix_lps"],
            "couch_matrix_sense": "couch moves: maps where the anatomy is now to where it is after the correction",
        },
        "display": {
            "profile": display_name,
            "rows": [{"label": lb, "value": v, "unit": u, "sense": s} for lb, v, u, s in rows],
        },
        "tolerance": {"profile": tolerance_name, **check["profile"], "axes": check["axes"]},
        "target_lps": None if target_lps is None else [float(v) for v in target_lps],
        "isocenter_lps": iso.tolist(),
        "inputs": {
            "couch": couch,
            "max_rotation_deg": max_rotation_deg,
            "orientation": orientation,
            "orientation_used": orient.upper(),
            "orientation_source": "given"
            if orientation
            else ("result" if result.get("orientation") else "assumed"),
            "target_lps": None if target_lps is None else [float(v) for v in target_lps],
            "tolerance_profile": tolerance_name,
            "display_profile": display_name,
            **(inputs or {}),
        },
        "warnings": warnings,
        "result": {
            "schema_version": result.get("schema_version"),
            "matrix_lps": m.tolist(),
            "translation_mm": result.get("translation_mm"),
            "rotation_deg": result.get("rotation_deg"),
            "planning_isocenter_lps": iso.tolist(),
            "orientation": result.get("orientation"),
            "inputs": result.get("inputs"),
        },
        "software": {"name": "IGRTExtension", "version": __version__},
    }
