"""Closed planar contours of a DICOM RT Structure Set as :class:`igrt.dose.model.Structure` objects.

PS3.3 C.8.8.5 (Structure Set ROI Sequence): ROI Number, ROI Name and the ROI's Referenced Frame of
Reference UID. PS3.3 C.8.8.6 (ROI Contour): ROI Display Color, and Contour Sequence items with
Contour Geometric Type CLOSED_PLANAR and Contour Data x\\y\\z triplets (LPS mm, PS3.3 C.7.6.2.1.1),
the last point joined to the first. Several contours of one ROI on one plane combine by the even–odd
rule (a contour inside another is a hole). Each contour plane stands for a slab as thick as the gap
between the structure set's contour planes (the CT slice spacing), half of it on either side.

Nothing is dropped silently: a malformed contour is refused with one line, ROIs without contours are
listed as empty, POINT ROIs (markers, :func:`igrt.io.rtstruct.read_point_rois`) are named as not volumes.
"""

from __future__ import annotations

import numpy as np

from igrt.dose.model import Structure, StructureSet
from igrt.dose.rasterize import polygon_area_mm2, self_intersects
from igrt.errors import IGRTInputError
from igrt.io.rtstruct import read_rtstruct

PLANE_TOL_MM = 0.01  # the points of one axial contour share z within this
MIN_AREA_MM2 = 1e-6


def read_contour_structures(path) -> StructureSet:
    """Every ROI of the RTSTRUCT ``path`` that has closed planar contours, in Structure Set ROI order.

    Raises :class:`IGRTInputError` (one line) for a contour with fewer than 3 points, non-finite or
    non-axial points, zero area or crossing edges, and for a structure set with no contour at all.
    """
    ds = read_rtstruct(path)
    set_for = _set_frame_of_reference(ds)
    rois = {}
    for roi in ds.get("StructureSetROISequence", None) or []:
        if "ROINumber" in roi:
            rois[int(roi.ROINumber)] = roi
    items = {}
    for item in ds.get("ROIContourSequence", None) or []:
        if "ReferencedROINumber" in item:
            items[int(item.ReferencedROINumber)] = item
    structures, empty, warnings = [], [], []
    for number in list(rois) + [n for n in items if n not in rois]:
        roi = rois.get(number)
        name = str(roi.get("ROIName", "") or "").strip() if roi is not None else ""
        name = name or f"ROI {number}"
        item = items.get(number)
        contours, kinds = _contours(item, name, path)
        if kinds - {"CLOSED_PLANAR"}:
            other = ", ".join(sorted(kinds - {"CLOSED_PLANAR"}))
            if kinds == {"POINT"}:
                warnings.append(f"ROI {name!r} is a POINT ROI (a marker), not a volume")
                continue
            warnings.append(f"ROI {name!r} has {other} contours, which enclose no volume: those are left out")
        if not contours:
            empty.append(name)
            continue
        color = item.get("ROIDisplayColor") if item is not None else None
        roi_for = str(roi.get("ReferencedFrameOfReferenceUID", "") or "") if roi is not None else ""
        structures.append(
            Structure(
                name=name,
                contours=contours,
                color=tuple(int(c) for c in color) if color is not None and len(color) == 3 else None,
                number=number,
                frame_of_reference_uid=roi_for or set_for,
                source=str(path),
            )
        )
    if not structures:
        raise IGRTInputError(f"{path}: the RT structure set has no closed planar contour (no volume to use)")
    frames = {s.frame_of_reference_uid for s in structures if s.frame_of_reference_uid}
    if len(frames) > 1:
        raise IGRTInputError(f"{path}: its ROIs refer to {len(frames)} different frames of reference")
    slab = contour_slab_mm(structures, path)
    for s in structures:
        s.slab_mm = slab
        warnings += plane_gap_warnings(s, slab)
    if empty:
        warnings.append(f"ROIs without contours (empty, left out): {', '.join(empty)}")
    return StructureSet(
        structures=structures,
        path=str(path),
        frame_of_reference_uid=next(iter(frames), None) or set_for,
        patient_id=str(ds.get("PatientID", "") or "") or None,
        empty=empty,
        warnings=warnings,
    )


