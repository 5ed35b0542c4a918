"""Automatic detection of implanted gold markers in CT and CBCT: small, very dense objects, sub-voxel centroid.

Markers (gold cylinders ~1×3–5 mm, coils, spheres) are far denser than anything around them but
smaller than a voxel, so partial volume and CBCT blur lower their peak to bone-like values; intensity
alone cannot tell them from cortical bone or a truncation rim. Shape can: a marker is small in at
least two directions (a line or a blob), bone cortex and streaks are thin in one (a plate). So:

1. local maxima of the lightly smoothed image (σ 0.7 mm, against CBCT noise) above a floor;
2. at each maximum the Hessian of the smoothed image: the second-strongest curvature must be a good
   share of the strongest (line or blob, not plate) — vectorised over all maxima;
3. on the few left: contrast above the local background (median of a 7–10 mm shell) at least
   ``threshold_hu`` (less for a very small core), and a dense core (connected, above half the
   contrast) of a marker's volume, not of bone;
4. centroid weighted by the excess over the background on the core and its one-voxel rim, so it
   follows the marker and not its streaks; a maximum whose core touches an accepted marker's (a
   coil's or a long seed's second peak) extends that marker.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.registration.working_images import crop_box
from igrt.volume import finite_image

#: Physical volume (mm³) of a marker's dense core (blurred): a thin wire up to a 1 × 10 mm coil.
MARKER_VOLUME_MM3 = (0.2, 150.0)
#: Default minimum contrast of a marker over its surroundings (HU). Gold shows ≥ 1500 even in a
#: low-dose CBCT with a poor HU scale; calcifications show a few hundred, and the sharpest bone corners
#: (cortex ~1150 HU against fat) about 1000–1250 with a larger core.
DEFAULT_THRESHOLD_HU = 1300.0
#: Accepted ``threshold_hu`` (minimum contrast over the local background, HU). Below 100 HU CBCT noise
#: (σ 20–50 HU) and soft-tissue edges pass as "markers" (a threshold of −500 once gave 17 of confidence 0);
#: above 30 000 HU no scanner's value range (extended CT scales end near 30 710 HU) can show a contrast.
THRESHOLD_RANGE_HU = (100.0, 30000.0)
#: Share of ``threshold_hu`` that a small core (≤ 70 mm³) needs (see ``required_contrast``).
SMALL_CORE_RELIEF = 0.7
#: Smoothing before the search (mm): CBCT noise would otherwise make every bone voxel a maximum.
SMOOTHING_MM = 0.7
#: Second-strongest / strongest curvature at a marker's peak: ≈ 1 for a sphere or a cylinder seen
#: across, ≈ 0 for a plate (cortex, streaks, a field-of-view rim).
MIN_CURVATURE_RATIO = 0.4
#: The core: connected voxels above this share of the contrast (the centroid adds a one-voxel rim).
CORE_FRACTION = 0.5
#: Shell (mm) whose median is the local background.
BACKGROUND_SHELL_MM = (7.0, 10.0)
#: At most this many maxima (the densest) are examined one by one.
MAX_CANDIDATES = 400


def detect_markers(image: sitk.Image, roi_center_lps=None, roi_size_mm=None, threshold_hu=None) -> list:
    """[(position_lps (3,), confidence 0..1)] of markers in ``image`` (optionally inside an LPS box).

    ``threshold_hu``: minimum contrast over the local background (default ``DEFAULT_THRESHOLD_HU``).
    Sorted by confidence, strongest first. A threshold outside ``THRESHOLD_RANGE_HU`` is refused;
    NaN / infinite voxels are read as outside the field of view (:func:`igrt.volume.finite_image`).
    """
    threshold = DEFAULT_THRESHOLD_HU if threshold_hu is None else check_threshold(threshold_hu)
    img, _ = finite_image(sitk.Cast(image, sitk.sitkFloat32))
    if roi_center_lps is not None and roi_size_mm is not None:
        img = crop_box(img, roi_center_lps, roi_size_mm)
        if img is None:
            raise IGRTInputError("the marker search box lies outside the image")
    raw = sitk.GetArrayFromImage(img)
    smooth_img = sitk.SmoothingRecursiveGaussian(img, SMOOTHING_MM)
    smooth = sitk.GetArrayFromImage(smooth_img)
    peaks = sitk.GetArrayFromImage(sitk.GrayscaleDilate(smooth_img, [1, 1, 1]))
    # The floor: a marker's smoothed peak is at least half its contrast above soft tissue (≥ 0 HU).
    cand = np.argwhere((smooth >= peaks) & (smooth > 0.5 * threshold))
    sp = np.array(img.GetSpacing())[::-1]  # array order (z, y, x)
    ratio, curvature = _curvatures(smooth, cand, sp)
    cand = cand[(ratio >= MIN_CURVATURE_RATIO) & (curvature > 0)]
    cand = cand[np.argsort(-smooth[tuple(cand.T)])][:MAX_CANDIDATES]
    owner = np.full(raw.shape, -1, np.int32)  # which marker a voxel belongs to (its core, dilated)
    markers: list[dict] = []
    for k in cand:
        part = _examine(raw, k, sp, threshold)
        if part is None:
            continue
        core_idx, rim_idx, weights, contrast = part
        touched = owner[tuple(core_idx.T)]
        if owner[tuple(k)] >= 0 or (touched >= 0).any():
            # A second peak of a marker already found (a coil, a long seed): the same marker, extended.
            m = markers[int(owner[tuple(k)] if owner[tuple(k)] >= 0 else touched[touched >= 0][0])]
            for key, w in zip(map(tuple, rim_idx), weights, strict=True):
                m["weights"].setdefault(key, w)
            m["contrast"] = max(m["contrast"], contrast)
        else:
            m = {"weights": dict(zip(map(tuple, rim_idx), weights, strict=True)), "contrast": contrast}
            markers.append(m)
        claim = _dilated(core_idx, raw.shape)
        owner[tuple(claim.T)] = markers.index(m)
    found = []
    for m in markers:
        idx = np.array(list(m["weights"].keys()), float)
        w = np.array(list(m["weights"].values()))
        c_index = (idx * w[:, None]).sum(axis=0) / w.sum()
        position = np.array(img.TransformContinuousIndexToPhysicalPoint([float(v) for v in c_index[::-1]]))
        found.append((position, float(np.clip(m["contrast"] / (3.0 * threshold), 0.0, 1.0))))
    return sorted(found, key=lambda f: -f[1])


def check_threshold(threshold_hu) -> float:
    """``threshold_hu`` as a float when it is a sensible marker contrast (``THRESHOLD_RANGE_HU``), else one line."""
    try:
        value = float(threshold_hu)
    except (TypeError, ValueError):
        value = float("nan")
    lo, hi = THRESHOLD_RANGE_HU
    if not lo <= value <= hi:
        raise IGRTInputError(
            f"marker threshold {threshold_hu} HU makes no sense: it is the contrast a marker shows over the tissue "
            f"around it, {lo:g} to {hi:g} HU (default {DEFAULT_THRESHOLD_HU:g})"
        )
    return value


def _dilated(idx: np.ndarray, shape, reach: int = 1) -> np.ndarray:
    """Voxel indices within ``reach`` voxels (chessboard) of ``idx``, inside the image."""
    offsets = np.stack(np.meshgrid(*[np.arange(-reach, reach + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    out = np.unique((idx[:, None, :] + offsets).reshape(-1, 3), axis=0)
    return out[np.all((out >= 0) & (out < np.array(shape)), axis=1)]


def _curvatures(a: np.ndarray, idx: np.ndarray, sp: np.ndarray):
    """(λ2/λ1, −λ2) of the Hessian at each index, eigenvalues ascending (λ1 most negative); HU/mm²."""
    if len(idx) == 0:
        return np.zeros(0), np.zeros(0)
    hi = np.array(a.shape) - 1
    eye = np.eye(3, dtype=int)

    def at(offset):
        return a[tuple(np.clip(idx + offset, 0, hi).T)]

    h = np.empty((len(idx), 3, 3))
    centre = at(0)
    for i in range(3):
        h[:, i, i] = (at(eye[i]) - 2 * centre + at(-eye[i])) / sp[i] ** 2
        for j in range(i + 1, 3):
            e = eye[i] + eye[j]
            f = eye[i] - eye[j]
            h[:, i, j] = h[:, j, i] = (at(e) - at(f) - at(-f) + at(-e)) / (4 * sp[i] * sp[j])
    ev = np.linalg.eigvalsh(h)  # ascending
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ev[:, 0] < 0, ev[:, 1] / ev[:, 0], 0.0)
    return ratio, -ev[:, 1]


def _examine(raw: np.ndarray, k: np.ndarray, sp: np.ndarray, threshold: float):
    """(core voxels, core+rim voxels, their weights, contrast) of a marker peaking at voxel ``k``, or None.

    Indices are global array indices (z, y, x); the weights are the excess over the local background.
    """
    reach = np.ceil(BACKGROUND_SHELL_MM[1] / sp).astype(int)
    lo = np.maximum(k - reach, 0)
    hi = np.minimum(k + reach + 1, raw.shape)
    block = raw[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))].astype(float)
    grids = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij")
    r = np.sqrt(sum(((g - kk) * s) ** 2 for g, kk, s in zip(grids, k, sp, strict=True)))
    shell = block[(r > BACKGROUND_SHELL_MM[0]) & (r <= BACKGROUND_SHELL_MM[1])]
    if shell.size == 0:
        return None
    background = float(np.median(shell))
    local = tuple(k - lo)
    peak = float(block[local])
    contrast = peak - background
    if contrast < SMALL_CORE_RELIEF * threshold:
        return None
    from scipy import ndimage  # imported here: a stock Slicer loads the modules without scipy

    labels, _ = ndimage.label((block > background + CORE_FRACTION * contrast) & (r <= BACKGROUND_SHELL_MM[0]))
    core = labels == labels[local]
    if not labels[local]:
        return None
    volume = float(core.sum() * np.prod(sp))
    if not MARKER_VOLUME_MM3[0] <= volume <= MARKER_VOLUME_MM3[1] or contrast < required_contrast(
        volume, threshold
    ):
        return None  # bone, a metal implant or a streak band, not a marker
    # Weights: the excess over the background on the core and its one-voxel rim (partial volume).
    rim = ndimage.binary_dilation(core, np.ones((3, 3, 3), bool)) & (r <= BACKGROUND_SHELL_MM[0])
    return (
        np.argwhere(core) + lo,
        np.argwhere(rim) + lo,
        np.clip(block[rim] - background, 0.0, None),
        contrast,
    )


def required_contrast(core_volume_mm3: float, threshold: float) -> float:
    """Contrast (HU) a core of this volume needs: ``SMALL_CORE_RELIEF`` × threshold up to 70 mm³, rising to
    the threshold at 100 mm³. A thin marker in a low-dose CBCT is faint but tiny; a bone corner is as
    faint but bigger, so the smaller the dense core, the less contrast it needs.
    """
    rise = np.clip((core_volume_mm3 - 70.0) / 30.0, 0.0, 1.0)
    return float(threshold * (SMALL_CORE_RELIEF + (1.0 - SMALL_CORE_RELIEF) * rise))
