"""A loaded image volume with the DICOM identity the workflow must check before matching."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError


def finite_image(image: sitk.Image, where: str = "the image") -> tuple[sitk.Image, str | None]:
    """``image`` with NaN / infinite voxels set to its lowest finite value, and a warning saying so.

    Some reconstructions write NaN outside the reconstructed field of view; one such voxel would make
    every filter's output NaN. The lowest value is what the rest of the outside holds (air or the
    scanner's padding), so these voxels read as outside the field of view. An image without one
    finite voxel is refused. Returns ``(image, None)`` unchanged when every voxel is finite.
    """
    view = sitk.GetArrayViewFromImage(image)
    # A sum in the image's own precision is NaN/Inf when a voxel is (5× faster than in float64); one that
    # overflows from finite voxels is caught below.
    if view.dtype.kind != "f":
        return image, None
    with np.errstate(over="ignore"):
        total = np.sum(view)
    if np.isfinite(total):
        return image, None
    arr = sitk.GetArrayFromImage(image)
    bad = ~np.isfinite(arr)
    if not bad.any():
        return image, None
    if bad.all():
        raise IGRTInputError(f"{where} holds no finite voxel (all NaN or infinite)")
    fill = float(arr[~bad].min())
    arr[bad] = fill
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    n = int(bad.sum())
    return out, (
        f"{where}: {n} voxel(s) ({100.0 * n / bad.size:.2g}%) are NaN or infinite: read as outside the field "
        f"of view (set to the image's lowest value, {fill:g})"
    )


def as_float32(image: sitk.Image) -> sitk.Image:
    """``image`` as float32: the same image when it already is (a cast copies every voxel: 20 ms for a
    CBCT), a cast copy otherwise."""
    if image.GetPixelID() == sitk.sitkFloat32:
        return image
    return sitk.Cast(image, sitk.sitkFloat32)


@dataclass
class Volume:
    """An image in DICOM patient coordinates (LPS, mm) plus where it came from.

    ``image`` is a float32 SimpleITK image whose origin/spacing/direction are LPS (DICOM PS3.3
    C.7.6.2). Identity fields are ``None`` when the source (e.g. a NRRD file) does not carry them.
    """

    image: sitk.Image
    path: str
    modality: str | None = None
    patient_id: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    frame_of_reference_uid: str | None = None
    patient_position: str | None = None
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.image, note = finite_image(self.image, self.path)
        if note:
            self.warnings.append(note)

    def center_lps(self):
        """Physical center of the image grid (LPS mm): the default daily isocenter of a CBCT."""
        size = self.image.GetSize()
        return self.image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in size])

    def identity(self) -> dict:
        """The fields recorded in the result JSON's ``inputs``."""
        return {
            "path": self.path,
            "modality": self.modality,
            "patient_id": self.patient_id,
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "patient_position": self.patient_position,
            "size": list(self.image.GetSize()),
            "spacing_mm": [round(s, 6) for s in self.image.GetSpacing()],
        }
