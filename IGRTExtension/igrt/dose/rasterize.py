"""Fill closed planar polygons on a regular 2-D grid by the even–odd rule, vectorised by scanlines.

A grid point (x0 + i·h, y0 + j·h) is inside when a ray from it towards +x crosses the polygons' edges an
odd number of times (even–odd rule: a contour inside another is a hole, PS3.3 C.8.8.6.1 leaves the
inner/outer meaning to the contours' nesting). Each edge counts on the half-open row range
min(y) ≤ y < max(y), so a vertex on a scanline is counted once and horizontal edges never.
"""

from __future__ import annotations

import numpy as np


def fill_polygons(polygons, x0: float, y0: float, h: float, nx: int, ny: int) -> np.ndarray:
    """Boolean (ny, nx) mask of the grid points inside ``polygons`` (list of (N, 2) x, y arrays, mm)."""
    starts, ends = [], []
    for poly in polygons:
        p = np.asarray(poly, float)[:, :2]
        starts.append(p)
        ends.append(np.roll(p, -1, axis=0))
    if not starts:
        return np.zeros((ny, nx), bool)
    a = np.concatenate(starts)
    b = np.concatenate(ends)
    ylo = np.minimum(a[:, 1], b[:, 1])
    yhi = np.maximum(a[:, 1], b[:, 1])
    # rows j with ylo <= y0 + j h < yhi
    j_lo = np.clip(np.ceil((ylo - y0) / h), 0, ny).astype(np.int64)
    j_hi = np.clip(np.ceil((yhi - y0) / h), 0, ny).astype(np.int64)
    count = np.maximum(j_hi - j_lo, 0)
    total = int(count.sum())
    if total == 0:
        return np.zeros((ny, nx), bool)
    edge = np.repeat(np.arange(len(a)), count)
    first = np.repeat(np.cumsum(count) - count, count)
    row = j_lo[edge] + (np.arange(total) - first)
    y = y0 + row * h
    xa, ya, xb, yb = a[edge, 0], a[edge, 1], b[edge, 0], b[edge, 1]
    x_cross = xa + (y - ya) * (xb - xa) / (yb - ya)
    # the crossing toggles inside/outside for every grid column at or right of it
    col = np.clip(np.ceil((x_cross - x0) / h), 0, nx).astype(np.int64)
    toggles = np.bincount(row * (nx + 1) + col, minlength=ny * (nx + 1)).reshape(ny, nx + 1)
    return (np.cumsum(toggles[:, :nx], axis=1) % 2).astype(bool)


def polygon_area_mm2(poly) -> float:
    """Signed-area magnitude of one closed polygon (shoelace formula), mm²."""
    p = np.asarray(poly, float)
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def self_intersects(poly, tol: float = 1e-9) -> bool:
    """True when two non-adjacent edges of the closed polygon ``poly`` ((N, 2), mm) cross properly.

    Only edge pairs whose y ranges overlap are tested (edges sorted by their lowest y), so a contour of
    short edges costs about N·(edges per scanline), not N².
    """
    p = np.asarray(poly, float)[:, :2]
    n = len(p)
    if n < 4:
        return False
    a, b = p, np.roll(p, -1, axis=0)
    ylo, yhi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    order = np.argsort(ylo, kind="stable")
    # in sorted order, edge k overlaps edges k+1 .. last[k]-1 in y
    last = np.searchsorted(ylo[order], yhi[order], side="right")
    count = np.maximum(last - np.arange(n) - 1, 0)
    first = np.repeat(np.arange(n), count)
    second = first + 1 + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    i, j = order[first], order[second]
    gap = np.abs(i - j)
    keep = (gap != 1) & (gap != n - 1)  # neighbours share a vertex
    i, j = i[keep], j[keep]

    def orient(p1, p2, q):
        return (p2[:, 0] - p1[:, 0]) * (q[:, 1] - p1[:, 1]) - (p2[:, 1] - p1[:, 1]) * (q[:, 0] - p1[:, 0])

    d1 = orient(a[i], b[i], a[j])
    d2 = orient(a[i], b[i], b[j])
    d3 = orient(a[j], b[j], a[i])
    d4 = orient(a[j], b[j], b[i])
    return bool(np.any((d1 * d2 < -tol) & (d3 * d4 < -tol)))


def polygon_centroid(poly) -> np.ndarray:
    """Area centroid (x, y) of one closed simple polygon (shoelace moments), mm."""
    p = np.asarray(poly, float)[:, :2]
    x, y = p[:, 0], p[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    a = cross.sum() / 2.0
    if abs(a) < 1e-12:
        return p.mean(axis=0)
    return np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / (6.0 * a)


def points_in_polygons(xy, polygons) -> np.ndarray:
    """Even–odd test of N (x, y) points against ``polygons`` ((M, ≥2) arrays): boolean per point.

    The same half-open rule as :func:`fill_polygons` (an edge spans min(y) ≤ y < max(y)), vectorised over
    the edges.
    """
    xy = np.atleast_2d(np.asarray(xy, float))
    a = np.concatenate([np.asarray(p, float)[:, :2] for p in polygons])
    b = np.concatenate([np.roll(np.asarray(p, float)[:, :2], -1, axis=0) for p in polygons])
    x, y = xy[:, :1], xy[:, 1:2]
    spans = (np.minimum(a[:, 1], b[:, 1]) <= y) & (y < np.maximum(a[:, 1], b[:, 1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return (np.count_nonzero(spans & (x_cross > x), axis=1) % 2).astype(bool)
