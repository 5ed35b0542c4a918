"""How sure a match is of itself: a 95 % bound on its translation error at the isocenter and on its rotation.

Estimated from the match's own images, at its result, in its final region (no truth needed):

1. Gauss–Newton at the optimum. Around the found transform the daily image, moved by a small rigid
   correction p = (ω, t) (rad, mm; y → y + t + ω × (y − y_iso), y_iso where the isocenter landed), is
   linear in p: m(y) + ∇m(y)·(t + ω × (y − y_iso)). The planning features f are fitted by
   a·(that) + b over the region's samples (a, b absorb the CBCT's HU scale and offset, as the
   correlation metric does) by least squares; the solution p is one Gauss–Newton step: ~0 at a true
   optimum, and how far the metric's minimum still is otherwise.
2. Block jackknife. The samples are split into 3 × 3 × 3 spatial blocks at their coordinates' terciles;
   the step is solved again without each block in turn, and the spread of the K = 27 solutions,
   (K − 1)/K · Σ (p_k − p̄)(p_k − p̄)ᵀ, is the covariance of p. Spatial blocks keep spatially
   correlated noise (CBCT noise is smoothed by the reconstruction) and local disagreement of the
   anatomy (a gas pocket, streaks, a deformed part of the region) inside the estimate; a featureless
   region makes the step ill-posed and the spread large, as it should.
3. The bound. translation_mm_95 = |t_step| + √(χ²₃(0.95) · λmax(C_tt)) (the largest axis of the 95 %
   ellipsoid of a 3-D Gaussian, plus the remaining step), rotation_deg_95 likewise from C_ωω.
   ``INFLATION`` is 1: the jackknife as it is. Measured on bench/run_anatomy_bench.py (README): the
   true error inside the bounds on 19/19 ``auto`` matches, 52/52 of all (2f9c7ee); what it cannot see
   is a bias shared by the whole region, hence the candidates' agreement in the flag.

Cost: the daily image and its gradient at ≤ ``metric_blocks.MAX_SAMPLES`` points (trilinear, NumPy only: no SciPy in Slicer) and nine small
normal-equation solves from per-block sums: about 30–60 ms per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from igrt.registration.metric_blocks import (
    BLOCKS_PER_AXIS,
    apply_transform,
    block_edges,
    block_labels,
    region_samples,
    slope,
    values_at,
)
from igrt.registration.working_images import crop_box, resample_to_spacing

#: χ² quantile of 3 degrees of freedom at 0.95: |x|² of a 3-D standard normal stays below it 95 % of the time.
CHI2_3DOF_95 = 7.815
#: Fewest samples a block or the region must keep; fewer and the estimate is refused (flagged unbounded).
MIN_SAMPLES = 200
#: The jackknife spread is multiplied by this (1: as it is; the bench's coverage was measured with it),
#: and the bound never goes below the floors (interpolation effects the spread cannot see).
INFLATION = 1.0
FLOOR_MM = 0.05
FLOOR_DEG = 0.03
#: Default limits above which a match is flagged ("escalate: match uncertain"), settable per match.
LIMIT_MM = 1.0
LIMIT_DEG = 1.0


@dataclass
class StageUncertainty:
    """The estimate for one stage: bounds (mm, °), the Gauss–Newton step and the covariance (rad, mm)."""

    translation_mm_95: float
    rotation_deg_95: float
    step: np.ndarray  # (ωx, ωy, ωz, tx, ty, tz): rad, mm; rotations 0 when they were not estimated
    covariance: np.ndarray  # 6 × 6 on the same parameters (jackknife, before inflation)
    samples: int
    rotations: bool

    def as_dict(self) -> dict:
        return {
            "translation_mm_95": round(float(self.translation_mm_95), 3),
            "rotation_deg_95": round(float(self.rotation_deg_95), 3),
        }


def unbounded(rotations: bool = True) -> StageUncertainty:
    """The estimate when the region cannot give one (too few samples, a singular fit): infinite bounds."""
    return StageUncertainty(np.inf, np.inf, np.zeros(6), np.full((6, 6), np.inf), 0, rotations)


def estimate_uncertainty(
    fixed: sitk.Image,
    moving: sitk.Image,
    mask: sitk.Image,
    transform: sitk.Transform,
    isocenter_lps,
    rotations: bool = True,
) -> StageUncertainty:
    """The 95 % bounds of a rigid match (module docstring) from the images its metric compared.

    Parameters
    ----------
    fixed, moving, mask
        The planning features (the metric's fixed image), the prepared daily image and the region's
        sample mask on ``fixed``'s grid, as the final optimisation level saw them.
    transform
        The match: planning point → daily point (daily image coordinates).
    isocenter_lps
        Planning isocenter (LPS mm): the translation bound is for the error at this point.
    rotations
        False when the stage refined the translation only: the step and bound are for the translation,
        the rotation bound is 0 (the caller takes it from the stage that set the rotation).

    Returns
    -------
    StageUncertainty
    """
    x, f = region_samples(fixed, mask)
    if len(f) < MIN_SAMPLES:
        return unbounded(rotations)
    y = apply_transform(transform, x)
    y_iso = np.array(transform.TransformPoint(tuple(float(v) for v in isocenter_lps)))
    # The linear model is fitted to the planning features: the daily image is taken at their resolution.
    # Finer daily detail (noise above the planning grid's Nyquist) is noise in the design matrix's
    # gradients and shrinks the step and its spread towards zero (errors in variables): at 1.5 mm
    # against the real abdomen's 3 mm CT the bounds halved while the errors stayed.
    spacing = min(fixed.GetSpacing())
    lo, hi = y.min(axis=0), y.max(axis=0)
    near = crop_box(moving, (lo + hi) / 2, hi - lo, 2 * spacing)  # where the samples land, not the margin
    m, grad = _values_and_gradient(resample_to_spacing(near, spacing), y)
    ok = np.isfinite(m) & np.all(np.isfinite(grad), axis=1)
    if ok.sum() < MIN_SAMPLES:
        return unbounded(rotations)
    x, f, y, m, grad = x[ok], f[ok], y[ok], m[ok], grad[ok]
    a = slope(f, m)
    columns = [np.cross(y - y_iso, grad)] if rotations else []
    design = np.column_stack([*(a * c for c in columns), a * grad, m, np.ones_like(m)])
    residual = f - a * m - (f.mean() - a * m.mean())
    n_motion = 6 if rotations else 3
    # Normal equations per block (columns scaled to unit norm: rotation and intensity columns differ by
    # 10⁴): the full solve and each delete-one-block solve come from sums of the blocks' Gram matrices.
    norms = np.linalg.norm(design, axis=0)
    norms[norms == 0] = 1.0
    design = design / norms
    blocks = block_labels(x, block_edges(x, BLOCKS_PER_AXIS))
    n_blocks = BLOCKS_PER_AXIS**3
    gram = np.zeros((n_blocks, design.shape[1], design.shape[1]))
    rhs = np.zeros((n_blocks, design.shape[1]))
    counts = np.bincount(blocks, minlength=n_blocks)
    for b in np.flatnonzero(counts):
        rows = blocks == b
        gram[b] = design[rows].T @ design[rows]
        rhs[b] = design[rows].T @ residual[rows]
    total_g, total_r = gram.sum(axis=0), rhs.sum(axis=0)
    step = (_solve(total_g, total_r) / norms)[:n_motion]
    solutions = [
        (_solve(total_g - gram[b], total_r - rhs[b]) / norms)[:n_motion]
        for b in np.flatnonzero(counts)
        if len(f) - counts[b] >= MIN_SAMPLES
    ]
    if len(solutions) < 4 or not np.all(np.isfinite(step)):
        return unbounded(rotations)
    p = np.array(solutions)
    k = len(p)
    cov = (k - 1) / k * (p - p.mean(axis=0)).T @ (p - p.mean(axis=0))
    full_step = np.zeros(6)
    full_cov = np.zeros((6, 6))
    sel = slice(0, 6) if rotations else slice(3, 6)
    full_step[sel] = step
    full_cov[sel, sel] = cov
    t95 = np.linalg.norm(full_step[3:]) + INFLATION * np.sqrt(CHI2_3DOF_95 * _largest_eig(full_cov[3:, 3:]))
    w95 = np.linalg.norm(full_step[:3]) + INFLATION * np.sqrt(CHI2_3DOF_95 * _largest_eig(full_cov[:3, :3]))
    return StageUncertainty(
        translation_mm_95=max(float(t95), FLOOR_MM),
        rotation_deg_95=max(float(np.degrees(w95)), FLOOR_DEG) if rotations else 0.0,
        step=full_step,
        covariance=full_cov,
        samples=int(len(f)),
        rotations=rotations,
    )


def _values_and_gradient(image: sitk.Image, y: np.ndarray):
    """Trilinear values and central-difference gradients (per mm, LPS) of ``image`` at N × 3 points; NaN outside."""
    h = 0.5 * float(min(image.GetSpacing()))  # a voxel wide: the slope of the trilinear image across it
    values = values_at(image, y)
    grad = np.empty_like(y)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        grad[:, k] = (values_at(image, y + e) - values_at(image, y - e)) / (2 * h)
    return values, grad


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The normal equations' solution; a (near) singular system, a region that does not constrain the
    motion, gives infinities."""
    w = np.linalg.eigvalsh(gram)
    if w[0] <= 1e-10 * max(w[-1], 1e-300):
        return np.full(len(rhs), np.inf)
    return np.linalg.solve(gram, rhs)


def _largest_eig(c: np.ndarray) -> float:
    return float(np.max(np.linalg.eigvalsh(0.5 * (c + c.T)))) if np.all(np.isfinite(c)) else np.inf


def stage_uncertainty(
    outcome, isocenter_lps, rotations: bool, region_center_lps, previous
) -> StageUncertainty:
    """The estimate for a stage's outcome (``rigid.RegistrationOutcome``).

    A translation-only refinement keeps the previous stage's rotation, so its rotation bound is that
    stage's, and its translation bound at the isocenter grows by that rotation's lever arm: the
    refinement puts the region right, the isocenter is ``|region centre − isocenter|`` away from it.
    """
    if outcome.final_images is None:
        return unbounded(rotations)
    est = estimate_uncertainty(*outcome.final_images, outcome.transform, isocenter_lps, rotations)
    if rotations or previous is None:
        return est
    arm = np.linalg.norm(np.asarray(region_center_lps, float) - np.asarray(isocenter_lps, float))
    lever = np.radians(previous.rotation_deg_95) * arm
    est.translation_mm_95 = float(np.hypot(est.translation_mm_95, lever))
    est.rotation_deg_95 = previous.rotation_deg_95
    return est


def combined_bound(a: StageUncertainty, b: StageUncertainty | None) -> float:
    """How far apart two independent estimates may be and still agree (mm): their bounds added in quadrature."""
    if b is None:
        return np.inf
    return float(np.hypot(a.translation_mm_95, b.translation_mm_95))


def _finite_or_none(v: float, nd: int = 3):
    return round(float(v), nd) if np.isfinite(v) else None


def bounds_dict(unc: StageUncertainty) -> dict:
    """The two bounds of a stage for the result JSON (null when the region could not give them)."""
    return {
        "translation_mm_95": _finite_or_none(unc.translation_mm_95),
        "rotation_deg_95": _finite_or_none(unc.rotation_deg_95),
    }


def quality_uncertainty(
    chosen: StageUncertainty, candidates: list, disagree: bool, limit_mm: float, limit_deg: float
) -> dict:
    """``quality.uncertainty`` of the result JSON: the bounds of the result, the flag and why.

    ``candidates``: (stage, moved_mm, StageUncertainty, taken) of every stage; ``disagree``: a later
    stage moved the isocenter farther from the previous one than their combined bounds.
    """
    t, r = chosen.translation_mm_95, chosen.rotation_deg_95
    reasons = []
    if not (np.isfinite(t) and np.isfinite(r)):
        reasons.append(
            "no bound could be made: too few samples inside the daily image, or too little structure in the region"
        )
    else:
        if t > limit_mm:
            reasons.append(f"the 95% bound on the translation, {t:.2f} mm, exceeds {limit_mm:g} mm")
        if r > limit_deg:
            reasons.append(f"the 95% bound on the rotation, {r:.2f}°, exceeds {limit_deg:g}°")
    if disagree:
        moved = max(m for _, m, _, _ in candidates[1:])
        reasons.append(
            f"the candidates disagree: they are {moved:.2f} mm apart, more than their bounds allow"
        )
    return {
        **bounds_dict(chosen),
        "flag": bool(reasons),
        "reasons": reasons,
        "limit_mm": float(limit_mm),
        "limit_deg": float(limit_deg),
        "candidates_disagree": bool(disagree),
        "candidates": [
            {"stage": name, "moved_mm": round(float(m), 3), "taken": bool(taken), **bounds_dict(u)}
            for name, m, u, taken in candidates
        ],
        "method": "block jackknife (3×3×3 spatial blocks) of a Gauss-Newton step at the result, in the "
        "final region; 95% bound = remaining step + largest axis of the 95% ellipsoid",
    }
