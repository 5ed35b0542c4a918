"""Daily match: isocenter alignment, bone / soft-tissue rigid registration, and the result (docs/CONVENTIONS.md).

Frames: the planning image's frame is the reference. When the daily image has its own frame (CBCT),
its declared treatment isocenter is identified with the planning isocenter: a daily-frame point ``d``
is the planning-frame point ``d - daily_iso + planning_iso``. The result ``matrix_lps`` maps a planned
anatomy point to where that anatomy is in the daily image, in planning-frame coordinates.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from igrt import geometry, patient_position
from igrt.errors import IGRTInputError
from igrt.registration import sanity
from igrt.registration.rigid import (
    NoIntensityBandError,
    Region,
    RegistrationSettings,
    euler_from_matrix,
    matrix_from_transform,
    register_rigid,
    working_images_for,
)
from igrt.registration.uncertainty import (
    LIMIT_DEG,
    LIMIT_MM,
    bounds_dict,
    combined_bound,
    quality_uncertainty,
    stage_uncertainty,
)
from igrt.registration.working_images import crop_box, extent_corners
from igrt.volume import Volume

METHODS = ("auto", "bone", "soft")
#: Planning HU band sampled by the bone match (cortical and trabecular bone).
BONE_HU = (200.0, 3000.0)
#: Quality floor: a correlation this low after matching means the match clearly failed. Calibrated on
#: the simulated CBCTs: correct matches reach 0.64 (low dose) to 0.88; a wrong one seen at 2 mm working
#: spacing on the bead phantom scored 0.42.
MIN_CORRELATION = 0.45
#: A match that moved this far from the isocenter alignment ran away, whatever its metric.
MAX_TRANSLATION_MM = 50.0
MAX_ROTATION_DEG = 10.0
#: A refinement stage (soft tissue after bone) may move the isocenter at most this far. The prostate moves
#: up to about 10 mm against the pelvis between fractions (rectal and bladder filling); a 5 mm cap once
#: threw away correct soft-tissue matches of 5.8 and 6.2 mm (bench/run_soft_bench.py).
MAX_REFINEMENT_MM = 15.0
#: ... and must raise the similarity by at least this much: a smaller gain is within the metric's noise
#: (sampling, interpolation), and taking it only lets the result drift. On the rigid bench phantoms the
#: soft-tissue stage gains 0.0000–0.0002 and moves the isocenter by 0.1 mm; a target that really moved
#: against the bone by millimetres gains far more.
MIN_REFINEMENT_GAIN = 0.001
#: ... and the gain must be significant: at least this many standard errors of a block jackknife of the
#: gain over the region's 3 × 3 × 3 spatial blocks (``sanity.mirror_lead``'s statistic, the previous
#: stage's transform as the other hypothesis). Measured (bench/run_anatomy_bench.py, run_soft_bench.py):
#: a target that moved 5–6 mm against the bone gains 6.7–15 standard errors; on rigid cases (the real
#: abdomen, the pelvis phantom, TG-119: nothing moved against the bone) the refinement's gain is
#: −4.7 … +1.7 of them, its move (0.1–1.4 mm) the optimiser's sampling noise. A 0.001 gain of 1.1
#: standard errors once took a 0.2 mm refinement that was 0.24 mm off where the bone stage was 0.04.
REFINEMENT_Z = 2.5
#: An accepted refinement that moves the target farther than this from the previous stage is reported.
TARGET_MOTION_WARN_MM = 5.0


class MatchFailedError(Exception):
    """The registration ran but its result cannot be trusted; the message says why."""


@dataclass
class MatchOptions:
    """What a user chooses for one match. Sizes are full box edge lengths in mm (LPS x, y, z)."""

    method: str = "auto"
    planning_isocenter_lps: tuple | None = None
    daily_isocenter_lps: tuple | None = None
    orientation: str | None = None
    clip_box_mm: tuple = (180.0, 160.0, 140.0)
    soft_box_mm: tuple = (110.0, 110.0, 110.0)
    soft_center_lps: tuple | None = None
    soft_mask: sitk.Image | None = None
    #: ``quality.uncertainty.flag`` is set when the 95 % bound exceeds these (mm at the isocenter, °)
    uncertainty_limit_mm: float = LIMIT_MM
    uncertainty_limit_deg: float = LIMIT_DEG
    settings: RegistrationSettings = field(default_factory=RegistrationSettings)


@dataclass
class MatchResult:
    """The match result; ``to_dict`` is the result JSON (README documents every field)."""

    matrix_lps: np.ndarray
    planning_isocenter_lps: np.ndarray
    daily_isocenter_lps: np.ndarray
    method: str
    quality: dict
    stages: list
    warnings: list
    elapsed_s: float
    inputs: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    orientation: str = patient_position.DEFAULT
    #: seconds spent on parts of the match (``uncertainty_s``); not in the result JSON (it varies per run)
    timings: dict = field(default_factory=dict)

    @property
    def translation_mm(self) -> np.ndarray:
        """Displacement of the planned isocenter: where the anatomy at the isocenter went (LPS mm)."""
        return geometry.displacement_at(self.matrix_lps, self.planning_isocenter_lps)

    @property
    def rotation_deg(self) -> np.ndarray:
        """Rotation of the anatomy about LPS x, y, z (R = Rz·Ry·Rx, right-handed), degrees."""
        return geometry.angles_xyz_deg(self.matrix_lps[:3, :3])

    def to_dict(self) -> dict:
        from igrt.result import result_dict

        return result_dict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> MatchResult:
        """The result a document holds (the inverse of :meth:`to_dict`; derived fields are recomputed)."""
        return cls(
            matrix_lps=np.asarray(doc["matrix_lps"], float),
            planning_isocenter_lps=np.asarray(doc["planning_isocenter_lps"], float),
            daily_isocenter_lps=np.asarray(
                doc.get("daily_isocenter_lps") or doc["planning_isocenter_lps"], float
            ),
            method=doc.get("method", ""),
            quality=dict(doc.get("quality") or {}),
            stages=list(doc.get("stages") or []),
            warnings=list(doc.get("warnings") or []),
            elapsed_s=float(doc.get("elapsed_s") or 0.0),
            inputs=dict(doc.get("inputs") or {}),
            parameters=dict((doc.get("software") or {}).get("parameters") or {}),
            orientation=doc.get("orientation") or patient_position.DEFAULT,
        )


def resolve_isocenters(planning: Volume, daily: Volume, options: MatchOptions, warnings: list):
    """Planning and daily isocenters (docs/CONVENTIONS.md): declared, or derived with a recorded warning."""
    p_iso = options.planning_isocenter_lps
    if p_iso is None:
        p_iso = planning.center_lps()
    p_iso = np.asarray(p_iso, float)
    d_iso = options.daily_isocenter_lps
    if d_iso is not None:
        return p_iso, np.asarray(d_iso, float)
    fp, fd = planning.frame_of_reference_uid, daily.frame_of_reference_uid
    if fp is not None and fp == fd:
        return p_iso, p_iso  # same frame of reference: the same point
    if fp is not None and fd is not None:
        warnings.append(
            "daily image in its own frame of reference: its image center is taken as the "
            "treatment isocenter (give the daily isocenter to override)"
        )
        return p_iso, np.asarray(daily.center_lps(), float)
    # Frames unknown (volume files): same coordinates if the point is inside the daily image.
    inside = _inside(daily.image, p_iso)
    d_iso = p_iso if inside else np.asarray(daily.center_lps(), float)
    warnings.append(
        "frames of reference unknown: the daily isocenter is assumed to be "
        + ("the same coordinates as the planning isocenter" if inside else "the daily image center")
    )
    return p_iso, d_iso


def _inside(image: sitk.Image, point) -> bool:
    idx = np.array(image.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in point)))
    return bool(np.all(idx >= -0.5) and np.all(idx <= np.array(image.GetSize()) - 0.5))


def _check_overlap(planning: sitk.Image, daily: sitk.Image, p_iso, d_iso, box_mm) -> None:
    """Refuse when the daily image does not cover the region around the aligned isocenter."""

    def bounds(img):
        c = extent_corners(img)
        return c.min(axis=0), c.max(axis=0)

    dlo, dhi = bounds(daily)
    plo, phi = bounds(planning)
    if not np.all((d_iso >= dlo - 1) & (d_iso <= dhi + 1)):
        raise IGRTInputError(
            f"the daily isocenter {np.round(d_iso, 1).tolist()} mm lies outside the daily image "
            f"({np.round(dlo, 1).tolist()}..{np.round(dhi, 1).tolist()}): the images do not overlap"
        )
    if not np.all((p_iso >= plo - 1) & (p_iso <= phi + 1)):
        raise IGRTInputError(
            f"the planning isocenter {np.round(p_iso, 1).tolist()} mm lies outside the planning image "
            f"({np.round(plo, 1).tolist()}..{np.round(phi, 1).tolist()})"
        )
    half = np.asarray(box_mm, float) / 2
    lo = np.maximum(plo - p_iso, dlo - d_iso)
    hi = np.minimum(phi - p_iso, dhi - d_iso)
    overlap = np.clip(np.minimum(hi, half) - np.maximum(lo, -half), 0, None)
    if np.prod(overlap) < 0.1 * np.prod(2 * half):
        raise IGRTInputError(
            "the daily image and the planning image share less than 10% of the "
            "clip box around the isocenter: they do not overlap"
        )


def mask_box(mask: sitk.Image, margin_mm: float = 15.0):
    """Centre and size (LPS mm) of the box around a target mask's voxels, grown by ``margin_mm``."""
    idx = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1]
    if len(idx) == 0:
        raise IGRTInputError("the target mask is empty")
    pts = np.array(
        [mask.TransformIndexToPhysicalPoint([int(v) for v in i]) for i in (idx.min(0), idx.max(0))]
    )
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return (lo + hi) / 2, (hi - lo) + 2 * margin_mm


