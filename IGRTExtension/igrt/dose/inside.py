"""Which points lie inside a structure (for drawing structures on image slices, not for DVHs).

Contours: where the structure is, is :mod:`igrt.dose.contour_stack`'s rule (each plane's slab, the end
caps). A point belongs to the plane whose slab holds its z and is inside when its (x, y) — on a cap, first
scaled back to the end plane — is inside that plane's polygons by the even–odd rule. Masks: the voxel
holding the point is inside.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.dose.contour_stack import contour_stack
from igrt.dose.model import Structure
from igrt.dose.rasterize import points_in_polygons
from igrt.image_grid import lps_to_index


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
    stack = contour_stack(structure)
    scale = stack.scale_at(p[:, 2])
    plane = stack.plane_of(p[:, 2])
    in_slab = np.abs(p[:, 2] - stack.z[plane]) <= stack.slab_mm / 2.0 + 1e-9  # not in a skipped gap
    held = (scale > 0) & in_slab
    for k in np.unique(plane[held]):
        sel = np.flatnonzero((plane == k) & held)
        # a point on an end cap is inside when its image under the inverse scaling is in the end plane's region
        c = stack.centres[k]
        xy = c + (p[sel, :2] - c) / scale[sel, None]
        out[sel] = points_in_polygons(xy, stack.polygons[k])
    return out
