"""Vectorised maps between an image grid's voxel indices and LPS mm (sitk origin/spacing/direction).

SimpleITK (like DICOM, PS3.3 C.7.6.2.1.1) places index i at ``origin + direction · (spacing ∘ i)``;
these helpers apply that to N points at once (sitk's own methods take one point per call).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def index_to_lps_matrix(image: sitk.Image) -> np.ndarray:
    """4×4 mapping a continuous index (x, y, z) of ``image`` to LPS mm."""
    d = np.asarray(image.GetDirection(), float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = d @ np.diag(image.GetSpacing())
    m[:3, 3] = image.GetOrigin()
    return m


def lps_to_index(image: sitk.Image, points) -> np.ndarray:
    """Continuous (x, y, z) indices of N×3 LPS points in ``image``."""
    m = np.linalg.inv(index_to_lps_matrix(image))
    p = np.asarray(points, float)
    return p @ m[:3, :3].T + m[:3, 3]


def index_to_lps(image: sitk.Image, index) -> np.ndarray:
    """LPS mm of N×3 continuous (x, y, z) indices of ``image``."""
    m = index_to_lps_matrix(image)
    return np.asarray(index, float) @ m[:3, :3].T + m[:3, 3]


def trilinear(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Trilinear values of a (z, y, x) array at N continuous (x, y, z) indices; NaN outside the grid.

    NumPy only: the core must import where SciPy is not bundled (3D Slicer). The eight corners are read
    from the flat array at one base offset each (``take``: 1.8× faster than indexing by three arrays).
    """
    shape = np.array(arr.shape[::-1])  # (nx, ny, nz)
    inside = np.all((idx >= 0) & (idx <= shape - 1), axis=1)
    lo = np.clip(np.floor(idx).astype(int), 0, shape - 2)
    w = np.clip(idx - lo, 0.0, 1.0)
    nx, ny = arr.shape[2], arr.shape[1]
    flat = np.ravel(arr)  # a view of a C-contiguous array (a copy otherwise)
    base = (lo[:, 2] * ny + lo[:, 1]) * nx + lo[:, 0]
    wx, wy, wz = ((1 - w[:, k], w[:, k]) for k in range(3))
    out = np.zeros(len(idx))
    for dx in (0, 1):
        for dy in (0, 1):
            wxy = wx[dx] * wy[dy]
            for dz in (0, 1):
                out += (wxy * wz[dz]) * flat.take(base + ((dz * ny + dy) * nx + dx))
    out[~inside] = np.nan
    return out


def same_grid(a: sitk.Image, b: sitk.Image, tol_mm: float = 1e-4, tol_direction: float = 1e-6) -> bool:
    """True when ``a`` and ``b`` have the same voxel grid: size, origin and spacing within ``tol_mm``
    (absolute), direction cosines within ``tol_direction``."""
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tol_mm)
        and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=0, atol=tol_mm)
        and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tol_direction)
    )