def _regions(planning: Volume, options: MatchOptions, p_iso):
    bone = Region(p_iso, np.asarray(options.clip_box_mm, float), intensity_range=BONE_HU)
    center = options.soft_center_lps if options.soft_center_lps is not None else p_iso
    size = options.soft_box_mm
    if options.soft_mask is not None:
        # Soft-tissue match around a structure: its box (plus a margin so its edges are seen) and the
        # mask dilated by the same margin.
        center, size = mask_box(options.soft_mask)
        radius = [max(1, int(round(10.0 / sp))) for sp in options.soft_mask.GetSpacing()]
        # Dilated on its box only (which holds the 15 mm margin the 10 mm growth needs; outside it stays
        # 0): a third of the time on the real abdomen's kidney (21 → 6.5 ms).
        near = crop_box(options.soft_mask, center, size)
        mask = sitk.BinaryDilate(sitk.Cast(near > 0, sitk.sitkUInt8), radius)
        return bone, Region(np.asarray(center, float), np.asarray(size, float), mask=mask)
    return bone, Region(np.asarray(center, float), np.asarray(size, float))


def _check_plausible(matrix, p_iso, quality):
    t = np.linalg.norm(geometry.displacement_at(matrix, p_iso))
    angle = geometry.rotation_angle_deg(matrix)
    if not np.isfinite(quality["similarity_after"]) or quality["similarity_after"] < MIN_CORRELATION:
        raise MatchFailedError(
            f"registration failed: correlation in the region is {quality['similarity_after']:.2f} "
            f"(< {MIN_CORRELATION}); check the isocenters, the orientation and the region"
        )
    if t > MAX_TRANSLATION_MM or angle > MAX_ROTATION_DEG:
        raise MatchFailedError(
            f"registration failed: it moved {t:.1f} mm / {angle:.1f}° from the isocenter alignment "
            f"(limits {MAX_TRANSLATION_MM} mm / {MAX_ROTATION_DEG}°); align the isocenters by hand and retry"
        )


