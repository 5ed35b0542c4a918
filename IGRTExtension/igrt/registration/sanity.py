"""Is this daily image a plausible picture of the planned patient? Checked before the match runs.

Two file-level slips give a result that looks fine (issue 10, items 2 and 3):

- a daily image mirrored left–right (a wrong header, e.g. a negative spacing): a body is nearly
  symmetric, so the mirrored anatomy still matches (similarity 0.87 against 0.89) with plausible
  translations and the couch rotation and roll of the wrong sign;
- the planning image given as the daily image: a perfect match, "within tolerance".

The mirror is a second hypothesis in the bone stage's coarse FFT search (``igrt.registration.rigid``):
the same planning features and samples, the prepared daily image as given and mirrored about the plane
through the region's centre across the planning image's first (left–right) axis; the best correlation
over translations of each. The images are the match's own prepared ones (``WorkingImages``, shared), so
the test costs the FFTs of one more hypothesis. The copy is the same file or series, the same voxels
on the same grid, or (escalated, not refused: digital phantom tests are made so) a correlation of the
high-passed images where they lie of at least ``NEAR_IDENTICAL``.
Frames: LPS mm; the daily image is looked at through the isocenter alignment (docs/CONVENTIONS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.registration.rigid import coarse_grids, masked_ncc_maps, stage_images
from igrt.registration.working_images import block_shrink, crop_box, extent_corners
from igrt.volume import Volume

#: Spacing (mm) of the in-place comparison (and of the coarse search the mirror test shares).
COARSE_MM = 4.0
#: High-pass (mm, Gaussian sigma) of the in-place comparison, as the match's bone stage.
HIGH_PASS_MM = 12.0
#: A mirror image that beats the image as given on the coarse search by more than this is suspected and
#: settled by :func:`confirm_mirror`, refused when its full match beats the image's by ``CONFIRM_MARGIN``.
#: Measured (bench/run_sanity_bench.py, coarse search): correct real-anatomy CBCTs lead the mirror by
#: 0.04–0.57; the synthetic pelvis phantom, nearly symmetric, −0.02–0.08 (a mirror there is hardly
#: detectable). A 5° set-up rotation with 20 mm of translation let a mirror lead by 0.07 at the start.
SUSPECT_MARGIN = 0.01
CONFIRM_MARGIN = 0.01
AXES = ("left–right", "front–back", "head–foot")
#: Correlation of the high-passed images where they lie at or above which the daily image is taken as
#: (nearly) the planning image: a copy with 15 HU of noise scores 0.9996, moved by 1 mm 0.97, a real
#: daily image of the same frame (TG-119 CT) 0.49.
NEAR_IDENTICAL = 0.98
#: Fewest coarse samples for the in-place comparison to say anything.
MIN_SAMPLES = 500


def _grid(center, size_mm) -> sitk.Image:
    """An LPS-aligned grid (identity direction) of ``COARSE_MM`` voxels centred on ``center``."""
    n = np.maximum(np.round(np.asarray(size_mm, float) / COARSE_MM).astype(int), 2)
    grid = sitk.Image([int(v) for v in n], sitk.sitkUInt8)
    grid.SetSpacing([COARSE_MM] * 3)
    grid.SetOrigin([float(c - (k - 1) * COARSE_MM / 2) for c, k in zip(center, n, strict=True)])
    return grid


def _sampled(image: sitk.Image, grid: sitk.Image):
    """(values, inside) of ``image`` at the ``grid`` points; only the part under the grid is read, block-averaged."""
    shape = grid.GetSize()[::-1]
    corners = extent_corners(grid)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    crop = crop_box(image, (lo + hi) / 2, hi - lo, COARSE_MM)
    if crop is None:
        return np.zeros(shape), np.zeros(shape, bool)
    small = block_shrink(crop, COARSE_MM)
    arr = sitk.GetArrayFromImage(
        sitk.Resample(small, grid, sitk.Transform(), sitk.sitkLinear, np.nan, sitk.sitkFloat32)
    )
    inside = np.isfinite(arr)
    return np.where(inside, arr, 0.0).astype(np.float64), inside


def _high_pass(a: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``a`` minus its Gaussian (``HIGH_PASS_MM``) local mean over ``inside``; 0 outside (normalised convolution)."""
    w = inside.astype(np.float32)

    def smooth(x):
        img = sitk.GetImageFromArray(x.astype(np.float32))
        img.SetSpacing([COARSE_MM] * 3)
        return sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(img, HIGH_PASS_MM)).astype(np.float64)

    mean = smooth(a * w) / np.maximum(smooth(w), 1e-3)
    return (a - mean) * w


