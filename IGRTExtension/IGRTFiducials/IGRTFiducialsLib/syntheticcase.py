"""A small known-transform marker case for the module's self-test: water block with gold markers.

Planning: a water block (0 HU) in air with a bone rod (1200 HU, not a marker) and four gold cylinders
(1 mm × 3 mm, 8000 HU) at non-integer voxel positions, drawn with their partial volume by the
generator's marker renderer (``igrt.synth.markers``). Daily: the same patient displaced by a known rigid ``matrix_lps`` (docs/CONVENTIONS.md: the daily
value at q is the planning value at M⁻¹(q)), on the same grid and frame.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.synth.markers import Marker, add_to_array

#: Marker centers (continuous voxel index i, j, k): a spread like prostate seeds, no symmetry.
MARKER_INDEX = ((38.3, 40.6, 20.2), (55.7, 36.2, 27.9), (47.5, 52.1, 33.4), (33.2, 49.7, 38.6))
SIZE = (90, 90, 60)
SPACING = (1.0, 1.0, 1.25)
ORIGIN = (-45.0, -60.0, 100.0)


def planning_image() -> tuple[sitk.Image, np.ndarray]:
    """(planning CT, marker centers LPS N×3)."""
    nx, ny, nz = SIZE
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    a = np.full((nz, ny, nx), -1000.0)
    a[(i > 5) & (i < nx - 6) & (j > 8) & (j < ny - 8)] = 0.0  # water block
    a[((i - 70) ** 2 + (j - 65) ** 2) < 36] = 1200.0  # bone rod along z
    a += np.random.default_rng(3).normal(0.0, 5.0, a.shape)
    image = sitk.GetImageFromArray(a.astype(np.float32))
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    centers = np.array([image.TransformContinuousIndexToPhysicalPoint(c) for c in MARKER_INDEX])
    markers = [Marker("cylinder", tuple(c), (0.0, 0.0, 1.0), 3.0, 1.0) for c in centers]
    add_to_array(a, markers, ORIGIN, SPACING, np.eye(3), 8000.0)
    with_markers = sitk.GetImageFromArray(a.astype(np.float32))
    with_markers.CopyInformation(image)
    return with_markers, centers


def move_patient(planning: sitk.Image, matrix_lps) -> sitk.Image:
    """The daily image of the patient displaced by ``matrix_lps`` (LPS), same grid and frame."""
    inv = np.linalg.inv(np.asarray(matrix_lps, float))
    t = sitk.AffineTransform(3)
    t.SetMatrix([float(v) for v in inv[:3, :3].ravel()])
    t.SetTranslation([float(v) for v in inv[:3, 3]])
    return sitk.Resample(planning, planning, t, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