def _refinement_rejected(outcome, moved: float, unc, previous, gain_z: float) -> str | None:
    """Why a refinement stage (soft tissue after bone) is not taken, or None when it is.

    The two candidates are compared on a common similarity over the same region (the refinement's:
    ``metric_before`` is the previous candidate's similarity there, ``metric_after`` its own) and on
    their uncertainty. Not taken: it moved the isocenter more than ``MAX_REFINEMENT_MM``; it scores
    below the ``MIN_CORRELATION`` floor; it raised the similarity by less than ``MIN_REFINEMENT_GAIN``
    or by fewer than ``REFINEMENT_Z`` of the gain's standard errors (``gain_z``; "noise"); or both agree
    within their bounds and the previous stage's bound is the smaller.
    """
    gain = outcome.metric_after - outcome.metric_before
    if moved > MAX_REFINEMENT_MM:
        return f"more than {MAX_REFINEMENT_MM:g} mm"
    if not np.isfinite(outcome.metric_after) or outcome.metric_after < MIN_CORRELATION:
        return f"its similarity is below the {MIN_CORRELATION} floor"
    if gain < MIN_REFINEMENT_GAIN:
        return "lower similarity" if outcome.metric_after < outcome.metric_before - 0.005 else "noise"
    if gain_z < REFINEMENT_Z:
        return "noise"
    if moved <= combined_bound(unc, previous) and unc.translation_mm_95 > previous.translation_mm_95:
        return "noise"  # consistent with the previous stage, which is the more certain of the two
    return None