def _correlation(a, b, mask) -> float:
    a, b = a[mask] - a[mask].mean(), b[mask] - b[mask].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def mirror_scores(working, region, start, search_mm: float) -> tuple[float, list[float]]:
    """(as given, [mirrored across axis 0, 1, 2]): best coarse-search correlation over translations of the
    daily image and of its mirror images across the planning grid's axes through the region's centre,
    both at the stage's start (the isocenter alignment, no rotation: fair to both hypotheses).

    ``working``, ``region``, ``start``: the first stage's prepared images, region and start (planning →
    daily); what is made here is kept for the stage. ``nan`` without enough samples.
    """
    nan = float("nan")
    try:
        fixed, moving, mask, n, _ = stage_images(working, region, start)
    except ValueError:
        return nan, [nan] * 3
    if n < MIN_SAMPLES:
        return nan, [nan] * 3
    features = working.features(fixed, start)  # the stage's own first search uses them too
    farr, warr, garr, valid, pads, _ = coarse_grids(features, moving, mask, start, max(search_mm, COARSE_MM))
    garr = garr.astype(np.float32)  # single precision halves the FFTs' cost; correlations to ~1e-6
    # The grid is centred on the region: reversing array axis 2 − k mirrors across grid axis k there.
    hypotheses = [(garr, valid)] + [(np.flip(garr, 2 - k), np.flip(valid, 2 - k)) for k in range(3)]
    maps = masked_ncc_maps(farr.astype(np.float32), warr.astype(np.float32), hypotheses, pads)
    best = [float(np.max(m)) if np.isfinite(m).any() else nan for m in maps]
    return best[0], best[1:]


def mirrored_image(daily: sitk.Image, axis_lps, point_lps) -> sitk.Image:
    """``daily`` mirrored across the plane through ``point_lps`` normal to ``axis_lps`` (LPS), on its own grid;
    what comes from beyond the grid is the image's lowest value (outside the field of view)."""
    n = np.asarray(axis_lps, float) / np.linalg.norm(axis_lps)
    t = sitk.AffineTransform(3)
    t.SetMatrix([float(v) for v in (np.eye(3) - 2.0 * np.outer(n, n)).ravel()])
    t.SetCenter([float(v) for v in point_lps])
    low = float(np.min(sitk.GetArrayViewFromImage(daily)))
    return sitk.Resample(daily, daily, t, sitk.sitkLinear, low, sitk.sitkFloat32)


