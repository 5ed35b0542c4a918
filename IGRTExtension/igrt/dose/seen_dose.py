"""The dose seen by the planned anatomy in a fraction (static dose cloud): one rule for both DVH engines.

The planned dose D stays fixed in the room; the anatomy is displaced by the placement matrix M (LPS mm,
DESIGN.md: M maps a planned point to where that anatomy is). A planned point p therefore receives
D(M·p). :func:`dose_at_placed_points` evaluates it at sample points (the igrt core DVH);
:func:`dose_seen_by_planned_anatomy` evaluates it at every voxel centre of the dose grid, giving a dose
volume in the planning frame on which any DVH engine (SlicerRT's Dose Volume Histogram) computes the
fraction DVH of the planned structures. Where M·p leaves the dose grid the dose is 0 Gy.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from igrt import geometry
from igrt.dose.dvh import dose_at_points
from igrt.dose.model import Dose
from igrt.image_grid import index_to_lps

CHUNK_POINTS = 1_000_000  # voxel centres evaluated at once (bounds the memory of a large grid)


def dose_at_placed_points(dose: Dose, matrix_lps, points) -> tuple[np.ndarray, np.ndarray]:
    """(D(M·p) for every point p, 0 where M·p is outside the grid; mask of those inside). N×3 LPS mm."""
    values = np.zeros(len(points))
    moved, inside = dose_at_points(dose, geometry.apply(matrix_lps, points))
    values[inside] = moved
    return values, inside


def dose_seen_by_planned_anatomy(dose: Dose, matrix_lps) -> Dose:
    """The dose volume D(M·p) on the dose grid (planning frame), 0 Gy where M·p is outside the grid.

    M = identity gives the planned dose back (trilinear at the voxel centres: to rounding, 5e-14 Gy on the
    Eclipse prostate dose).
    """
    image = dose.image
    size = image.GetSize()
    out = np.zeros(size[::-1], np.float32)
    flat = out.reshape(-1)
    plane = size[0] * size[1]
    slices = max(1, CHUNK_POINTS // plane)
    for z0 in range(0, size[2], slices):  # a few slabs of slices, each vectorised
        z1 = min(size[2], z0 + slices)
        z, y, x = np.meshgrid(np.arange(z0, z1), np.arange(size[1]), np.arange(size[0]), indexing="ij")
        index = np.column_stack([x.ravel(), y.ravel(), z.ravel()]).astype(float)
        flat[z0 * plane : z1 * plane] = dose_at_placed_points(dose, matrix_lps, index_to_lps(image, index))[0]
    seen = sitk.GetImageFromArray(out)
    seen.CopyInformation(image)
    # a derived dose: the plan's identity and units, not the RTDOSE instance it came from
    return replace(
        dose, image=seen, paths=list(dose.paths), sop_instance_uid=None, warnings=list(dose.warnings)
    )
