"""What the dose workflow reads: a dose grid and structures, with the identity needed to check them.

All coordinates are DICOM patient LPS mm (PS3.3 C.7.6.2.1.1). A structure is held either as planar
contours (RTSTRUCT, PS3.3 C.8.8.6: closed polygons on axial planes) or as a binary mask on its own
grid (label maps, Slicer ``.seg.nrrd``); :mod:`igrt.dose.sampling` turns either into weighted points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk


@dataclass
class Dose:
    """A dose grid: ``image`` float32 (LPS), values in ``units`` ("GY" or "RELATIVE", PS3.3 C.8.8.3)."""

    image: sitk.Image
    paths: list[str]
    units: str = "GY"
    summation_type: str | None = None  # PS3.3 C.8.8.3 Dose Summation Type: PLAN, FRACTION, BEAM, ...
    dose_type: str | None = None  # PHYSICAL, EFFECTIVE, ERROR
    frame_of_reference_uid: str | None = None
    referenced_plan_uid: str | None = None
    patient_id: str | None = None
    sop_instance_uid: str | None = None
    warnings: list[str] = field(default_factory=list)

    _array: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _array_of: sitk.Image | None = field(default=None, init=False, repr=False, compare=False)

    def array(self) -> np.ndarray:
        """The dose values as a read-only (z, y, x) float32 array held by this Dose.

        A copy, not a view of ``image``'s buffer: a view outlives a temporary image (``read_dose(p).array()``)
        and then reads freed memory.
        """
        if self._array is None or self._array_of is not self.image:
            self._array = sitk.GetArrayFromImage(self.image)
            self._array.setflags(write=False)
            self._array_of = self.image
        return self._array

    def max_gy(self) -> float:
        return float(np.max(self.array()))


@dataclass
class Structure:
    """One structure (ROI or segment). Exactly one of ``contours`` / ``mask`` is set.

    ``contours``: list of (N, 3) LPS arrays, each a closed planar polygon on an axial plane; the
    polygons of one plane combine by the even–odd rule (holes). ``mask``: a binary sitk image
    (non-zero = inside) on the structure's own grid. ``color``: (r, g, b) 0–255.
    """

    name: str
    contours: list[np.ndarray] | None = None
    mask: sitk.Image | None = None
    color: tuple[int, int, int] | None = None
    number: int | None = None
    frame_of_reference_uid: str | None = None
    source: str | None = None
    slab_mm: float | None = None  # contours: thickness each contour plane stands for

    def is_empty(self) -> bool:
        if self.contours is not None:
            return len(self.contours) == 0
        return self.mask is None or not np.any(sitk.GetArrayViewFromImage(self.mask))


@dataclass
class StructureSet:
    """The structures of one file, with the structures that were empty named (never silently dropped)."""

    structures: list[Structure]
    path: str
    frame_of_reference_uid: str | None = None
    patient_id: str | None = None
    empty: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [s.name for s in self.structures]
