"""The marker workflows: detection in one image and the marker match, as `igrt fiducials`, the Fiducials
module and the demo run them.

Each takes plain inputs (an image, point lists in each image's own frame, DICOM LPS mm) and returns the
document `igrt` writes (``markers.json``; the result JSON with method "fiducial"), owning the rules:
the refusal of an empty detection, the isocenter defaults (planning: the markers' centroid; daily: the
image match's rule when the images are known, else the same point), the patient position.
"""

from __future__ import annotations

import numpy as np

from igrt import patient_position
from igrt.errors import IGRTInputError
from igrt.markers.detect import detect_markers
from igrt.markers.match import marker_result_from_points, markers_json
from igrt.volume import Volume


def detect(image, *, roi_center_lps=None, roi_size_mm=None, threshold_hu=None, source=None) -> dict:
    """Gold markers in one image (its own frame, LPS mm) as the ``markers.json`` document.

    Parameters
    ----------
    image : SimpleITK.Image
        CT or CBCT in HU, DICOM LPS geometry.
    roi_center_lps, roi_size_mm : (3,) mm, optional
        A search box (centre LPS, full edge lengths).
    threshold_hu : float, optional
        Minimum contrast of a marker core over its local background (HU; default
        ``igrt.markers.detect.DEFAULT_THRESHOLD_HU``).
    source : str, optional
        What the image is (a path), recorded in the document and named in messages.

    Returns
    -------
    dict
        ``{"schema_version", "kind": "igrt.markers", "image", "markers": [{position_lps, confidence}]}``,
        strongest first. Raises ``IGRTInputError`` when no marker is found.
    """
    found = detect_markers(image, roi_center_lps, roi_size_mm, threshold_hu)
    if not found:
        where = f" in {source}" if source else ""
        raise IGRTInputError(
            f"no markers found{where} (threshold {threshold_hu or 'default'} HU of contrast)"
        )
    return markers_json(found, image=source)


def positions(document: dict) -> list:
    """[(position_lps (3,), confidence)] of a ``markers.json`` document, in its order."""
    return [(np.asarray(m["position_lps"], float), float(m["confidence"])) for m in document["markers"]]


def marker_match(
    planning_markers,
    daily_markers,
    *,
    isocenter=None,
    daily_isocenter=None,
    orientation=None,
    exclude=(),
    migration=None,
    planning: Volume | None = None,
    daily: Volume | None = None,
    inputs: dict | None = None,
) -> dict:
    """Pair and rigidly match planning and daily markers; the result document (method "fiducial").

    Parameters
    ----------
    planning_markers, daily_markers : (N, 3) LPS mm
        Marker positions, each in its own image's frame.
    isocenter : (3,) LPS mm, optional
        Planning isocenter; default the centroid of the planning markers (with a warning).
    daily_isocenter : (3,) LPS mm, optional
        The treatment isocenter in the daily frame; default: the image match's rule when both images
        are given (``igrt.registration.match.resolve_isocenters``), else the same point.
    orientation : str, optional
        Patient position; default the planning image's, else HFS with a warning.
    exclude : iterable of int
        Planning-marker indices (0-based) left out of the fit.
    migration : (warn_mm, exclude_mm), optional
        Thresholds of the inter-marker distance check.
    planning, daily : Volume, optional
        The images the markers were found in (identity and frames only; not read).

    Returns
    -------
    dict
        The result JSON (``matrix_lps``: patient is displaced; ``couch``: couch moves), with
        ``quality`` FRE, residuals, leave-one-out errors, pairs, suspected migration.
    """
    planning_markers = np.asarray(planning_markers, float)
    daily_markers = np.asarray(daily_markers, float)
    for what, pts in (("planning", planning_markers), ("daily", daily_markers)):
        if pts.ndim != 2 or pts.shape[1:] != (3,) or not np.all(np.isfinite(pts)):
            raise IGRTInputError(f"the {what} markers must be N×3 finite LPS positions in mm")
        if len(pts) < 3:
            raise IGRTInputError(f"{len(pts)} {what} markers: at least 3 are needed for a rigid match")
    warnings: list = []
    orientation, _, said = patient_position.resolve(
        orientation, planning_image=planning.patient_position if planning is not None else None
    )
    warnings += said
    keep = [i for i in range(len(planning_markers)) if i not in set(exclude)]
    if isocenter is None and len(keep):
        isocenter = planning_markers[keep].mean(axis=0)
        warnings.append("no isocenter given: the centroid of the planning markers is used")
    if daily_isocenter is None and planning is not None and daily is not None:
        from igrt.registration.match import MatchOptions, resolve_isocenters

        _, daily_isocenter = resolve_isocenters(
            planning, daily, MatchOptions(planning_isocenter_lps=tuple(isocenter)), warnings
        )
    result = marker_result_from_points(
        planning_markers,
        daily_markers,
        isocenter,
        daily_isocenter,
        orientation,
        exclude=exclude,
        inputs=inputs,
        migration=migration,
    )
    result["warnings"] = warnings + [w for w in result["warnings"] if w not in warnings]
    return result