def _disagrees(moved: float, unc, previous, gain_z: float) -> bool:
    """A refinement disagrees with the previous stage: it moved the isocenter farther than their combined
    bounds and its own similarity significantly prefers where it went (``gain_z`` ≥ ``REFINEMENT_Z``).
    A move the similarity does not support is the optimiser's sampling noise, not a second opinion: on
    the real abdomen's kidneys, nothing moved against the bone, 0.5–1.4 mm at −1.7 … −0.8 standard
    errors flagged 2 of 8 correct matches."""
    return bool(moved > combined_bound(unc, previous) and gain_z >= REFINEMENT_Z)


def _gain_z(outcome, previous_transform) -> float:
    """A refinement's gain in correlation over its region in standard errors of the block jackknife
    (``sanity.mirror_lead`` with the previous stage's transform as the other hypothesis); inf when the
    region has too few blocks for a standard error."""
    lead, se = sanity.mirror_lead(dataclasses.replace(outcome, transform=previous_transform), outcome)
    if se > 0:
        return float(lead / se)
    return float("inf") if lead > 0 else float("-inf")


def _stage_record(name: str, outcome, moved_mm: float, unc=None, rejected: bool = False) -> dict:
    """One stage's diagnostics for the result JSON's ``stages``."""
    record = {
        "stage": name,
        "similarity_before": round(outcome.metric_before, 4),
        "similarity_after": round(outcome.metric_after, 4),
        "samples": outcome.samples,
        "overlap": round(outcome.overlap, 3),
        "iterations": len(outcome.iterations),
        "stop": outcome.stop_reason,
        "moved_mm": round(float(moved_mm), 2),
    }
    if unc is not None:
        record["uncertainty"] = bounds_dict(unc)
    if rejected:
        record["rejected"] = True
    return record


