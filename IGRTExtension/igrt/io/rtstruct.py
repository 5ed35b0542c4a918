"""Point ROIs of a DICOM RT Structure Set (implanted markers, isocenter marks, reference points).

PS3.3 C.8.8.6 (ROI Contour): each ROI Contour Sequence (3006,0039) item refers to a Structure Set ROI
(3006,0020) by Referenced ROI Number (3006,0084); its Contour Sequence (3006,0040) items carry a
Contour Geometric Type (3006,0042), Number of Contour Points (3006,0046) and Contour Data (3006,0050)
as x\\y\\z triplets in the patient coordinate system (LPS mm, PS3.3 C.7.6.2.1.1). A "POINT" contour
has one triplet. SlicerRT loads such ROIs as one markups point list per ROI (see
``igrt.mrml.fiducials``); this reader gives the same points without Slicer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from igrt.errors import IGRTInputError
from igrt.io.dicom_object import read_dicom_object

RT_STRUCTURE_SET_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def _is_rtstruct(ds) -> bool:
    return str(ds.get("SOPClassUID", "") or "") == RT_STRUCTURE_SET_CLASS or ds.get("Modality") == "RTSTRUCT"


def read_rtstruct(path):
    """The dataset of an RTSTRUCT file, or one clear line why not."""
    p = Path(path)
    ds = read_dicom_object(p, "RT structure set")
    if not _is_rtstruct(ds):
        what = ds.get("Modality") or "not DICOM"
        raise IGRTInputError(f"{p} is not an RT structure set (it is {what})")
    return ds


def read_point_rois(path) -> list[tuple[str, np.ndarray]]:
    """[(ROI name, position LPS mm)] of every POINT contour of an RTSTRUCT, in file order.

    An ROI with several POINT contours gives several entries (same name). Refuses a file that is not
    an RT structure set, or one without any POINT contour.
    """
    ds = read_rtstruct(path)
    names = {}
    for roi in ds.get("StructureSetROISequence", None) or []:
        if "ROINumber" in roi:
            names[int(roi.ROINumber)] = str(roi.get("ROIName", "") or "").strip()
    points = []
    for item in ds.get("ROIContourSequence", None) or []:
        number = int(item.ReferencedROINumber) if "ReferencedROINumber" in item else None
        name = names.get(number) or f"ROI {number}"
        for contour in item.get("ContourSequence", None) or []:
            if str(contour.get("ContourGeometricType", "")).strip().upper() != "POINT":
                continue
            try:
                data = np.array([float(v) for v in contour.ContourData], float)
            except (AttributeError, TypeError, ValueError) as e:
                raise IGRTInputError(f"{path}: POINT ROI {name!r} has unreadable Contour Data") from e
            if data.size != 3 or not np.all(np.isfinite(data)):
                raise IGRTInputError(
                    f"{path}: POINT ROI {name!r} has {data.size} Contour Data values, expected x, y, z"
                )
            points.append((name, data))
    if not points:
        raise IGRTInputError(f"{path}: the RT structure set has no POINT ROI (no marker positions)")
    return points
