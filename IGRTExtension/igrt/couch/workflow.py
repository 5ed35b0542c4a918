"""The couch shift workflow: the one function `igrt shift`, the Couch Shift module and studies call.

It takes a result document (``igrt match``, a marker match, an imported REG, or a hand-adjusted
transform read back from Slicer) and the couch that exists, checks every option before computing,
picks the patient position by the one rule (``igrt.patient_position.resolve``), and returns the shift
document (``igrt shift``'s JSON): the IEC 61217 table-top correction ("couch moves"), the residual error
after it ("patient is displaced"), the tolerance verdict and display rows that only relabel.
"""

from __future__ import annotations

import numpy as np

from igrt import __version__, patient_position
from igrt.couch import tolerance
from igrt.couch.correction import COUCH_MODELS, couch_correction
from igrt.couch.shift import COUCH_FIELDS, SHIFT_KIND, SHIFT_SCHEMA_VERSION, residual_max_mm
from igrt.errors import IGRTInputError
from igrt.result import check_result, escalation


def _points(points) -> np.ndarray | None:
    if points is None:
        return None
    pts = np.atleast_2d(np.asarray(points, float))
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.all(np.isfinite(pts)):
        raise IGRTInputError("target points must be N×3 finite LPS coordinates in mm")
    return pts


def check_shift_options(
    couch: str, max_rotation_deg, orientation, tolerance_profile, display_profile
) -> None:
    """Refuse couch options that make no sense, before any input is read (one clear line each)."""
    if couch not in COUCH_MODELS:
        raise IGRTInputError(f"unknown couch {couch!r}; use one of {', '.join(COUCH_MODELS)}")
    if max_rotation_deg is not None and not (
        isinstance(max_rotation_deg, int | float)
        and np.isfinite(max_rotation_deg)
        and 0 <= max_rotation_deg <= 180
    ):
        raise IGRTInputError(
            f"rotation limit (--max-rotation) {max_rotation_deg!r}° makes no sense (use 0 to 180)"
        )
    if orientation is not None:
        patient_position.normalise(orientation)
    tolerance.tolerance_profile(tolerance_profile)
    tolerance.resolve_display_profile(display_profile)


def couch_shift(
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
    source: str = "the result",
) -> dict:
    """The couch correction of a match result, with residuals and the tolerance verdict.

    Parameters
    ----------
    result : dict
        A result document (``matrix_lps``: planned anatomy → where it is, LPS mm, planning frame).
    couch : {"6dof", "4dof", "3dof"}
        The couch that exists; ``max_rotation_deg`` limits each of its rotations (degrees).
    orientation : str, optional
        Patient position; overrides the result's (with a warning when they disagree).
    target_lps : (3,) LPS mm, optional
        The point whose error a limited couch makes zero (default: the isocenter).
    target_points_lps : (N, 3) LPS mm, optional
        Points of the target structure; their largest residual is reported.
    tolerance_profile : str or dict, optional
        A profile name or custom levels (:func:`igrt.couch.tolerance.tolerance_profile`).
    display_profile : str, optional
        Relabels/negates the display rows only; never the computed motion.

    Returns
    -------
    dict
        The shift JSON: ``couch`` (six axes, "couch moves", verdict, residuals "patient is displaced"),
        ``display``, ``tolerance``, ``inputs``, ``warnings``, ``result`` (what it was computed from).
    """
    check_shift_options(couch, max_rotation_deg, orientation, tolerance_profile, display_profile)
    check_result(result, source)
    target = None if target_lps is None else np.asarray(target_lps, float)
    if target is not None and (target.shape != (3,) or not np.all(np.isfinite(target))):
        raise IGRTInputError("the target point must be three finite LPS coordinates in mm")
    m = np.asarray(result["matrix_lps"], float)
    iso = np.asarray(result["planning_isocenter_lps"], float)
    recorded = result.get("orientation")
    orient, orientation_source, warnings = patient_position.resolve(orientation, result=recorded)
    if orientation and recorded and patient_position.normalise(orientation) != str(recorded).upper():
        warnings.append(
            f"the orientation given ({orient}) overrides the result's patient position {recorded}: every couch sign "
            "follows the position given; check it is the one the patient was treated in"
        )
    pts = _points(target_points_lps)
    c = couch_correction(m, iso, orient, couch, max_rotation_deg, target)
    max_over = None if pts is None else residual_max_mm(c["couch_matrix_lps"], m, pts)
    check = tolerance.evaluate({**c, "residual_max_over_target_mm": max_over}, tolerance_profile)
    near_copy = (result.get("quality") or {}).get("near_identical_to_planning")
    if near_copy is not None:  # igrt.registration.sanity: the daily image is (nearly) the planning image
        check["verdict"] = "escalate"
        check["reasons"] = [
            *check["reasons"],
            f"the daily image is nearly identical to the planning image (correlation {near_copy}): "
            "was the planning image selected as the daily image?",
        ]
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
        "kind": SHIFT_KIND,
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
            "orientation_source": orientation_source,
            "target_lps": None if target_lps is None else [float(v) for v in target_lps],
            "tolerance_profile": tolerance_name,
            "display_profile": display_name,
            **(inputs or {}),
        },
        "warnings": warnings,
        "match_uncertainty": escalation(result),
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
