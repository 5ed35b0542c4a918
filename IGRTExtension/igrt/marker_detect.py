"""Automatic detection of implanted gold markers: small, very dense objects with a sub-voxel centroid.

Markers (gold cylinders ~1×3–5 mm, coils, spheres) are far denser than bone, but small, so partial
volume and CBCT blur lower their peak. Candidates are local maxima above a threshold whose dense core
(above half-way between the local background and the peak) has the physical volume of a marker, not
of bone. The centroid is weighted by the intensity above that half-way level, over the core only, so it
follows the marker and not its streaks.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .errors import IGRTInputError

#: Physical volume (mm³) of a marker's dense core: a thin wire up to a 2 × 10 mm coil.
MARKER_VOLUME_MM3 = (0.2, 60.0)
#: Default threshold: denser than cortical bone (HU); CBCT with a poor HU scale may need its own.
DEFAULT_THRESHOLD_HU = 1800.0


def detect_markers(image: sitk.Image, roi_center_lps=None, roi_size_mm=None, threshold_hu=None) -> list:
    """[(position_lps (3,), confidence 0..1)] of markers in ``image`` (optionally inside an LPS box)."""
    img = sitk.Cast(image, sitk.sitkFloat32)
    if roi_center_lps is not None and roi_size_mm is not None:
        img = _crop(img, roi_center_lps, roi_size_mm)
    threshold = DEFAULT_THRESHOLD_HU if threshold_hu is None else float(threshold_hu)
    a = sitk.GetArrayViewFromImage(img)
    labels = sitk.ConnectedComponent(img > threshold, True)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(labels)
    lab_arr = sitk.GetArrayViewFromImage(labels)
    voxel = float(np.prod(img.GetSpacing()))
    found = []
    for lab in stats.GetLabels():
        if stats.GetNumberOfPixels(lab) * voxel > 4 * MARKER_VOLUME_MM3[1]:
            continue  # bone or metal implant, not a marker
        peak_index = np.unravel_index(np.argmax(np.where(lab_arr == lab, a, -np.inf)), a.shape)
        peak = float(a[peak_index])
        center = img.TransformIndexToPhysicalPoint([int(v) for v in peak_index[::-1]])
        result = _core_centroid(img, np.array(center), peak)
        if result is None:
            continue
        centroid, core_volume = result
        if not MARKER_VOLUME_MM3[0] <= core_volume <= MARKER_VOLUME_MM3[1]:
            continue
        confidence = float(np.clip((peak - threshold) / threshold, 0.0, 1.0))
        found.append((centroid, confidence))
    return found


def _core_centroid(img: sitk.Image, center, peak):
    """(centroid, core volume mm³) of the dense core around ``center``; background from a 5–8 mm shell."""
    sp = np.array(img.GetSpacing())
    ci = np.array(img.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in center)))
    reach = np.ceil(8.0 / sp).astype(int)
    lo = np.maximum(np.round(ci).astype(int) - reach, 0)
    hi = np.minimum(np.round(ci).astype(int) + reach + 1, np.array(img.GetSize()))
    block = sitk.GetArrayViewFromImage(img)[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]].astype(float)
    kk, jj, ii = np.meshgrid(
        *(np.arange(a, b) for a, b in zip(lo[::-1], hi[::-1], strict=True)), indexing="ij"
    )
    idx = np.stack([ii, jj, kk], -1).astype(float)
    r = np.linalg.norm((idx - ci) * sp, axis=-1)
    shell = block[(r > 5.0) & (r <= 8.0)]
    if shell.size == 0:
        return None
    background = float(np.median(shell))
    half = background + 0.5 * (peak - background)
    core = (block > half) & (r <= 5.0)
    # Weights: the whole excess over the background on the core and its one-voxel rim (partial volume).
    rim = core.copy()
    for axis in range(3):
        rim |= np.roll(core, 1, axis) | np.roll(core, -1, axis)
    w = np.clip(block - background, 0.0, None) * (rim & (r <= 5.0))
    if w.sum() <= 0:
        return None
    c_index = (idx * w[..., None]).sum(axis=(0, 1, 2)) / w.sum()
    centroid = np.array(img.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in c_index)))
    return centroid, float(core.sum() * np.prod(sp))


def _crop(img, center, size_mm):
    half = np.asarray(size_mm, float) / 2
    corners = [np.asarray(center, float) + half * s for s in (-1, 1)]
    idx = np.array([img.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in c)) for c in corners])
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(img.GetSize()))
    if np.any(hi - lo < 1):
        raise IGRTInputError("the marker search box lies outside the image")
    return sitk.RegionOfInterest(img, [int(v) for v in hi - lo], [int(v) for v in lo])
