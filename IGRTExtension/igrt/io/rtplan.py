"""The planning isocenter and patient position from a DICOM RT Plan (or RT Ion Plan).

PS3.3 C.8.8.14 (RT Beams): each beam's first control point carries Isocenter Position (300A,012C),
in the plan's patient coordinate system (LPS mm, PS3.3 C.7.6.2.1.1). PS3.3 C.8.8.12 (RT Patient
Setup): Patient Position (0018,5100) per setup, referenced by each beam's Referenced Patient Setup
Number. The plan's frame of reference is its own Frame of Reference UID when present (the Frame of
Reference module is optional in an RT Plan); the planning image must share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from igrt.errors import IGRTInputError
from igrt.io.dicom_object import read_dicom_object

RT_PLAN_CLASSES = {"1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8"}  # RT Plan, RT Ion Plan
ISOCENTER_TOL_MM = 0.01


@dataclass
class PlanInfo:
    """What the daily match needs from a plan; ``warnings`` are recorded in the result."""

    path: str
    isocenter_lps: np.ndarray
    patient_position: str | None
    plan_label: str | None
    sop_instance_uid: str | None
    frame_of_reference_uid: str | None
    patient_id: str | None
    beam_isocenters: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_rtplan(path) -> PlanInfo:
    """Read ``path`` (an RTPLAN file); refuse anything else, or a plan without an isocenter.

    The isocenter is the first beam's (treatment beams first); beams that disagree by more than
    0.01 mm are named in a warning, since a multi-isocenter plan needs the user to pick one.
    """
    p = Path(path)
    ds = read_dicom_object(p, "RT plan")
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if sop_class not in RT_PLAN_CLASSES or ds.get("Modality") not in ("RTPLAN", None):
        what = ds.get("Modality") or (pydicom.uid.UID(sop_class).name if sop_class else "not DICOM")
        raise IGRTInputError(f"{p} is not an RT plan (it is {what})")
    beams = list(ds.get("BeamSequence", None) or ds.get("IonBeamSequence", None) or [])
    isocenters = _beam_isocenters(beams)
    if not isocenters:
        raise IGRTInputError(f"RT plan {p} has no beam with an Isocenter Position")
    notes = []
    names = list(isocenters)
    iso = isocenters[names[0]]
    far = [n for n in names[1:] if np.linalg.norm(isocenters[n] - iso) > ISOCENTER_TOL_MM]
    if far:
        notes.append(
            f"RT plan {p.name}: beams have different isocenters; using beam {names[0]!r} at "
            f"{_fmt(iso)} mm, not {', '.join(f'{n!r} at {_fmt(isocenters[n])}' for n in far)}"
        )
    position = _patient_position(ds, beams, p, notes)
    return PlanInfo(
        path=str(p),
        isocenter_lps=iso,
        patient_position=position,
        plan_label=_text(ds, "RTPlanLabel"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        frame_of_reference_uid=_frame_of_reference(ds, p, notes),
        patient_id=_text(ds, "PatientID"),
        beam_isocenters=isocenters,
        warnings=notes,
    )


def _beam_isocenters(beams) -> dict[str, np.ndarray]:
    """Isocenter of each beam's first control point, treatment beams before setup beams."""
    found = {}
    ordered = sorted(beams, key=lambda b: str(b.get("TreatmentDeliveryType", "TREATMENT")) != "TREATMENT")
    for b in ordered:
        cps = b.get("ControlPointSequence", None) or b.get("IonControlPointSequence", None) or []
        if not cps or cps[0].get("IsocenterPosition") is None:
            continue
        name = str(b.get("BeamName", "") or f"beam {b.get('BeamNumber', len(found) + 1)}")
        if name in found:
            name = f"{name} (beam {b.get('BeamNumber')})"
        found[name] = np.array([float(v) for v in cps[0].IsocenterPosition])
    return found


def _patient_position(ds, beams, p: Path, warnings: list[str]) -> str | None:
    """Patient Position of the setups the beams use; two different positions are refused."""
    setups = {
        s.get("PatientSetupNumber"): str(s.get("PatientPosition", "") or "").strip().upper()
        for s in ds.get("PatientSetupSequence", [])
    }
    used = {b.get("ReferencedPatientSetupNumber") for b in beams} & set(setups) or set(setups)
    positions = {setups[n] for n in used} - {""}
    if len(positions) > 1:
        raise IGRTInputError(f"RT plan {p} has beams with different patient positions: {sorted(positions)}")
    if not positions:
        warnings.append(f"RT plan {p.name} has no Patient Position (decubitus or missing patient setup)")
        return None
    return positions.pop()


def _frame_of_reference(ds, p: Path, warnings: list[str]) -> str | None:
    """The plan's own Frame of Reference UID, else that of its structure set when it sits beside it.

    Eclipse writes no Frame of Reference module in the RT Plan; the referenced RT Structure Set
    (PS3.3 C.8.8.10, Referenced Frame of Reference Sequence) names the planning CT's frame.
    """
    own = _text(ds, "FrameOfReferenceUID")
    if own:
        return own
    refs = {str(r.get("ReferencedSOPInstanceUID", "")) for r in ds.get("ReferencedStructureSetSequence", [])}
    for f in sorted(p.parent.iterdir()) if refs else []:
        if f == p or not f.is_file():
            continue
        try:
            rs = pydicom.dcmread(f, stop_before_pixels=True)
        except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError):
            continue
        if str(rs.get("SOPInstanceUID", "")) in refs and rs.get("ReferencedFrameOfReferenceSequence"):
            return _text(rs.ReferencedFrameOfReferenceSequence[0], "FrameOfReferenceUID")
    warnings.append(
        f"RT plan {p.name}: frame of reference unknown (no Frame of Reference UID, no structure set)"
    )
    return None


def _text(ds, keyword: str) -> str | None:
    value = str(ds.get(keyword, "") or "").strip()
    return value or None


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.2f}" for x in v) + ")"