def confirm_mirror(planning, daily, region, start, outcome, settings, axes, floor: float = 0.0) -> dict:
    """Settle a suspected mirror: match the mirror image as fully as the first stage matched the image.

    The coarse test has no rotation; a large set-up rotation can favour a mirror there by chance. So the
    daily image mirrored across each suspected axis (through the region's centre) is registered like the
    first stage (``register_rigid`` from ``start``, with its search) and refused only when its final
    correlation beats the stage's ``outcome`` by ``CONFIRM_MARGIN`` and is itself a plausible match (at
    least ``floor``, the match's own correlation floor): two poor matches (wrong isocenters, another
    patient) say nothing about a mirror, and the match then fails with its own reason. One more stage,
    only when suspected.
    """
    from igrt.registration.rigid import register_rigid

    direction = np.asarray(planning.GetDirection(), float).reshape(3, 3)
    centre = start.TransformPoint(tuple(float(v) for v in region.center_lps))
    scores = {}
    for axis in axes:
        mirror = mirrored_image(daily, direction[:, axis], centre)
        try:
            other = register_rigid(planning, mirror, region, start, settings, search=True)
        except ValueError:
            continue
        scores[AXES[axis]] = _round(other.metric_after)
        if other.metric_after > outcome.metric_after + CONFIRM_MARGIN and other.metric_after >= floor:
            raise IGRTInputError(
                f"the daily image looks mirrored {AXES[axis]}: mirrored, it matches the planning image better "
                f"(correlation {other.metric_after:.3f} against {outcome.metric_after:.3f}); check its header "
                "(spacing, direction)"
            )
    return {"mirror_confirmation": {"as_given": _round(outcome.metric_after), "mirrored": scores}}


def in_place_correlation(planning: sitk.Image, daily: sitk.Image, center, size_mm) -> float:
    """Correlation of the high-passed images over the box where they lie (no alignment); nan if the daily
    image covers less than half of the box."""
    grid = _grid(center, size_mm)
    f_raw, f_in = _sampled(planning, grid)
    d_raw, d_in = _sampled(daily, grid)
    both = f_in & d_in
    if both.sum() < max(MIN_SAMPLES, 0.5 * f_in.sum()):
        return float("nan")
    return _correlation(_high_pass(f_raw, both), _high_pass(d_raw, both), both)


def _same_image(planning: Volume, daily: Volume) -> str | None:
    """Why ``daily`` is certainly ``planning`` (same file, same series, same voxels on the same grid), or None."""
    try:
        if Path(planning.path).resolve() == Path(daily.path).resolve() and not planning.path.startswith(
            "mrml:"
        ):
            return "the same file"
    except (OSError, ValueError):
        pass
    if planning.series_uid and planning.series_uid == daily.series_uid:
        return f"the same DICOM series ({planning.series_uid})"
    p, d = planning.image, daily.image
    same_grid = (
        p.GetSize() == d.GetSize()
        and np.allclose(p.GetSpacing(), d.GetSpacing())
        and np.allclose(p.GetOrigin(), d.GetOrigin())
        and np.allclose(p.GetDirection(), d.GetDirection())
    )
    if same_grid and np.array_equal(sitk.GetArrayViewFromImage(p), sitk.GetArrayViewFromImage(d)):
        return "the same voxels on the same grid"
    return None


def check_daily_image(planning: Volume, daily: Volume, working, region, start, search_mm: float):
    """Before the match: refuse the planning image given as the daily image, flag a near copy, and test
    the mirrored hypotheses on the coarse search.

    Returns (warnings, quality entries, the axes whose mirror is suspected: :func:`confirm_mirror` them
    after the first stage); raises :class:`IGRTInputError` (one line).
    """
    same = _same_image(planning, daily)
    if same is not None:
        raise IGRTInputError(
            f"the daily image is the planning image ({same}): select the image of today's fraction"
        )
    as_given, mirrored = mirror_scores(working, region, start, search_mm)
    quality = {"mirror_test": {"as_given": _round(as_given), "mirrored": [_round(v) for v in mirrored]}}
    suspects = [k for k, v in enumerate(mirrored) if np.isfinite(v) and v > as_given + SUSPECT_MARGIN]
    warnings = []
    in_place = in_place_correlation(planning.image, daily.image, region.center_lps, region.size_mm)
    if np.isfinite(in_place) and in_place >= NEAR_IDENTICAL:
        quality["near_identical_to_planning"] = _round(in_place)
        warnings.append(
            f"the daily image is nearly identical to the planning image where they lie (correlation "
            f"{in_place:.4f}): the planning image selected as the daily image, or a digital phantom test? "
            "The couch shift escalates"
        )
    return warnings, quality, suspects


def _round(v: float):
    return None if not np.isfinite(v) else round(float(v), 4)
