"""Shared pytest fixtures: paths to the read-only shared data and small synthetic images.

Fixtures and a few helpers several test folders share; each test file owns its own test data builders.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` next to the checkout; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present next to the checkout")
    return SHARED_DATA


def make_block_phantom(
    size=(110, 90, 64), spacing=(2.0, 2.0, 2.5), origin=(-105.0, -140.0, 220.0), edge_mm: float = 0.0
):
    """A small asymmetric HU phantom (body, bones, an air pocket) that constrains all 6 DOF.

    ``edge_mm`` > 0: every edge is blurred by a Gaussian of that sigma (an error-function step across the
    shapes' approximate signed distance), as a scanner's point-spread function does; 0: hard edges,
    sampled at the voxel centres (aliased on a coarse grid: an edge's position is then known only to
    the voxel).
    """
    from scipy.special import erfc

    nx, ny, nz = size
    z, y, x = np.meshgrid(
        *(np.arange(n) * s for n, s in zip((nz, ny, nx), spacing[::-1], strict=True)), indexing="ij"
    )
    x = x - nx * spacing[0] / 2
    y = y - ny * spacing[1] / 2
    z = z - nz * spacing[2] / 2

    def inside(distance, closed=False):  # 0 … 1: how much of a voxel is inside (signed distance, mm)
        if edge_mm <= 0:
            return ((distance <= 0) if closed else (distance < 0)).astype(np.float32)
        return (0.5 * erfc(distance / (np.sqrt(2.0) * edge_mm))).astype(np.float32)

    def ellipsoid(q, radius):  # q < 1 inside; distance ≈ (√q − 1) × the mean radius
        return inside((np.sqrt(q) - 1.0) * radius)

    a = np.full(x.shape, -1000.0, np.float32)

    def paint(alpha, value):
        a[...] = a * (1 - alpha) + value * alpha

    body = ellipsoid((x / 95) ** 2 + (y / 75) ** 2, 85.0)
    paint(body, 30.0)
    # Bones: two tilted rods and one that ends inside the volume, so that z is constrained as well.
    for bx, by, br, tilt, zmax in ((-50, 10, 14, 0.25, 99), (45, 5, 12, -0.15, 99), (0, 45, 10, 0.0, 25)):
        r = np.sqrt((x - bx - tilt * z) ** 2 + (y - by) ** 2)
        paint(body * inside(np.maximum(r - br, z - zmax)), 1200.0)  # the cortex, then the marrow inside it
        paint(body * inside(np.maximum(r - (br - 4), z - (zmax - 4)), closed=True), 300.0)
    paint(ellipsoid(((x - 10) / 9) ** 2 + ((y - 20) / 9) ** 2 + ((z + 45) / 9) ** 2, 9.0), 1100.0)
    paint(ellipsoid(((x + 20) / 15) ** 2 + ((y + 25) / 10) ** 2 + ((z - 15) / 20) ** 2, 15.0), 900.0)
    paint(ellipsoid(((x - 25) / 12) ** 2 + ((y + 20) / 12) ** 2 + ((z + 20) / 12) ** 2, 12.0), -700.0)
    a += np.random.default_rng(0).normal(0, 5, a.shape).astype(np.float32)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def move_patient(planning: sitk.Image, matrix_lps, hu_scale=1.0, hu_offset=0.0, noise=0.0, seed=1):
    """The daily image of a patient displaced by ``matrix_lps``, on the planning grid and frame.

    Daily value at point q is the planning value at M⁻¹(q) (docs/CONVENTIONS.md direction).
    """
    inv = np.linalg.inv(np.asarray(matrix_lps, float))
    t = sitk.AffineTransform(3)
    t.SetMatrix([float(v) for v in inv[:3, :3].ravel()])
    t.SetTranslation([float(v) for v in inv[:3, 3]])
    out = sitk.Resample(planning, planning, t, sitk.sitkBSpline, -1000.0, sitk.sitkFloat32)
    a = sitk.GetArrayFromImage(out) * hu_scale + hu_offset
    if noise:
        a += np.random.default_rng(seed).normal(0, noise, a.shape)
    img = sitk.GetImageFromArray(a.astype(np.float32))
    img.CopyInformation(planning)
    return img


def import_module_file(name: str):
    """The scripted module ``IGRTExtension/<name>/<name>.py``, imported as Slicer loads it (its folder on sys.path)."""
    folder = str(REPO / "IGRTExtension" / name)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def table_column(node, name: str) -> list:
    """The values of column ``name`` of a vtkMRMLTableNode, row by row."""
    t = node.GetTable()
    col = t.GetColumnByName(name)
    return [col.GetValue(i) for i in range(t.GetNumberOfRows())]


@pytest.fixture(scope="session")
def block_phantom():
    return make_block_phantom()


def block_with_markers(centers_index, size, origin, spacing=(1.0, 1.0, 1.25), hu=8000.0):
    """The block phantom with gold cylinders (1 mm × 3 mm, axis along z) at voxel positions
    ``centers_index`` (continuous i, j, k); returns (image, true centres LPS mm)."""
    from igrt.synth.markers import Marker, add_to_array

    img = make_block_phantom(size=size, spacing=spacing, origin=origin)
    arr = sitk.GetArrayFromImage(img)
    truth = np.array([img.TransformContinuousIndexToPhysicalPoint(c) for c in centers_index])
    markers = [Marker("cylinder", tuple(c), (0.0, 0.0, 1.0), 3.0, 1.0) for c in truth]
    add_to_array(arr, markers, img.GetOrigin(), img.GetSpacing(), np.reshape(img.GetDirection(), (3, 3)), hu)
    out = sitk.GetImageFromArray(arr.astype(np.float32))
    out.CopyInformation(img)
    return out, truth