def run_match(
    planning: Volume, daily: Volume, options: MatchOptions | None = None, progress=None
) -> MatchResult:
    """Match the daily image to the planning CT and return the displacement of the planned anatomy.

    Raises ``IGRTInputError`` for input that cannot be matched and ``MatchFailedError`` when the
    registration ran but clearly failed (it refuses to report such a result).
    """
    t0 = time.perf_counter()
    options = options or MatchOptions()
    if options.method not in METHODS:
        raise IGRTInputError(f"unknown match method {options.method!r}; use one of {', '.join(METHODS)}")
    warnings: list = []
    p_iso, d_iso = resolve_isocenters(planning, daily, options, warnings)
    _check_overlap(planning.image, daily.image, p_iso, d_iso, options.clip_box_mm)

    # Initial alignment at the isocenters: planning point q -> daily point q - p_iso + d_iso.
    to_daily = geometry.daily_frame_shift(p_iso, d_iso)
    transform = euler_from_matrix(to_daily, p_iso)
    bone, soft = _regions(planning, options, p_iso)
    stages_todo = {
        "auto": [("bone", bone), ("soft", soft)],
        "bone": [("bone", bone)],
        "soft": [("soft", soft)],
    }[options.method]
    stages = []
    outcome = None
    chosen_unc = None  # the uncertainty of the stage whose result is kept so far
    candidates: list = []  # (stage, moved_mm, uncertainty, taken) of every stage, for the flag
    candidates_disagree = False
    unc_seconds = 0.0
    prepared: dict = {}  # the images as each high-pass sees them, shared by the stages that use it

    def working_for(settings):
        key = (settings.high_pass_mm, settings.capture_margin_mm)
        if key not in prepared:
            first = next(iter(prepared.values()), None)
            prepared[key] = (
                working_images_for(planning.image, daily.image, settings)
                if first is None
                else first.another_high_pass(*key)
            )
        return prepared[key]

    said, checked, suspects = sanity.check_daily_image(  # the planning image as daily? a mirrored daily?
        planning,
        daily,
        working_for(options.settings),
        stages_todo[0][1],
        transform,
        options.settings.search_mm,
    )
    warnings += said
    for name, region in stages_todo:

        def _progress(level, it, _name=name):
            if progress is not None:
                progress(f"{_name} match: level {level + 1}, iteration {it}")

        refine = bool(stages)  # a later stage refines the previous one: no search, finer levels only
        settings = options.settings
        if name == "soft" and settings.high_pass_mm > 0:
            settings = dataclasses.replace(settings, high_pass_mm=settings.soft_high_pass_mm)
        if refine:
            settings = dataclasses.replace(
                settings,
                shrink_factors=(1,),
                smoothing_mm=(0.0,),
                polish=False,
                samples_per_level=10000,
            )
        kwargs = {
            "search": not refine,
            # auto: the soft-tissue stage refines the translation only; the small region around the
            # target constrains rotations less well than the bone match does.
            "rotations": not (options.method == "auto" and name == "soft"),
            "working": working_for(settings),
        }
        try:
            try:
                outcome = register_rigid(
                    planning.image, daily.image, region, transform, settings, _progress, **kwargs
                )
            except NoIntensityBandError:
                warnings.append(
                    "no bone in the clip box (planning HU 200–3000): the bone match used the strongest "
                    "edges of the planning image instead"
                )
                region = Region(region.center_lps, region.size_mm, edges_fraction=0.15)
                outcome = register_rigid(
                    planning.image, daily.image, region, transform, settings, _progress, **kwargs
                )
        except ValueError as exc:
            raise IGRTInputError(f"{name} match: {exc}") from exc
        if not refine and suspects:  # would the daily image match better mirrored?
            checked |= sanity.confirm_mirror(
                planning.image,
                daily.image,
                region,
                transform,
                outcome,
                settings,
                suspects,
                MIN_CORRELATION,
                kwargs["working"],
            )
        moved = np.linalg.norm(
            np.array(outcome.transform.TransformPoint(tuple(p_iso)))
            - np.array(transform.TransformPoint(tuple(p_iso)))
        )
        t_unc = time.perf_counter()
        unc = stage_uncertainty(outcome, p_iso, kwargs["rotations"], region.center_lps, chosen_unc)
        unc_seconds += time.perf_counter() - t_unc
        if refine:
            gain_z = _gain_z(outcome, transform)
            reason = _refinement_rejected(outcome, moved, unc, chosen_unc, gain_z)
            # Candidates that disagree beyond their bounds flag the match, whichever is taken.
            candidates_disagree |= _disagrees(moved, unc, chosen_unc, gain_z)
            if reason is not None:
                # Not taken. Worth a warning only when it disagrees with the previous stage (moved far,
                # clearly lower similarity, below the floor).
                if reason != "noise":
                    warnings.append(
                        f"the {name} refinement was rejected ({reason}; it moved {moved:.1f} mm, similarity "
                        f"{outcome.metric_before:.3f} → {outcome.metric_after:.3f}): the previous stage's match is kept"
                    )
                stages.append(_stage_record(name, outcome, moved, unc, rejected=True))
                candidates.append((name, moved, unc, False))
                continue
            if moved > TARGET_MOTION_WARN_MM:
                warnings.append(
                    f"the {name} match puts the target {moved:.1f} mm from the {stages[-1]['stage']} match: the "
                    "target moved against the bone, or the soft-tissue match is wrong; review it before treating"
                )
        transform = outcome.transform
        chosen_unc = unc
        stages.append(_stage_record(name, outcome, moved, unc))
        candidates.append((name, moved, unc, True))

    # Back to the planning frame: daily point d is planning point d - d_iso + p_iso.
    matrix = geometry.result_from_planning_to_daily(matrix_from_transform(transform), p_iso, d_iso)
    accepted = [st for st in stages if not st.get("rejected")]
    quality = {
        "metric": "normalized cross-correlation of the high-passed images in the final region",
        "similarity_before": stages[0]["similarity_before"],
        "similarity_after": accepted[-1]["similarity_after"],
        "overlap": accepted[-1]["overlap"],
        "overlap_sense": "fraction of the final region's planning samples inside the daily field of view",
        **checked,
    }
    accepted[-1]["chosen"] = True
    quality["uncertainty"] = quality_uncertainty(
        chosen_unc,
        candidates,
        candidates_disagree,
        options.uncertainty_limit_mm,
        options.uncertainty_limit_deg,
    )
    _check_plausible(matrix, p_iso, quality)
    return MatchResult(
        matrix_lps=matrix,
        planning_isocenter_lps=p_iso,
        daily_isocenter_lps=d_iso,
        method=options.method,
        quality=quality,
        stages=stages,
        warnings=warnings,
        elapsed_s=time.perf_counter() - t0,
        orientation=options.orientation or planning.patient_position or patient_position.DEFAULT,
        timings={"uncertainty_s": round(unc_seconds, 4)},
    )