def _set_frame_of_reference(ds) -> str | None:
    for ref in ds.get("ReferencedFrameOfReferenceSequence", None) or []:
        uid = str(ref.get("FrameOfReferenceUID", "") or "")
        if uid:
            return uid
    return None


def _contours(item, name: str, path) -> tuple[list[np.ndarray], set[str]]:
    """The closed planar contours of one ROI Contour item as (N, 3) arrays, checked; the types seen."""
    contours, kinds = [], set()
    for k, contour in enumerate((item.get("ContourSequence", None) or []) if item is not None else []):
        kind = str(contour.get("ContourGeometricType", "") or "").strip().upper()
        kinds.add(kind)
        if kind != "CLOSED_PLANAR":
            continue
        where = f"{path}: ROI {name!r} contour {k + 1}"
        try:
            data = _contour_data(contour)
        except (TypeError, ValueError, UnicodeDecodeError) as e:
            raise IGRTInputError(f"{where} has unreadable Contour Data") from e
        pts = checked_contour(data, where)
        contours.append(pts)
    return contours, kinds


def checked_contour(data, where: str) -> np.ndarray:
    """A closed axial contour as (N, 3) LPS points from flat x, y, z values, refused in one line when it is
    too short, not finite, not axial, without area or crossing itself (``where`` names it)."""
    data = np.asarray(data, float).ravel()
    if data.size % 3 or data.size < 9:
        raise IGRTInputError(
            f"{where} has {data.size} Contour Data values: a closed contour needs ≥ 3 points"
        )
    pts = data.reshape(-1, 3)
    if not np.all(np.isfinite(pts)):
        raise IGRTInputError(f"{where} has non-finite coordinates")
    if np.ptp(pts[:, 2]) > PLANE_TOL_MM:
        raise IGRTInputError(
            f"{where} is not on an axial plane (z spans {np.ptp(pts[:, 2]):.3f} mm): "
            "only axial contour planes are supported"
        )
    if polygon_area_mm2(pts) < MIN_AREA_MM2:
        raise IGRTInputError(f"{where} encloses no area (all points on a line)")
    if self_intersects(pts):
        raise IGRTInputError(f"{where} crosses itself (self-intersecting polygon at z = {pts[0, 2]:.2f} mm)")
    return pts


def _contour_data(contour) -> np.ndarray:
    """Contour Data (3006,0050) as floats, parsed from the raw DS text when it is still raw (fast)."""
    if 0x30060050 not in contour:
        return np.zeros(0)
    raw = contour.get_item(0x30060050).value
    if isinstance(raw, bytes):
        return np.array(raw.decode("ascii").replace("\\", " ").split(), float)
    values = raw if isinstance(raw, list | tuple) or hasattr(raw, "__len__") else [raw]
    return np.array([float(v) for v in values], float)


def contour_slab_mm(structures: list[Structure], path) -> float:
    """The contour plane spacing of the set: the median gap between neighbouring planes of its ROIs."""
    gaps = []
    for s in structures:
        z = np.unique(np.round([c[0, 2] for c in s.contours], 3))
        gaps.extend(np.diff(z))
    gaps = np.asarray(gaps)
    gaps = gaps[gaps > 1e-3]
    if len(gaps) == 0:
        raise IGRTInputError(
            f"{path}: every ROI is on a single plane, so the slice thickness is unknown: "
            "give a structure set with contours on at least two planes"
        )
    return float(np.median(gaps))


def plane_gap_warnings(s: Structure, slab: float) -> list[str]:
    """Warn where an ROI skips contour planes (that part of it is empty, as drawn)."""
    z = np.unique(np.round([c[0, 2] for c in s.contours], 3))
    skipped = np.flatnonzero(np.diff(z) > 1.5 * slab)
    return [
        f"ROI {s.name!r} has no contour between z = {z[i]:.2f} and {z[i + 1]:.2f} mm (left empty there)"
        for i in skipped
    ]
