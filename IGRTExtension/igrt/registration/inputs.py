"""The daily match's input checks: do these images, this plan and this mask belong together?

Every rule here is called by the one match workflow (``igrt.registration.workflow``), so the command line,
the Slicer modules and studies refuse exactly the same inputs. Each refusal is one clear line
(``IGRTInputError``); what is acceptable but worth knowing comes back as warnings for the result.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.identity import check_same_frame
from igrt.volume import Volume


def check_pair(planning: Volume, daily: Volume) -> list[str]:
    """Check the planning and daily images may be matched; return warnings to record in the result.

    Raises on two different patient IDs, and on two different patient positions (e.g. HFS planning,
    FFS daily) when both are known: the orientation decides every couch sign, so a mismatch is a
    setup or data error to resolve before matching, not a warning. Different frames of reference are
    expected (a CBCT has its own) and are recorded; unknown identities are recorded.
    """
    warnings = []
    if planning.patient_id and daily.patient_id and planning.patient_id != daily.patient_id:
        raise IGRTInputError(
            f"patient ID mismatch: planning image is {planning.patient_id!r}, daily image is {daily.patient_id!r}"
        )
    pp, dp = planning.patient_position, daily.patient_position
    if pp and dp and pp != dp:
        raise IGRTInputError(f"patient position mismatch: planning image is {pp}, daily image is {dp}")
    for role, v in (("planning", planning), ("daily", daily)):
        if not v.patient_id:
            warnings.append(f"{role} image has no patient ID ({v.path}): same patient not checked")
        if not v.patient_position:
            warnings.append(f"{role} image has no patient position ({v.path})")
    pf, df = planning.frame_of_reference_uid, daily.frame_of_reference_uid
    if pf and df and pf != df:
        warnings.append(
            f"planning and daily images have different frames of reference ({pf} vs {df}): "
            "expected for a CBCT; the isocenters are paired as declared"
        )
    elif not (pf and df):
        warnings.append(
            "frame of reference unknown for at least one image: the isocenters are paired as declared"
        )
    if planning.series_uid and planning.series_uid == daily.series_uid:
        warnings.append(f"planning and daily images are the same series ({planning.series_uid})")
    return warnings


def check_plan(plan, planning: Volume) -> list[str]:
    """Refuse a plan of another patient or frame of reference than the planning image; return its warnings.

    ``plan``: an ``igrt.io.rtplan.PlanInfo`` (from an RTPLAN file, or made from a SlicerRT plan node).
    """
    if plan.patient_id and planning.patient_id and plan.patient_id != planning.patient_id:
        raise IGRTInputError(
            f"the plan is for patient {plan.patient_id!r} but the planning image is for {planning.patient_id!r}"
        )
    pf, imf = plan.frame_of_reference_uid, planning.frame_of_reference_uid
    if pf and imf and pf != imf:
        raise IGRTInputError(
            f"the plan's frame of reference ({pf}) is not the planning image's ({imf}): its isocenter "
            "would be taken in the wrong coordinates"
        )
    return list(plan.warnings)


def check_point(point, what: str) -> np.ndarray | None:
    """A declared point (LPS mm) as a finite 3-vector, None when not given; one clear line otherwise."""
    if point is None:
        return None
    try:
        p = np.asarray(point, float)
    except (TypeError, ValueError):
        p = np.zeros(0)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise IGRTInputError(f"{what} must be three finite LPS coordinates in mm, got {point!r}")
    return p


def target_mask_on(mask: sitk.Image, planning: Volume, source: str = "target mask") -> sitk.Image:
    """The target mask (any label image in the planning frame) as 0/1, refused when it misses the planning CT."""
    binary = sitk.Cast(mask > 0, sitk.sitkUInt8)
    on_planning = sitk.Resample(binary, planning.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    if sitk.GetArrayViewFromImage(on_planning).sum() == 0:
        raise IGRTInputError(f"{source} is empty or lies outside the planning image")
    return binary


def check_structures(structures, planning: Volume) -> list[str]:
    """Refuse planning structures (``igrt.dose.model.StructureSet``) of another frame of reference or
    patient than the planning image: they would be drawn on the wrong anatomy. Warnings when unknown."""
    return check_same_frame(structures, "structures", planning, "planning image")
