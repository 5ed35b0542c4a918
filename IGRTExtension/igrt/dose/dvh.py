"""Cumulative DVH and its metrics from the dose at a structure's weighted sample points.

The dose at a point is trilinear between the dose grid's voxel centres (:func:`igrt.image_grid.trilinear`,
NumPy only); a point within half a voxel outside the outermost centres takes the nearest face value, a
point beyond that is outside the dose grid and is left out of the DVH (its share is reported as
``covered_fraction`` < 1). Metrics (Gy, volumes in cc = 1000 mm³):

- ``D{x}_gy``: the dose that the hottest x % of the volume receives at least; ``D0.03cc_gy``: the same
  for the hottest 0.03 cc (``None`` when the structure is smaller). Samples of equal dose form one
  level standing for their summed volume; D is interpolated linearly between the levels, each placed at
  the middle of its volume (so a dose spread uniformly over the volume gives its exact quantile).
- ``V{x}Gy_pct`` / ``V{x}Gy_cc``: the volume receiving at least x Gy.
- DVH curve: ``volume_pct`` = 100 · V(≥ dose_gy) / V, exact at each bin edge (no binning error).
"""

from __future__ import annotations

import numpy as np

from igrt.dose.model import Dose
from igrt.image_grid import lps_to_index, trilinear

D_PERCENTS = (98, 95, 50, 2)
D_CC = 0.03
NICE_STEPS = (1.0, 2.0, 5.0)
MAX_BINS = 1000


def dose_at_points(dose: Dose, points) -> tuple[np.ndarray, np.ndarray]:
    """(dose at every point inside the grid, boolean mask of those points) for N×3 LPS points."""
    size = np.asarray(dose.image.GetSize(), float)
    index = lps_to_index(dose.image, points)
    inside = np.all((index >= -0.5) & (index <= size - 0.5), axis=1)
    idx = np.clip(index[inside], 0.0, size - 1.0)  # the outer half voxel takes the face value
    return trilinear(dose.array(), idx), inside


def dvh_metrics(values, weight_mm3: float, v_doses_gy=()) -> dict:
    """The metrics of the doses ``values`` (Gy) of equal-volume samples of ``weight_mm3`` each."""
    levels, counts = np.unique(np.asarray(values, float), return_counts=True)
    levels, counts = levels[::-1], counts[::-1]  # hottest first
    d = levels
    total = float(counts.sum()) * weight_mm3
    cum = (np.cumsum(counts) - counts / 2.0) * weight_mm3  # volume hotter than each level's middle
    out = {
        "min_gy": float(d[-1]),
        "mean_gy": float(np.dot(levels, counts) / counts.sum()),
        "max_gy": float(d[0]),
    }
    for x in D_PERCENTS:
        out[f"D{x}_gy"] = float(np.interp(x / 100.0 * total, cum, d))
    out["D0.03cc_gy"] = float(np.interp(D_CC * 1000.0, cum, d)) if total >= D_CC * 1000.0 else None
    for v in v_doses_gy:
        n = int(counts[levels >= float(v)].sum())
        out[f"V{_label(v)}Gy_pct"] = float(100.0 * n / counts.sum())
        out[f"V{_label(v)}Gy_cc"] = float(n * weight_mm3 / 1000.0)
    return out


def dvh_step_gy(max_dose_gy: float) -> float:
    """Bin width of the DVH curve: the smallest 1/2/5·10^k step giving at most MAX_BINS bins."""
    raw = max(float(max_dose_gy), 1e-6) / MAX_BINS
    k = np.floor(np.log10(raw))
    for m in (*NICE_STEPS, 10.0):
        if m * 10**k >= raw * (1 - 1e-9):
            return float(m * 10**k)
    return float(10 ** (k + 1))


def dvh_curve(values, step_gy: float) -> dict:
    """Cumulative DVH ``{dose_gy, volume_pct}`` from 0 Gy (100 %) to the first bin above the maximum (0 %)."""
    ascending = np.sort(np.asarray(values, float))
    n_bins = int(np.floor(ascending[-1] / step_gy)) + 2
    edges = np.arange(n_bins) * step_gy
    above = len(ascending) - np.searchsorted(ascending, edges, side="left")
    return {
        "dose_gy": [round(float(e), 6) for e in edges],
        "volume_pct": [round(float(v), 4) for v in 100.0 * above / len(ascending)],
    }


def metrics_from_curve(dose_gy, volume_pct, volume_cc=None) -> dict:
    """The metrics read off a cumulative DVH curve (another system's table), same keys as :func:`dvh_metrics`.

    D_x by linear interpolation of the curve; mean = ∫ V(d) dd / 100 (trapezoids); min = the last dose
    still at 100 %, max = the first dose at 0 %; D0.03cc needs ``volume_cc``.
    """
    d = np.asarray(dose_gy, float)
    v = np.asarray(volume_pct, float)
    falling = v[::-1], d[::-1]  # np.interp needs increasing x
    out = {
        "min_gy": float(d[v >= 100.0 - 1e-9].max()) if np.any(v >= 100.0 - 1e-9) else float(d[0]),
        "mean_gy": float(np.sum((v[1:] + v[:-1]) / 2.0 * np.diff(d)) / 100.0 + d[0]),
        "max_gy": float(d[v <= 0.0].min()) if np.any(v <= 0.0) else float(d[-1]),
    }
    for x in D_PERCENTS:
        out[f"D{x}_gy"] = float(np.interp(x, *falling))
    out["D0.03cc_gy"] = (
        float(np.interp(100.0 * D_CC / volume_cc, *falling)) if volume_cc and volume_cc >= D_CC else None
    )
    return out


def metrics_delta(after: dict, before: dict) -> dict:
    """after − before for every metric both have (``None`` where either is ``None``)."""
    return {
        k: (None if after.get(k) is None or before.get(k) is None else float(after[k] - before[k]))
        for k in before
    }


def _label(v) -> str:
    return f"{float(v):g}"
