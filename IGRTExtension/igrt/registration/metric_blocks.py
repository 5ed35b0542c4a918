"""A stage's metric samples and their spatial blocks: what the block jackknives resample.

The samples are a regular subset of the stage's final region (planning voxels, LPS mm) with the planning
features there; the blocks are the samples' coordinate terciles along x, y and z (3 × 3 × 3 = 27).
Spatial blocks keep spatially correlated noise (CBCT noise is smoothed by the reconstruction) and local
disagreement of the anatomy inside a jackknife's spread. Two users: ``igrt.registration.uncertainty``
(the spread of the Gauss–Newton step) and ``igrt.registration.sanity`` (the spread of a mirror
hypothesis's lead in correlation).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.image_grid import index_to_lps, lps_to_index, trilinear

#: Samples used (a regular subset of the region's samples).
MAX_SAMPLES = 20000
#: Spatial blocks along each axis (at the samples' quantiles).
BLOCKS_PER_AXIS = 3


def region_samples(fixed: sitk.Image, mask: sitk.Image, count: int = MAX_SAMPLES):
    """Physical points (LPS mm, N × 3) and values of a regular subset of at most ``count`` of the mask's
    voxels (every k-th in memory order: voxel centres, deterministic)."""
    idx = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)  # (z, y, x)
    if len(idx) > count:
        idx = idx[:: int(np.ceil(len(idx) / count))]
    values = sitk.GetArrayViewFromImage(fixed)[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float64)
    return index_to_lps(fixed, idx[:, ::-1]), values


def apply_transform(transform: sitk.Transform, x: np.ndarray) -> np.ndarray:
    """A matrix-offset transform applied to N × 3 points (vectorised)."""
    r = np.array(transform.GetMatrix()).reshape(3, 3)
    c = np.array(transform.GetCenter())
    t = np.array(transform.GetTranslation())
    return (x - c) @ r.T + c + t


def values_at(image: sitk.Image, y: np.ndarray) -> np.ndarray:
    """Trilinear values of ``image`` at N × 3 physical points (LPS mm); NaN outside."""
    arr = sitk.GetArrayViewFromImage(image)  # read in place (``image`` outlives it)
    return trilinear(arr, lps_to_index(image, y))


def block_edges(x: np.ndarray, per_axis: int = BLOCKS_PER_AXIS) -> list[np.ndarray]:
    """The inner quantile edges of the points' coordinates along x, y and z (``per_axis`` − 1 each)."""
    return [np.quantile(x[:, k], np.linspace(0, 1, per_axis + 1)[1:-1]) for k in range(3)]


def block_labels(x: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Block number 0 … per_axis³ − 1 of each point: its slab along x, y and z between ``edges``."""
    per_axis = len(edges[0]) + 1
    out = np.zeros(len(x), int)
    for k in range(3):
        out = out * per_axis + np.searchsorted(edges[k], x[:, k])
    return out


def correlation_sums(outcome, edges: list[np.ndarray] | None = None):
    """Per-block sums (n, Σf, Σm, Σf², Σm², Σfm; 6 × K) of a stage's ``outcome`` (``rigid.RegistrationOutcome``):
    the planning features f and the prepared daily image m at the transformed samples, as its final
    level compared them. Returns (sums, edges); ``edges`` given: those blocks (another outcome's, so that
    two hypotheses are compared block by block over the same planning anatomy)."""
    fixed, moving, mask = outcome.final_images
    x, f = region_samples(fixed, mask)
    m = values_at(moving, apply_transform(outcome.transform, x))
    ok = np.isfinite(m)
    x, f, m = x[ok], f[ok], m[ok]
    if edges is None:
        edges = block_edges(x)
    labels = block_labels(x, edges)
    k = (len(edges[0]) + 1) ** 3
    sums = np.stack(
        [np.bincount(labels, w, minlength=k) for w in (np.ones_like(f), f, m, f * f, m * m, f * m)]
    )
    return sums, edges


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally long value arrays; nan when either is flat. Sums of products,
    not ``@`` (see :func:`slope`)."""
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def slope(f: np.ndarray, m: np.ndarray) -> float:
    """Least-squares slope of f on m (the daily image's HU scale against the planning features); 0 when m
    is flat.

    Sums of products, not ``@``: a BLAS dot of 20 000 values wakes OpenBLAS's threads, which then spin
    for ~0.1 s of CPU on the core the next registration needs (7 ms of wall time for the dot itself)."""
    mc = m - m.mean()
    den = float(np.sum(mc * mc))
    return float(np.sum(mc * (f - f.mean())) / den) if den > 0 else 0.0


def correlation(sums: np.ndarray) -> float:
    """Pearson correlation from the six sums (n, Σf, Σm, Σf², Σm², Σfm); nan when either side is flat."""
    n, sf, sm, sff, smm, sfm = sums
    den = (sff - sf * sf / n) * (smm - sm * sm / n) if n > 0 else 0.0
    return float((sfm - sf * sm / n) / np.sqrt(den)) if den > 0 else float("nan")
