"""The daily match workflow: the one function `igrt match`, the Daily Match module and studies call.

It takes plain inputs (two ``Volume`` objects, match options, an optional plan and target mask), owns
every rule about them — pair checks (patient, patient position, frame of reference), the plan check,
isocenter and orientation defaults, the warnings and refusals — and returns the result document (the
dict ``igrt match`` writes; fields in the README, conventions in docs/CONVENTIONS.md). Callers only
convert: the CLI reads files and writes JSON, the MRML adapters turn nodes into these inputs and the
document back into nodes.
"""

from __future__ import annotations

import dataclasses
import math
import time

from igrt import patient_position
from igrt.errors import IGRTInputError
from igrt.registration import inputs
from igrt.registration.match import METHODS, MatchOptions, run_match
from igrt.volume import Volume


def check_uncertainty_limit(value, what: str, unit: str) -> float:
    """The limit above which a match's 95 % bound flags it (``quality.uncertainty.flag``): a positive,
    finite number of ``unit``; refused in one line naming ``what`` otherwise (the CLI, Slicer, studies)."""
    if not (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    ):
        raise IGRTInputError(f"the {what} must be a positive number of {unit}, got {value!r}")
    return float(value)


def daily_match(
    planning: Volume,
    daily: Volume,
    options: MatchOptions | None = None,
    *,
    plan=None,
    target_mask=None,
    target_mask_source: str = "target mask",
    structures=None,
    progress=None,
) -> dict:
    """Match the daily image to the planning image; the result document.

    Parameters
    ----------
    planning, daily : Volume
        The images (DICOM LPS mm) with their DICOM identity; the daily image may have its own frame.
    options : MatchOptions
        Method, declared isocenters (planning frame / daily frame, LPS mm), orientation, boxes.
    plan : igrt.io.rtplan.PlanInfo, optional
        Gives the planning isocenter and patient position; excludes a declared planning isocenter.
    target_mask : SimpleITK.Image, optional
        Label image of the target in the planning frame, for the soft-tissue stage.
    structures : igrt.dose.model.StructureSet, optional
        Planning structures to draw on the daily image (report, views): checked to belong to the
        planning image (frame of reference, patient) before the match runs, and recorded.
    progress : callable(str), optional
        Called with short progress lines during the registration.

    Returns
    -------
    dict
        The result JSON: ``matrix_lps`` maps planned anatomy to where it is in the daily frame
        ("patient is displaced"), ``couch`` the full correction ("couch moves"), ``warnings``, ...

    Raises
    ------
    IGRTInputError
        Inputs that must not be matched (different patients or positions, a plan of another frame,
        bad points, a mask outside the planning image), before any registration runs.
    igrt.registration.match.MatchFailedError
        The registration ran and its result cannot be trusted.
    """
    t0 = time.perf_counter()
    options = dataclasses.replace(options) if options is not None else MatchOptions()
    if planning is None or daily is None:
        raise IGRTInputError("select both the planning and the daily image")
    if planning is daily:
        raise IGRTInputError("the planning and the daily image are the same image")
    if options.method not in METHODS:
        raise IGRTInputError(f"unknown match method {options.method!r}; use one of {', '.join(METHODS)}")
    check_uncertainty_limit(options.uncertainty_limit_mm, "uncertainty limit (--uncertainty-limit-mm)", "mm")
    check_uncertainty_limit(options.uncertainty_limit_deg, "uncertainty limit (--uncertainty-limit-deg)", "°")
    warnings = list(planning.warnings) + list(daily.warnings) + inputs.check_pair(planning, daily)
    isocenter = inputs.check_point(options.planning_isocenter_lps, "the planning isocenter")
    daily_iso = inputs.check_point(options.daily_isocenter_lps, "the daily isocenter")
    if plan is not None:
        if isocenter is not None:
            raise IGRTInputError("give either a plan or an isocenter, not both")
        warnings += inputs.check_plan(plan, planning)
        isocenter = inputs.check_point(plan.isocenter_lps, f"the isocenter of plan {plan.path}")
    orientation, orientation_source, said = patient_position.resolve(
        options.orientation,
        plan=plan.patient_position if plan is not None else None,
        planning_image=planning.patient_position,
    )
    warnings += said
    options.planning_isocenter_lps = None if isocenter is None else tuple(isocenter)
    options.daily_isocenter_lps = None if daily_iso is None else tuple(daily_iso)
    options.orientation = orientation
    if target_mask is not None:
        options.soft_mask = inputs.target_mask_on(target_mask, planning, target_mask_source)
    if structures is not None:
        warnings += inputs.check_structures(structures, planning)
    if isocenter is None:
        warnings.append("no plan or isocenter given: the planning image center is used as the isocenter")
    result = run_match(planning, daily, options, progress=progress)
    result.warnings = warnings + result.warnings
    result.inputs = {
        "planning": planning.identity(),
        "daily": daily.identity(),
        "plan": str(plan.path) if plan is not None else None,
        "isocenter_source": "plan"
        if plan is not None
        else ("given" if isocenter is not None else "planning image center"),
        "orientation_source": orientation_source,
        "target_mask": target_mask_source if target_mask is not None else None,
        "structures": structures.path if structures is not None else None,
    }
    result.parameters = {
        "method": options.method,
        "clip_box_mm": list(options.clip_box_mm),
        "soft_box_mm": list(options.soft_box_mm),
        "registration": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(options.settings).items()
        },
    }
    result.elapsed_s = time.perf_counter() - t0
    return result.to_dict()


def daily_match_files(
    planning_path,
    daily_path,
    options: MatchOptions | None = None,
    *,
    plan_path=None,
    target_mask_path=None,
    structures=None,
    progress=None,
) -> tuple[dict, Volume, Volume]:
    """Read the inputs from files and run :func:`daily_match`; returns (document, planning, daily).

    Paths: a DICOM series folder or a volume file for the images, an RTPLAN file, a label image.
    The volumes come back so that a caller can draw the comparison without reading them again.
    """
    from igrt.io.volumes import read_volume

    t0 = time.perf_counter()
    if plan_path is not None and options is not None and options.planning_isocenter_lps is not None:
        raise IGRTInputError("give either --plan or --isocenter, not both")
    planning = read_volume(planning_path)
    daily = read_volume(daily_path)
    plan = None
    if plan_path is not None:
        from igrt.io.rtplan import read_rtplan

        plan = read_rtplan(plan_path)
    mask = None
    if target_mask_path is not None:
        from igrt.io.masks import read_label_image

        mask = read_label_image(target_mask_path)
    result = daily_match(
        planning,
        daily,
        options,
        plan=plan,
        target_mask=mask,
        target_mask_source=f"target mask {target_mask_path}",
        structures=structures,
        progress=progress,
    )
    result["elapsed_s"] = round(time.perf_counter() - t0, 3)  # reading included, as before
    if target_mask_path is not None:
        result["inputs"]["target_mask"] = str(target_mask_path)
    return result, planning, daily
