"""Which points lie inside a structure (for drawing structures on image slices, not for DVHs).

Contours: a point belongs to the contour plane whose slab holds its z (the structure ends at its first and
last planes, as in :mod:`igrt.dose.sampling`) and is inside when a ray towards +x crosses that plane's
polygons an odd number of times (even–odd rule). Masks: the voxel holding the point is inside.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.dose.model import Structure
from igrt.image_grid import lps_to_index


def _inside_polygons(xy: np.ndarray, polygons) -> np.ndarray:
    """Even–odd test of N points against the edges of ``polygons`` ((M, ≥2) arrays), vectorised over edges."""
    a = np.concatenate([np.asarray(p, float)[:, :2] for p in polygons])
    b = np.concatenate([np.roll(np.asarray(p, float)[:, :2], -1, axis=0) for p in polygons])
    x, y = xy[:, :1], xy[:, 1:2]
    spans = (np.minimum(a[:, 1], b[:, 1]) <= y) & (y < np.maximum(a[:, 1], b[:, 1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return (np.count_nonzero(spans & (x_cross > x), axis=1) % 2).astype(bool)


def structure_contains(structure: Structure, points) -> np.ndarray:
    """Boolean per N×3 LPS point: inside ``structure``."""
    p = np.atleast_2d(np.asarray(points, float))
    out = np.zeros(len(p), bool)
    if structure.mask is not None:
        size = np.asarray(structure.mask.GetSize())
        idx = np.rint(lps_to_index(structure.mask, p)).astype(int)
        ok = np.all((idx >= 0) & (idx < size), axis=1)
        a = sitk.GetArrayViewFromImage(structure.mask)
        out[ok] = a[idx[ok, 2], idx[ok, 1], idx[ok, 0]] != 0
        return out
    planes = {}
    for c in structure.contours:
        planes.setdefault(round(float(c[0, 2]), 3), []).append(c)
    z = np.array(sorted(planes))
    half = structure.slab_mm / 2.0
    lo, hi = (z[0], z[-1]) if len(z) > 1 else (z[0] - half, z[0] + half)
    near = np.abs(p[:, 2:3] - z[None, :]).argmin(axis=1)
    use = (p[:, 2] >= lo) & (p[:, 2] <= hi) & (np.abs(p[:, 2] - z[near]) <= half + 1e-9)
    for k in np.unique(near[use]):
        sel = np.flatnonzero(use & (near == k))
        out[sel] = _inside_polygons(p[sel, :2], planes[z[k]])
    return out
