"""DICOM RT Dose (PS3.3 C.8.8.3) as a :class:`igrt.dose.model.Dose` in Gy on an LPS grid.

- Dose values: stored pixel value × Dose Grid Scaling (3004,000E); a file without the scaling is
  refused (its numbers have no unit). Dose Units (3004,0002): GY or RELATIVE.
- Frames: Grid Frame Offset Vector (3004,000C), PS3.3 C.8.8.3.2. When its first element is 0 the
  offsets are relative: frame k lies at Image Position (Patient) + offset_k · n, with n = row × column
  of Image Orientation (Patient). Otherwise (only for the axial orientation 1\\0\\0\\0\\1\\0) the first
  offset equals the z of Image Position (Patient) and the offsets are the frames' absolute z.
  Frames may come in either order; they are sorted along n and must be uniformly spaced (the same
  checks as an image series, :func:`igrt.io.dicom_geometry.series_grid`).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.dose.model import Dose
from igrt.errors import IGRTInputError
from igrt.io.dicom_geometry import SliceGeometry, series_grid
from igrt.io.dicom_object import read_dicom_object

RT_DOSE_CLASS = "1.2.840.10008.5.1.4.1.1.481.2"
DOSE_UNITS = ("GY", "RELATIVE")
OFFSET_TOL_MM = 1e-3


def is_rtdose(ds) -> bool:
    return str(ds.get("SOPClassUID", "") or "") == RT_DOSE_CLASS or ds.get("Modality") == "RTDOSE"


def read_rtdose(path) -> Dose:
    """One RTDOSE file; one clear line (:class:`IGRTInputError`) when it cannot be read as a dose grid."""
    ds = read_dicom_object(path, "RT dose")
    if not is_rtdose(ds):
        raise IGRTInputError(f"{path} is not an RT dose (it is {ds.get('Modality') or 'not DICOM'})")
    for key in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
        if key not in ds:
            raise IGRTInputError(f"{path}: RT dose without {key}: no dose grid geometry")
    if "DoseGridScaling" not in ds or ds.DoseGridScaling in (None, ""):
        raise IGRTInputError(
            f"{path}: RT dose without Dose Grid Scaling (3004,000E): its values have no unit"
        )
    scaling = float(ds.DoseGridScaling)
    if not np.isfinite(scaling) or scaling <= 0:
        raise IGRTInputError(f"{path}: Dose Grid Scaling is {scaling}: it must be a positive number")
    units = str(ds.get("DoseUnits", "") or "").strip().upper()
    if units not in DOSE_UNITS:
        raise IGRTInputError(f"{path}: Dose Units {units or '(missing)'!r}: expected GY or RELATIVE")
    try:
        pixels = np.asarray(ds.pixel_array)
    except Exception as e:  # pydicom raises many types for missing/compressed pixel data
        raise IGRTInputError(
            f"{path}: cannot decode the dose pixels ({' '.join(str(e).split())[:160]})"
        ) from e
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = pixels.reshape(frames, int(ds.Rows), int(ds.Columns))
    offsets = _frame_offsets(ds, frames, path)
    position = np.array([float(v) for v in ds.ImagePositionPatient])
    orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
    normal = np.cross(orientation[:3], orientation[3:])
    positions = _frame_positions(position, orientation, normal, offsets, path)
    spacing = np.array([float(v) for v in ds.PixelSpacing])
    slices = [
        SliceGeometry(f"frame {k + 1}", positions[k], orientation, spacing, int(ds.Rows), int(ds.Columns))
        for k in range(frames)
    ]
    grid = series_grid(slices, f"RT dose {path}")
    values = pixels[grid.order].astype(np.float64) * scaling
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.SetOrigin([float(v) for v in grid.origin])
    image.SetSpacing([float(v) for v in grid.spacing])
    image.SetDirection([float(v) for v in grid.direction.ravel()])
    plan = None
    for ref in ds.get("ReferencedRTPlanSequence", None) or []:
        plan = str(ref.get("ReferencedSOPInstanceUID", "") or "") or None
    return Dose(
        image=image,
        paths=[str(path)],
        units=units,
        summation_type=str(ds.get("DoseSummationType", "") or "").strip().upper() or None,
        dose_type=str(ds.get("DoseType", "") or "").strip().upper() or None,
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "") or "") or None,
        referenced_plan_uid=plan,
        patient_id=str(ds.get("PatientID", "") or "") or None,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "") or "") or None,
    )


def _frame_offsets(ds, frames: int, path) -> np.ndarray:
    raw = ds.get("GridFrameOffsetVector", None)
    if frames < 2:
        raise IGRTInputError(f"{path}: RT dose with {frames} frame: a 3-D dose grid is needed")
    if raw is None:
        raise IGRTInputError(f"{path}: multi-frame RT dose without Grid Frame Offset Vector (3004,000C)")
    try:
        offsets = np.array([float(v) for v in (raw if hasattr(raw, "__len__") else [raw])], float)
    except (TypeError, ValueError) as e:
        raise IGRTInputError(f"{path}: unreadable Grid Frame Offset Vector") from e
    if len(offsets) != frames or not np.all(np.isfinite(offsets)):
        raise IGRTInputError(
            f"{path}: Grid Frame Offset Vector has {len(offsets)} values for {frames} frames"
        )
    return offsets


def _frame_positions(position, orientation, normal, offsets, path) -> np.ndarray:
    """LPS position of every frame's first voxel (PS3.3 C.8.8.3.2, relative or absolute offsets)."""
    if abs(offsets[0]) < OFFSET_TOL_MM:
        return position[None, :] + offsets[:, None] * normal[None, :]
    axial = np.allclose(orientation, [1, 0, 0, 0, 1, 0], atol=1e-6)
    if axial and abs(offsets[0] - position[2]) < OFFSET_TOL_MM:
        out = np.repeat(position[None, :], len(offsets), axis=0)
        out[:, 2] = offsets
        return out
    raise IGRTInputError(
        f"{path}: Grid Frame Offset Vector starts at {offsets[0]:g}: neither 0 (relative offsets) nor the "
        f"Image Position z {position[2]:g} of an axial grid (absolute offsets), PS3.3 C.8.8.3.2"
    )
