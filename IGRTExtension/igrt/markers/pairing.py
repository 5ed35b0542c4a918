"""Implanted-marker matching: pairing without a given order, point-based rigid registration, residuals,
predicted target registration error and migration checks.

All points are DICOM LPS (mm). The registration follows the docs/CONVENTIONS.md direction: the returned matrix
maps a planning marker to where it is in the daily image ("where did the planned anatomy go").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from igrt import geometry
from igrt.errors import IGRTInputError

#: Migration thresholds on inter-marker distance changes (mm): warn, then suggest excluding the marker.
MIGRATION_WARN_MM = 1.5
MIGRATION_EXCLUDE_MM = 3.0
#: A pairing that keeps every marker is taken when its distance-pattern RMS is below this (mm): a migrated
#: marker (a few mm) must stay paired so that the migration check sees it, while a wrong assignment or a
#: false detection standing in for a missing marker changes the distances by far more.
KEEP_ALL_BELOW_MM = 2.5


def rigid_from_points(planning, daily) -> np.ndarray:
    """Least-squares rigid 4×4 taking ``planning`` points onto ``daily`` points (Arun/Umeyama SVD).

    A reflection (det −1, from noisy or nearly coplanar markers) is never returned: the smallest
    singular direction is flipped instead (Umeyama 1991).
    """
    p = np.asarray(planning, float)
    q = np.asarray(daily, float)
    if p.shape != q.shape or p.ndim != 2 or p.shape[1] != 3:
        raise IGRTInputError("marker lists must be N×3 and the same length")
    if len(p) < 3:
        raise IGRTInputError(f"{len(p)} marker pairs: at least 3 are needed for a rigid match")
    pc, qc = p.mean(axis=0), q.mean(axis=0)
    h = (p - pc).T @ (q - qc)
    u, s, vt = np.linalg.svd(h)
    if s[1] < 1e-6 * max(s[0], 1e-12):
        raise IGRTInputError("the markers are collinear: their rotation about that line cannot be found")
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T)) or 1.0])
    r = vt.T @ d @ u.T
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = qc - r @ pc
    return m


def predicted_tre(planning, fle_mm: float, target) -> float:
    """Expected RMS target registration error at ``target`` (Fitzpatrick, West & Maurer 1998).

    TRE²(r) ≈ FLE²/N · (1 + ⅓ Σₖ dₖ²/fₖ²), with dₖ the target's distance from the k-th principal axis
    of the marker configuration and fₖ the markers' RMS distance from that axis.
    """
    p = np.asarray(planning, float)
    c = p.mean(axis=0)
    _, _, vt = np.linalg.svd(p - c)
    x = (p - c) @ vt.T  # marker coordinates in the principal frame
    t = (np.asarray(target, float) - c) @ vt.T
    total = 0.0
    for k in range(3):
        others = [i for i in range(3) if i != k]
        f2 = np.mean(np.sum(x[:, others] ** 2, axis=1))
        d2 = np.sum(t[others] ** 2)
        total += d2 / f2 if f2 > 0 else np.inf
    return float(np.sqrt(fle_mm**2 / len(p) * (1.0 + total / 3.0)))


@dataclass
class MarkerMatch:
    """A marker match and its diagnostics (all in mm)."""

    matrix_lps: np.ndarray
    residuals_mm: np.ndarray  # per marker, |M(p) − q|
    fre_mm: float  # RMS of the residuals
    leave_one_out_mm: np.ndarray  # per marker, its error when the match is made without it
    tre_mm: float | None  # predicted RMS error at the target (isocenter)
    distance_changes_mm: np.ndarray  # N×N |d_daily − d_planning|
    warnings: list = field(default_factory=list)
    suspects: list = field(default_factory=list)  # markers that may have migrated (indices)


def match_markers(
    planning,
    daily,
    target=None,
    warn_mm: float = MIGRATION_WARN_MM,
    exclude_mm: float = MIGRATION_EXCLUDE_MM,
    names=None,
) -> MarkerMatch:
    """Rigid match of paired markers with residuals, leave-one-out errors, TRE and a migration check.

    Migration: a marker whose distances to the others changed by more than ``warn_mm`` is suspected;
    above ``exclude_mm`` the warning suggests excluding it and matching again. ``names`` label the
    markers in warnings (default "marker 1", "marker 2", ...).
    """
    p = np.asarray(planning, float)
    q = np.asarray(daily, float)
    m = rigid_from_points(p, q)
    res = np.linalg.norm(p @ m[:3, :3].T + m[:3, 3] - q, axis=1)
    fre = float(np.sqrt(np.mean(res**2)))
    loo = np.full(len(p), np.nan)
    if len(p) > 3:
        for i in range(len(p)):
            keep = np.arange(len(p)) != i
            try:
                mi = rigid_from_points(p[keep], q[keep])
            except IGRTInputError:  # the others alone are collinear
                continue
            loo[i] = np.linalg.norm(mi[:3, :3] @ p[i] + mi[:3, 3] - q[i])
    # FLE from FRE: E[FRE²] = (1 − 2/N)·FLE² (Fitzpatrick et al. 1998).
    fle = fre * np.sqrt(len(p) / (len(p) - 2)) if len(p) > 2 else np.nan
    tre = predicted_tre(p, fle, target) if target is not None else None
    dp = np.linalg.norm(p[:, None] - p[None], axis=2)
    dq = np.linalg.norm(q[:, None] - q[None], axis=2)
    change = np.abs(dq - dp)
    warnings, suspects = [], []
    if len(p) >= 3 and change.max() > warn_mm:
        # The marker whose distances changed most, when the change concentrates on it.
        score = change.sum(axis=1)
        worst = int(np.argmax(score))
        suspects.append(worst)
        name = names[worst] if names else f"marker {worst + 1}"
        level = "exclude it and match again" if change[worst].max() > exclude_mm else "check it"
        warnings.append(
            f"{name} may have migrated: its distances to the others changed by up to "
            f"{change[worst].max():.1f} mm (> {warn_mm:g} mm); {level}"
        )
    return MarkerMatch(m, res, fre, loo, tre, change, warnings, suspects)


def _fit_rotation_deg(p, q) -> float:
    """Rotation angle (°) of the least-squares rigid fit of ``p`` onto ``q``."""
    try:
        r = rigid_from_points(p, q)[:3, :3]
    except IGRTInputError:
        return 0.0  # collinear subsets: the angle is undefined; the match itself will refuse them
    return geometry.rotation_angle_deg(r)


@dataclass
class Pairing:
    """Which daily marker each planning marker is (−1: not found), and how clear that was."""

    daily_index: list
    cost_mm: float
    runner_up_mm: float | None
    warnings: list = field(default_factory=list)


def pair_markers(
    planning, daily, ambiguity_mm: float = 0.5, max_missing: int = 1, max_rotation_deg: float = 15.0
) -> Pairing:
    """Pair markers without a given order from their inter-marker distance pattern.

    Every assignment of planning markers to distinct daily markers (allowing up to ``max_missing``
    planning markers unmatched, and any extra daily markers) is scored by the RMS difference of the
    inter-marker distances it implies; distances do not depend on the set-up error, so this needs no
    initial alignment. Assignments implying a rotation above ``max_rotation_deg`` are discarded (both
    lists must be in parallel frames). Two pairings scoring within ``ambiguity_mm`` raise a warning.
    """
    p = np.asarray(planning, float)
    q = np.asarray(daily, float)
    if len(p) < 3 or len(q) < 3:
        raise IGRTInputError(f"{len(p)} planning and {len(q)} daily markers: at least 3 of each are needed")
    if len(p) > 6 or len(q) > 8:
        raise IGRTInputError("too many markers to pair exhaustively (at most 6 planning, 8 daily)")
    dp = np.linalg.norm(p[:, None] - p[None], axis=2)
    dq = np.linalg.norm(q[:, None] - q[None], axis=2)
    scored = []
    for n_missing in range(0, min(max_missing, len(p) - 3) + 1):
        for kept in itertools.combinations(range(len(p)), len(p) - n_missing):
            if len(kept) > len(q):
                continue
            sub = dp[np.ix_(kept, kept)]
            iu = np.triu_indices(len(kept), 1)
            for perm in itertools.permutations(range(len(q)), len(kept)):
                diff = sub[iu] - dq[np.ix_(perm, perm)][iu]
                # A missing marker costs 1 mm, so that dropping one is not free.
                scored.append((float(np.sqrt(np.mean(diff**2))) + n_missing, kept, perm))
        if scored and min(s[0] for s in scored) < KEEP_ALL_BELOW_MM:
            break  # good enough with this many markers: do not drop more
    scored.sort(key=lambda s: s[0])
    # Distances cannot tell a configuration from its rotated or mirrored relabelling (near-symmetric
    # marker sets); a set-up error is a few degrees, so an assignment whose rigid fit turns the patient
    # by more than ``max_rotation_deg`` is not a candidate.
    plausible = (s for s in scored if _fit_rotation_deg(p[list(s[1])], q[list(s[2])]) <= max_rotation_deg)
    best = next(plausible, None)
    if best is None:
        raise IGRTInputError(
            f"no pairing of the markers keeps the rotation under {max_rotation_deg:g}°: check the marker lists"
        )
    best_cost, kept, perm = best
    index = [-1] * len(p)
    for i, j in zip(kept, perm, strict=True):
        index[i] = j
    runner = next((s[0] for s in plausible), None)
    warnings = []
    if runner is not None and runner - best_cost < ambiguity_mm:
        warnings.append(
            f"ambiguous pairing: the two best pairings differ by only {runner - best_cost:.2f} mm in the "
            "marker distance pattern; check the markers by eye"
        )
    if -1 in index:
        warnings.append(f"planning marker {index.index(-1) + 1} was not found in the daily image")
    if len(q) > len(kept):
        warnings.append(f"{len(q) - len(kept)} daily marker(s) left unpaired (extra or false detections)")
    return Pairing(index, best_cost, runner, warnings)
