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


def _keys_weights(t: np.ndarray) -> np.ndarray:
    """Cubic convolution weights (Keys 1981, a = −½: Catmull–Rom) of the samples at offsets −1, 0, 1, 2
    for fractional positions ``t`` ∈ [0, 1): 4 × N."""
    t2, t3 = t * t, t * t * t
    return np.stack(
        [(-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2, (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2]
    )


def _keys_derivatives(t: np.ndarray) -> np.ndarray:
    """d/dt of :func:`_keys_weights`: 4 × N."""
    t2 = t * t
    return np.stack(
        [(-3 * t2 + 4 * t - 1) / 2, (9 * t2 - 10 * t) / 2, (-9 * t2 + 8 * t + 1) / 2, (3 * t2 - 2 * t) / 2]
    )


def _bspline_weights(t: np.ndarray) -> np.ndarray:
    """Cubic B-spline weights of the samples at offsets −1, 0, 1, 2 for ``t`` ∈ [0, 1), the samples taken
    as the coefficients (an approximating kernel: it smooths, by a variance of 1/3 voxel²): 4 × N."""
    t2, t3, s = t * t, t * t * t, 1 - t
    return np.stack([s * s * s / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6])


def _bspline_derivatives(t: np.ndarray) -> np.ndarray:
    """d/dt of :func:`_bspline_weights`: 4 × N."""
    t2, s = t * t, 1 - t
    return np.stack([-s * s / 2, (3 * t2 - 4 * t) / 2, (-3 * t2 + 2 * t + 1) / 2, t2 / 2])


def _kernel(t: np.ndarray, smoothing: float, derivative: bool) -> np.ndarray:
    """Keys' weights (or their derivatives) blended with the B-spline's by the fraction ``smoothing``."""
    keys = (_keys_derivatives if derivative else _keys_weights)(t)
    if smoothing <= 0:
        return keys
    spline = (_bspline_derivatives if derivative else _bspline_weights)(t)
    return (1 - smoothing) * keys + smoothing * spline


def cubic(arr: np.ndarray, idx: np.ndarray, gradient: bool = False, smoothing=(0.0, 0.0, 0.0)):
    """Cubic convolution (Keys, a = −½) of a (z, y, x) array at N continuous (x, y, z) indices; NaN where
    the 4 × 4 × 4 neighbourhood leaves the grid (within a voxel of its faces).

    ``smoothing`` (x, y, z), each in [0, 1]: the kernel along that axis is (1 − s)·Keys + s·cubic B-spline
    (the samples as its coefficients), which smooths by s/3 voxel² of variance, the same at every sub-voxel
    offset (both kernels reproduce polynomials: Keys' has no second moment, the B-spline's is 1/3), at the
    cost of the weights only.

    Why beside :func:`trilinear`: a linear interpolant smooths by an amount that depends on the sub-voxel
    offset, so a similarity measured through it prefers grid-aligned positions. On the block phantom (2.5 mm
    slices, shifted 3 mm) the correlation's optimum lay 0.23 mm short with trilinear values, 0.05 mm with
    these. The interpolant is continuously differentiable; ``gradient=True`` also returns its exact
    derivatives along the index axes (N × 3, x, y, z order, per voxel).
    """
    shape = np.array(arr.shape[::-1])  # (nx, ny, nz)
    base = np.floor(idx).astype(int)
    inside = np.all((base >= 1) & (base <= shape - 3), axis=1)
    base = np.clip(base, 1, shape - 3)
    # Weights in the array's precision when it is single (a working image): a quarter less time, and
    # values to ~1e-7 of their size, far below any image's noise; sums stay in double.
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    t = (idx - base).astype(dtype)
    w = [_kernel(t[:, k], float(smoothing[k]), False) for k in range(3)]
    d = [_kernel(t[:, k], float(smoothing[k]), True) for k in range(3)] if gradient else None
    nx, ny = arr.shape[2], arr.shape[1]
    flat = np.ravel(arr)  # a view of a C-contiguous array (a copy otherwise)
    first = ((base[:, 2] - 1) * ny + base[:, 1] - 1) * nx + base[:, 0] - 1
    value = np.zeros(len(idx), dtype)
    grad = np.zeros((3, len(idx)), dtype) if gradient else None
    for k in range(4):
        for j in range(4):
            offset = (k * ny + j) * nx
            # the 4 samples along x of this (y, z) row, weighted along x (and by the x derivative)
            row = [flat.take(first + (offset + i)) for i in range(4)]
            along_x = w[0][0] * row[0] + w[0][1] * row[1] + w[0][2] * row[2] + w[0][3] * row[3]
            wyz = w[1][j] * w[2][k]
            value += wyz * along_x
            if gradient:
                dx = d[0][0] * row[0] + d[0][1] * row[1] + d[0][2] * row[2] + d[0][3] * row[3]
                grad[0] += wyz * dx
                grad[1] += d[1][j] * w[2][k] * along_x
                grad[2] += w[1][j] * d[2][k] * along_x
    value = value.astype(np.float64)
    value[~inside] = np.nan
    if not gradient:
        return value
    grad = grad.T.astype(np.float64)
    grad[~inside] = np.nan
    return value, grad


def same_grid(a: sitk.Image, b: sitk.Image, tol_mm: float = 1e-4, tol_direction: float = 1e-6) -> bool:
    """True when ``a`` and ``b`` have the same voxel grid: size, origin and spacing within ``tol_mm``
    (absolute), direction cosines within ``tol_direction``."""
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tol_mm)
        and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=0, atol=tol_mm)
        and np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tol_direction)
    )
