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

A mirror that leads the coarse search is settled by a full match of the mirror image
(:func:`confirm_mirror`), and the rule is statistical: the mirror's lead in correlation over the
image's (:func:`mirror_lead`) must be significant against the spread of that lead over the region's
anatomy, a block jackknife over the same 3 × 3 × 3 spatial blocks as the uncertainty
(``igrt.registration.metric_blocks``): refused when lead ≥ ``CONFIRM_MARGIN`` and lead ≥ ``LEAD_Z``
standard errors. A fixed margin alone (0.01) failed: the synthetic pelvis is nearly left–right
symmetric, and with the bone stage's 6 mm high-pass (sharper features, less of the large-scale
asymmetry) the correct CBCT soft_02 matched better mirrored, 0.719 against 0.708 (at 12 mm 0.711 against
0.705): a lead of 0.012 ± 0.033, 0.3 standard errors, which the old rule refused. Measured on the 23
cached bench cases (6 mm, the mirror confirmed on every case; 2026-12-01, commit after dd066d0):
correct images' left–right mirrors at most 0.3 standard errors ahead (the symmetric prostate-motion
phantom soft_01–04: −0.0 to +0.3; the pelvis phantom trails by 0.012–0.020, −2.4 to −6.1; real anatomy
trails by 0.12–0.80); mirrored images: the real abdomen 8/8 ahead by 0.115–0.82, 3.4–41 standard errors
(lowest: the bladder 0.162 ± 0.047 and low dose 0.115 ± 0.033, 3.5), TG-119 0.43 ± 0.12 (3.6) and
0.55 ± 0.07 (8.0), the pelvis phantom 0.010–0.019 at 2.6–4.4, the prostate-motion phantom not at all
(−0.4 to 0: a mirror of a symmetric body is no error a match can see). ``LEAD_Z`` = 2.5 is the one-sided 1 % point of Student's t
with 26 degrees of freedom (27 blocks): a symmetric patient's correct image is refused in at most ~1 %
of the matches where its mirror is suspected.
Frames: LPS mm; the daily image is looked at through the isocenter alignment (docs/CONVENTIONS.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.image_grid import same_grid
from igrt.registration import metric_blocks
from igrt.registration.rigid import coarse_grids, coarse_search_key, masked_ncc_maps, stage_images
from igrt.registration.working_images import block_shrink, crop_box, extent_corners, gaussian_zero_padded
from igrt.volume import Volume

#: Spacing (mm) of the in-place comparison (and of the coarse search the mirror test shares).
COARSE_MM = 4.0
#: High-pass (mm, Gaussian sigma) of the in-place comparison (``NEAR_IDENTICAL`` was measured with it).
HIGH_PASS_MM = 12.0
#: A mirror image that beats the image as given on the coarse search by more than this is suspected and
#: settled by :func:`confirm_mirror`, refused when its full match beats the image's by ``CONFIRM_MARGIN``
#: and ``LEAD_Z`` standard errors (module docstring).
#: Measured (bench/run_sanity_bench.py, coarse search): correct real-anatomy CBCTs lead the mirror by
#: 0.04–0.57; the synthetic pelvis phantom, nearly symmetric, −0.02–0.08 (a mirror there is hardly
#: detectable). A 5° set-up rotation with 20 mm of translation let a mirror lead by 0.07 at the start.
SUSPECT_MARGIN = 0.01
CONFIRM_MARGIN = 0.01
#: ... and by at least this many of the lead's standard errors (:func:`mirror_lead`; module docstring).
LEAD_Z = 2.5
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
    w = inside.astype(np.float64)
    num, den = gaussian_zero_padded(np.stack([a * w, w]), [HIGH_PASS_MM / COARSE_MM] * 3)
    mean = num / np.maximum(den, 1e-3)
    return (a - mean) * w


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
    search = max(search_mm, COARSE_MM)
    farr, warr, garr, valid, pads, grid = coarse_grids(features, moving, mask, start, search, COARSE_MM)
    garr = garr.astype(np.float32)  # single precision halves the FFTs' cost; correlations to ~1e-6
    # The grid is centred on the region: reversing array axis 2 − k mirrors across grid axis k there.
    hypotheses = [(garr, valid)] + [(np.flip(garr, 2 - k), np.flip(valid, 2 - k)) for k in range(3)]
    maps = masked_ncc_maps(farr.astype(np.float32), warr.astype(np.float32), hypotheses, pads)
    # The image as given is the stage's own coarse search from the same start: it takes this map.
    key = coarse_search_key(features, moving, mask, start, search, COARSE_MM)
    working.once(key, lambda: (maps[0], pads, grid, float(warr.sum())), features, moving, mask)
    best = [float(np.max(m)) if np.isfinite(m).any() else nan for m in maps]
    return best[0], best[1:]


def mirror_lead(outcome, other, given=None) -> tuple[float, float]:
    """(lead, standard error): the correlation of the mirror hypothesis's match ``other`` minus that of
    the image's ``outcome`` over the image's samples' 3 × 3 × 3 spatial blocks (``metric_blocks``), and
    the block jackknife's standard error of that difference, √((K − 1)/K · Σ (d₋ₖ − d̄)²) over the K
    blocks that hold samples. Fewer than 4 such blocks: standard error 0 (the lead alone decides).
    ``given``: ``metric_blocks.correlation_sums(outcome)`` when the caller made it already."""
    given, edges = given if given is not None else metric_blocks.correlation_sums(outcome)
    mirror, _ = metric_blocks.correlation_sums(other, edges)
    lead = metric_blocks.correlation(mirror.sum(axis=1)) - metric_blocks.correlation(given.sum(axis=1))
    held = np.flatnonzero((given[0] > 0) | (mirror[0] > 0))
    if len(held) < 4:
        return lead, 0.0
    total_m, total_g = mirror.sum(axis=1), given.sum(axis=1)
    d = np.array(
        [
            metric_blocks.correlation(total_m - mirror[:, k])
            - metric_blocks.correlation(total_g - given[:, k])
            for k in held
        ]
    )
    k = len(d)
    return lead, float(np.sqrt((k - 1) / k * np.sum((d - d.mean()) ** 2)))


def _levels_split(settings):
    """(the stage's settings without its finest level, settings of that finest level alone), or None when
    the stage has no separate finest full-resolution level to hold back."""
    levels = list(zip(settings.shrink_factors, settings.smoothing_mm, strict=True))
    if len(levels) < 2 or levels[-1] != (1, 0.0):
        return None
    coarse = dataclasses.replace(
        settings,
        shrink_factors=settings.shrink_factors[:-1],
        smoothing_mm=settings.smoothing_mm[:-1],
        polish=False,
    )
    # The features remade at the coarse result, then the finest level: what the full stage's polish does.
    fine = dataclasses.replace(settings, shrink_factors=(1,), smoothing_mm=(0.0,), polish=False)
    return coarse, fine


def _mirror_match(planning, mirror, region, start, outcome, settings, given=None):
    """(outcome, lead, standard error, settled early) of the mirror hypothesis's match, as the first stage's.

    The finest level is held back: when after the coarse levels the mirror already trails by more than
    ``LEAD_Z`` standard errors, the finest level cannot make it lead by ``LEAD_Z`` (it would have to gain
    2 × ``LEAD_Z`` = 5; measured, it gained at most 0.9: TG-119's beads, 0.06–0.11 in correlation;
    the pelvis phantom ≤ 0.0007, ≤ 0.2 standard errors) and the mirror is settled there.
    """
    from igrt.registration.rigid import register_rigid

    split = _levels_split(settings)
    if split is None:
        other = register_rigid(planning, mirror.daily, region, start, settings, search=True, working=mirror)
        return (other, *mirror_lead(outcome, other, given), False)
    coarse, fine = split
    other = register_rigid(planning, mirror.daily, region, start, coarse, search=True, working=mirror)
    lead, se = mirror_lead(outcome, other, given)
    if lead < -LEAD_Z * se:
        return other, lead, se, True
    other = register_rigid(planning, mirror.daily, region, other.transform, fine, working=mirror)
    return (other, *mirror_lead(outcome, other, given), False)


def confirm_mirror(
    planning, daily, region, start, outcome, settings, axes, floor: float = 0.0, working=None
) -> dict:
    """Settle a suspected mirror: match the mirror image as fully as the first stage matched the image.

    The coarse test has no rotation; a large set-up rotation can favour a mirror there by chance. So the
    daily image mirrored across each suspected axis (through the region's centre) is registered like the
    first stage (``register_rigid`` from ``start``, with its search, on ``working`` mirrored by its
    headers: :meth:`WorkingImages.mirrored`; :func:`_mirror_match`) and refused only when its lead over
    the stage's ``outcome`` (:func:`mirror_lead`) is at least ``CONFIRM_MARGIN`` and ``LEAD_Z`` standard
    errors, and the mirror is itself a plausible match (at least ``floor``, the match's own correlation
    floor): two poor matches (wrong isocenters, another patient) say nothing about a mirror, and the
    match then fails with its own reason. One more stage, only when suspected.
    """
    from igrt.registration.rigid import working_images_for

    working = working or working_images_for(planning, daily, settings)
    direction = np.asarray(planning.GetDirection(), float).reshape(3, 3)
    centre = start.TransformPoint(tuple(float(v) for v in region.center_lps))
    scores, leads, errors, early = {}, {}, {}, []
    given = metric_blocks.correlation_sums(outcome)  # the image's side of every lead
    for axis in axes:
        mirror = working.mirrored(direction[:, axis], centre)
        try:
            other, lead, se, settled = _mirror_match(
                planning, mirror, region, start, outcome, settings, given
            )
        except ValueError:
            continue
        name = AXES[axis]
        scores[name], leads[name], errors[name] = _round(other.metric_after), _round(lead), _round(se)
        if settled:
            early.append(name)
        if lead > max(CONFIRM_MARGIN, LEAD_Z * se) and other.metric_after >= floor:
            raise IGRTInputError(
                f"the daily image looks mirrored {name}: mirrored, it matches the planning image better "
                f"(correlation {other.metric_after:.3f} against {outcome.metric_after:.3f}"
                + (f", {lead / se:.1f} standard errors ahead" if se > 0 else "")
                + "); check its header (spacing, direction)"
            )
    return {
        "mirror_confirmation": {
            "as_given": _round(outcome.metric_after),
            "mirrored": scores,
            "lead": leads,
            "lead_standard_error": errors,
            "settled_before_the_finest_level": early,
        }
    }


def in_place_correlation(planning: sitk.Image, daily: sitk.Image, center, size_mm) -> float:
    """Correlation of the high-passed images over the box where they lie (no alignment); nan if the daily
    image covers less than half of the box."""
    grid = _grid(center, size_mm)
    f_raw, f_in = _sampled(planning, grid)
    d_raw, d_in = _sampled(daily, grid)
    both = f_in & d_in
    if both.sum() < max(MIN_SAMPLES, 0.5 * f_in.sum()):
        return float("nan")
    return metric_blocks.pearson(_high_pass(f_raw, both)[both], _high_pass(d_raw, both)[both])


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
    if same_grid(p, d, tol_mm=1e-6) and np.array_equal(
        sitk.GetArrayViewFromImage(p), sitk.GetArrayViewFromImage(d)
    ):
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
