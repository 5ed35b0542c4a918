"""Marker files (``markers.json``) and the marker match as a result JSON (``--method fiducial``).

``markers.json``: ``{"markers": [{"position_lps": [x, y, z], "confidence": c}, ...]}`` in the image's
own frame (DICOM LPS mm). The result follows docs/CONVENTIONS.md like the image match: the daily markers are
brought into the planning frame through the paired isocenters before the rigid fit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from igrt import geometry, patient_position
from igrt.errors import IGRTInputError
from igrt.markers.pairing import MIGRATION_EXCLUDE_MM, MIGRATION_WARN_MM, match_markers, pair_markers


def markers_json(found, image=None) -> dict:
    """The ``markers.json`` content of detections [(position_lps, confidence)] (the inverse of ``read_markers``)."""
    out = {"schema_version": "1.0", "kind": "igrt.markers"}
    if image is not None:
        out["image"] = str(image)
    out["markers"] = [
        {"position_lps": [round(float(v), 4) for v in p], "confidence": round(float(c), 3)} for p, c in found
    ]
    return out


def read_markers(path) -> np.ndarray:
    """N×3 marker positions (LPS mm) of a markers JSON or of an RTSTRUCT's POINT ROIs, or one line why not.

    A DICOM file (Part 10 "DICM" signature, or a name ending in .dcm) is read as an RT structure set:
    the points of all its POINT ROIs (``igrt.io.rtstruct.read_point_rois``), in file order.
    """
    try:
        with Path(path).open("rb") as fh:
            dicom = fh.read(132)[128:132] == b"DICM" or Path(path).suffix.lower() == ".dcm"
    except OSError:
        dicom = False
    if dicom:
        from igrt.io.rtstruct import read_point_rois

        pts = np.array([position for _, position in read_point_rois(path)], float)
    else:
        try:
            data = json.loads(Path(path).read_text())
            pts = np.array([m["position_lps"] for m in data["markers"]], float)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = " ".join(f"{exc.__class__.__name__}: {exc}".split())
            raise IGRTInputError(f"{path}: not a markers file ({reason})") from exc
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
        raise IGRTInputError(f"{path}: every marker needs a finite position_lps [x, y, z]")
    if len(pts) < 3:
        raise IGRTInputError(f"{path}: {len(pts)} markers; at least 3 are needed for a rigid match")
    return pts


def marker_result(
    planning_path,
    daily_path,
    isocenter=None,
    daily_isocenter=None,
    orientation=patient_position.DEFAULT,
    exclude=(),
    migration=None,
) -> dict:
    """Pair, register and check the markers of two files; returns the result JSON (method "fiducial")."""
    return marker_result_from_points(
        read_markers(planning_path),
        read_markers(daily_path),
        isocenter,
        daily_isocenter,
        orientation,
        exclude=exclude,
        inputs={"planning_markers": str(planning_path), "daily_markers": str(daily_path)},
        migration=migration,
    )


def marker_result_from_points(
    planning,
    daily,
    isocenter=None,
    daily_isocenter=None,
    orientation=patient_position.DEFAULT,
    exclude=(),
    inputs=None,
    migration=None,
) -> dict:
    """The marker match of two N×3 LPS point lists (each in its own image frame) as a result JSON.

    ``exclude``: planning-marker indices (0-based) left out of the fit, e.g. a migrated marker. When the
    migration check suspects a marker, the match without it is computed too and reported under
    ``quality.without_suspect`` so that the user sees what excluding it would change. ``migration``:
    (warn, exclude) thresholds in mm (default ``fiducials.MIGRATION_WARN_MM``, ``MIGRATION_EXCLUDE_MM``).
    """
    from igrt.registration.match import MatchResult

    t0 = time.perf_counter()
    p = np.asarray(planning, float)
    q = np.asarray(daily, float)
    p_iso = np.asarray(isocenter if isocenter is not None else p.mean(axis=0), float)
    d_iso = np.asarray(daily_isocenter if daily_isocenter is not None else p_iso, float)
    # Daily markers in the planning frame (isocenters identified, docs/CONVENTIONS.md).
    q_planning = geometry.apply(np.linalg.inv(geometry.daily_frame_shift(p_iso, d_iso)), q)
    pairing = pair_markers(p, q_planning)
    excluded = sorted({int(i) for i in exclude})
    if any(not 0 <= i < len(p) for i in excluded):
        raise IGRTInputError(f"--exclude: marker numbers run from 1 to {len(p)}")
    pairs = [(i, j) for i, j in enumerate(pairing.daily_index) if j >= 0 and i not in excluded]
    if len(pairs) < 3:
        raise IGRTInputError(f"only {len(pairs)} marker pairs to match: at least 3 are needed")
    pi, qi = p[[i for i, _ in pairs]], q_planning[[j for _, j in pairs]]
    warn_mm, exclude_mm = migration or (MIGRATION_WARN_MM, MIGRATION_EXCLUDE_MM)
    if not 0 < warn_mm <= exclude_mm:
        raise IGRTInputError(
            f"migration thresholds must be 0 < warn ≤ exclude, got {warn_mm}, {exclude_mm} mm"
        )
    names = [f"planning marker {i + 1}" for i, _ in pairs]
    fit = match_markers(pi, qi, target=p_iso, warn_mm=warn_mm, exclude_mm=exclude_mm, names=names)
    warnings = list(pairing.warnings) + list(fit.warnings)
    warnings += [f"marker {i + 1} excluded from the match by the user" for i in excluded]
    if isocenter is None:
        warnings.append("no isocenter given: the centroid of the planning markers is used")
    quality = {
        "metric": "marker fit",
        "fre_mm": round(fit.fre_mm, 4),
        "predicted_tre_at_isocenter_mm": None if fit.tre_mm is None else round(fit.tre_mm, 4),
        "residuals_mm": [round(float(v), 4) for v in fit.residuals_mm],
        "leave_one_out_mm": [None if np.isnan(v) else round(float(v), 4) for v in fit.leave_one_out_mm],
        "pairing_cost_mm": round(pairing.cost_mm, 4),
        "pairs": [[i, j] for i, j in pairs],
        "excluded": excluded,
        "suspected_migration": [pairs[k][0] for k in fit.suspects],
        "without_suspect": _without_suspect(pi, qi, fit, pairs, p_iso),
        "similarity_before": None,
        "similarity_after": None,
    }
    res = MatchResult(
        matrix_lps=fit.matrix_lps,
        planning_isocenter_lps=p_iso,
        daily_isocenter_lps=d_iso,
        method="fiducial",
        quality=quality,
        stages=[],
        warnings=warnings,
        elapsed_s=time.perf_counter() - t0,
        inputs=inputs or {},
        parameters={
            "isocenter": p_iso.tolist(),
            "daily_isocenter": d_iso.tolist(),
            "exclude": excluded,
            "migration_warn_mm": warn_mm,
            "migration_exclude_mm": exclude_mm,
        },
        orientation=orientation or patient_position.DEFAULT,
    )
    return res.to_dict()


def _without_suspect(pi, qi, fit, pairs, p_iso) -> dict | None:
    """The match without the suspected marker (≥ 4 markers), so that the user sees what excluding it changes."""
    if not fit.suspects or len(pi) < 4:
        return None
    k = fit.suspects[0]
    keep = np.arange(len(pi)) != k
    try:
        sub = match_markers(pi[keep], qi[keep], target=p_iso)
    except IGRTInputError:
        return None
    return {
        "excluded": pairs[k][0],
        "translation_mm": [round(float(v), 4) for v in geometry.displacement_at(sub.matrix_lps, p_iso)],
        "rotation_deg": [round(float(v), 4) for v in geometry.angles_xyz_deg(sub.matrix_lps[:3, :3])],
        "fre_mm": round(sub.fre_mm, 4),
        "matrix_lps": np.round(sub.matrix_lps, 8).tolist(),
    }
