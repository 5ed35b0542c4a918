"""Read the dose of a DVH or dose-impact run: RTDOSE file(s) or one dose volume file (NRRD/MHA/NIfTI, Gy).

Several RTDOSE files are summed only when asked (``sum_doses``), and only when the sum means one
thing: the same frame of reference, patient and units, no file twice, and either the per-beam doses
(BEAM) of one plan or the doses of different plans (the sum is then MULTI_PLAN, PS3.3 C.8.8.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.dose.model import Dose
from igrt.errors import IGRTInputError
from igrt.image_grid import same_grid
from igrt.io.rtdose import read_rtdose
from igrt.io.volumes import VOLUME_SUFFIXES, read_image_file

BEAM_TYPES = {"BEAM", "BEAM_SESSION", "CONTROL_POINT"}
GRID_TOL = 1e-3
NEGATIVE_TOL_GY = 1e-3


def read_dose(paths, sum_doses: bool = False) -> Dose:
    """The dose of ``paths`` (one path or a list): checked, in Gy or relative units, finite and ≥ 0."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
    if not paths:
        raise IGRTInputError("no dose file given")
    if len(paths) > 1 and not sum_doses:
        raise IGRTInputError(f"{len(paths)} dose files given: ask for their sum (--sum) or give one")
    doses = [_read_one(p) for p in paths]
    dose = doses[0] if len(doses) == 1 else _sum(doses)
    _check_values(dose)
    return dose


def _read_one(p: Path) -> Dose:
    if not p.is_file():
        raise IGRTInputError(f"dose {p} does not exist or is not a file")
    if p.name.lower().endswith(VOLUME_SUFFIXES):
        image = sitk.Cast(read_image_file(p, "dose"), sitk.sitkFloat32)  # NaN kept: refused below
        return Dose(
            image=image,
            paths=[str(p)],
            units="GY",
            warnings=[
                f"{p.name}: a dose volume file carries no units or frame of reference: values taken as Gy"
            ],
        )
    return read_rtdose(p)


def _check_values(dose: Dose) -> None:
    a = dose.array()
    where = ", ".join(Path(p).name for p in dose.paths)
    if not np.all(np.isfinite(a)):
        raise IGRTInputError(
            f"dose {where} has {int(np.count_nonzero(~np.isfinite(a)))} NaN or infinite values"
        )
    if a.min() < -NEGATIVE_TOL_GY:
        raise IGRTInputError(
            f"dose {where} has negative values (down to {a.min():.4g}): not a dose distribution"
        )
    if a.max() <= 0:
        raise IGRTInputError(f"dose {where} is zero everywhere")


def _sum(doses: list[Dose]) -> Dose:
    first = doses[0]
    names = [Path(d.paths[0]).name for d in doses]
    for d, name in zip(doses, names, strict=True):
        if d.sop_instance_uid is None and d.frame_of_reference_uid is None:
            raise IGRTInputError(f"{name}: only RTDOSE files can be summed (a volume file has no identity)")
    uids = [d.sop_instance_uid for d in doses]
    if len(set(uids)) < len(uids):
        raise IGRTInputError("the same RTDOSE (SOP Instance UID) is given twice: it would be counted twice")
    for key, what in (
        ("frame_of_reference_uid", "frames of reference"),
        ("units", "dose units"),
        ("patient_id", "patient IDs"),
    ):
        values = {getattr(d, key) for d in doses}
        if len(values) > 1:
            raise IGRTInputError(
                f"the dose files have different {what} ({', '.join(map(str, sorted(values, key=str)))})"
            )
    types = {d.summation_type for d in doses}
    plans = {d.referenced_plan_uid for d in doses}
    if len(plans) == 1 and not types <= BEAM_TYPES:
        raise IGRTInputError(
            f"the dose files are {'/'.join(sorted(map(str, types)))} doses of one plan: only its per-beam "
            "(BEAM) doses add up to the plan"
        )
    summation = "PLAN" if len(plans) == 1 else "MULTI_PLAN"
    total = sitk.GetArrayFromImage(first.image).astype(np.float64)
    warnings = []
    for d, name in zip(doses[1:], names[1:], strict=True):
        image = d.image
        if not same_grid(image, first.image, GRID_TOL):
            image = sitk.Resample(image, first.image, sitk.Transform(), sitk.sitkLinear, 0.0)
            warnings.append(f"{name} is on another grid: resampled (linear) onto {names[0]}'s grid")
        total += sitk.GetArrayViewFromImage(image)
    image = sitk.GetImageFromArray(total.astype(np.float32))
    image.CopyInformation(first.image)
    return Dose(
        image=image,
        paths=[p for d in doses for p in d.paths],
        units=first.units,
        summation_type=summation,
        dose_type=first.dose_type,
        frame_of_reference_uid=first.frame_of_reference_uid,
        referenced_plan_uid=first.referenced_plan_uid if len(plans) == 1 else None,
        patient_id=first.patient_id,
        warnings=[f"sum of {len(doses)} RTDOSE files ({', '.join(names)})", *warnings],
    )
