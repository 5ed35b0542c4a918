"""Signed-distance primitives and a box-restricted painter for building phantoms with numpy.

Shapes are signed distance functions (negative inside, mm) evaluated on broadcast coordinate arrays
(x: (1,1,nx), y: (1,ny,1), z: (nz,1,1)), so a shape costs only the voxels of its bounding box and
edges can be anti-aliased from the distance (partial-volume voxels, like a real CT) instead of being
staircased.
"""

from __future__ import annotations

import numpy as np


class Grid:
    """Voxel-centre coordinates of an LPS image grid, in anatomy units relative to ``center``.

    ``scale`` shrinks or grows the anatomy: a point's anatomy coordinate is (p - center) / scale.
    """

    def __init__(self, size, spacing, origin, center, scale=1.0):
        self.size = tuple(int(n) for n in size)
        self.scale = float(scale)
        self.axes = [
            ((o + np.arange(n) * s - c) / self.scale).astype(np.float32)
            for n, s, o, c in zip(self.size, spacing, origin, center, strict=True)
        ]
        #: edge width (anatomy units) over which a boundary is blended: about one voxel.
        self.edge = float(np.mean(spacing[:2])) / self.scale

    def box(self, lo, hi):
        """Array slices (z, y, x) and broadcast coordinates of the voxels inside the box [lo, hi]."""
        sl, co = [], []
        for ax, a, b in zip(self.axes, lo, hi, strict=True):
            i0 = int(np.searchsorted(ax, a - 2 * self.edge))
            i1 = int(np.searchsorted(ax, b + 2 * self.edge, side="right"))
            sl.append(slice(i0, max(i0, i1)))
            co.append(ax[i0:i1])
        x = co[0][None, None, :]
        y = co[1][None, :, None]
        z = co[2][:, None, None]
        return (sl[2], sl[1], sl[0]), x, y, z

    def blend(self, f):
        """Fraction of a voxel inside a shape from its signed distance (linear ramp over one voxel)."""
        return np.clip(0.5 - f / self.edge, 0.0, 1.0)


def paint(arr, grid: Grid, lo, hi, sdf, value):
    """Blend ``value`` into ``arr`` inside the shape ``sdf(x, y, z)`` (restricted to its box)."""
    sl, x, y, z = grid.box(lo, hi)
    if arr[sl].size == 0:
        return
    a = grid.blend(sdf(x, y, z))
    arr[sl] += a * (np.float32(value) - arr[sl])


def union_into(field, grid: Grid, lo, hi, sdf):
    """field = min(field, sdf) inside the box: the union of shapes as one distance field."""
    sl, x, y, z = grid.box(lo, hi)
    if field[sl].size == 0:
        return
    np.minimum(field[sl], sdf(x, y, z), out=field[sl])


def sphere(c, r):
    def f(x, y, z):
        return np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) - r

    return f


def ellipsoid(c, semi):
    """Approximate ellipsoid distance (k0·(k0−1)/k1): exact on the axes, smooth everywhere."""
    a, b, cc = semi

    def f(x, y, z):
        dx, dy, dz = (x - c[0]), (y - c[1]), (z - c[2])
        k0 = np.sqrt((dx / a) ** 2 + (dy / b) ** 2 + (dz / cc) ** 2)
        k1 = np.sqrt((dx / a**2) ** 2 + (dy / b**2) ** 2 + (dz / cc**2) ** 2)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)

    return f


def ellipse2d(dx, dy, a, b):
    """Approximate 2-D ellipse distance in the axial plane (a, b may vary along z)."""
    k0 = np.sqrt((dx / a) ** 2 + (dy / b) ** 2)
    k1 = np.sqrt((dx / a**2) ** 2 + (dy / b**2) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)


def elliptic_cylinder(cx, cy, a, b, z0, z1):
    """Elliptic cylinder along z between z0 and z1; cx, cy, a, b may be functions of z."""

    def f(x, y, z):
        ev = [v(z) if callable(v) else v for v in (cx, cy, a, b)]
        d = ellipse2d(x - ev[0], y - ev[1], ev[2], ev[3])
        return np.maximum(d, np.abs(z - (z0 + z1) / 2) - (z1 - z0) / 2)

    return f


def capsule(p0, p1, r):
    """Segment p0–p1 thickened by radius r (bones' shafts, rami, processes)."""
    p0 = np.asarray(p0, np.float32)
    d = np.asarray(p1, np.float32) - p0
    dd = float(d @ d)

    def f(x, y, z):
        px, py, pz = x - p0[0], y - p0[1], z - p0[2]
        t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / dd, 0.0, 1.0)
        return np.sqrt((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2) - r

    return f


def intersect(*fs):
    def f(x, y, z):
        out = fs[0](x, y, z)
        for g in fs[1:]:
            out = np.maximum(out, g(x, y, z))
        return out

    return f


def subtract(fa, fb):
    def f(x, y, z):
        return np.maximum(fa(x, y, z), -fb(x, y, z))

    return f


def halfspace(axis, value, keep_above=True):
    """Points with coordinate[axis] above (or below) ``value``: a plane cut."""

    def f(x, y, z):
        c = (x, y, z)[axis]
        return (value - c) if keep_above else (c - value)

    return f


def shell(fa, thickness):
    """A shell of the given thickness centred on the surface of ``fa``."""

    def f(x, y, z):
        return np.abs(fa(x, y, z)) - thickness / 2

    return f
