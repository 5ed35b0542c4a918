"""Patient (DICOM LPS) ↔ IEC 61217 table-top geometry and the full 6-DOF couch correction.

IEC 61217 fixed system: origin at the isocenter, Xf to the right of an observer at the couch foot
facing the gantry, Yf towards the gantry, Zf up. The table-top system is parallel to it at zero couch
angles. IEC patient axes are (Left, Superior, Anterior) = (x, z, −y) of DICOM LPS (PS3.3 C.7.6.2.1.1,
IEC 61217 §2 "patient coordinate system"). The table-top axes, by patient position, are the IEC patient
axes multiplied by: HFS identity, HFP diag(−1, 1, −1), FFS diag(−1, −1, 1), FFP diag(1, −1, −1)
(DESIGN §3; e.g. for FFS the patient's left lies to the observer's left, the head away from the gantry).
"""

from __future__ import annotations

import numpy as np

from . import geometry
from .errors import IGRTInputError

#: IEC patient (Left, Superior, Anterior) from DICOM LPS (x, y, z): L = x, S = z, A = −y.
IEC_PATIENT_FROM_LPS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: Table top (Xt lateral, Yt longitudinal, Zt vertical) from IEC patient axes, by patient position.
TABLE_TOP_FROM_IEC_PATIENT = {
    "HFS": np.diag([1.0, 1.0, 1.0]),
    "HFP": np.diag([-1.0, 1.0, -1.0]),
    "FFS": np.diag([-1.0, -1.0, 1.0]),
    "FFP": np.diag([1.0, -1.0, -1.0]),
}


def table_top_from_lps(orientation: str) -> np.ndarray:
    """3×3 rotation taking an LPS vector to table-top (lateral, longitudinal, vertical) components."""
    key = (orientation or "").upper()
    if key not in TABLE_TOP_FROM_IEC_PATIENT:
        raise IGRTInputError(
            f"unsupported patient orientation {orientation!r}; use one of {', '.join(TABLE_TOP_FROM_IEC_PATIENT)}"
        )
    return TABLE_TOP_FROM_IEC_PATIENT[key] @ IEC_PATIENT_FROM_LPS


def table_top_angles_deg(r_tt) -> tuple[float, float, float]:
    """(couch rotation, pitch, roll) of a table-top rotation R = Rz(rotation)·Rx(pitch)·Ry(roll).

    Right-handed about Zt (couch rotation), Xt (pitch) and Yt (roll); pitch applied before roll as in
    DICOM PS3.3 C.8.8.14.12 (Table Top Pitch/Roll Angle). Row 3 of Rz·Rx·Ry is (−cos p sin r, sin p,
    cos p cos r) and column 2 is (−sin c cos p, cos c cos p, sin p).
    """
    r = np.asarray(r_tt, float)
    pitch = np.arcsin(np.clip(r[2, 1], -1.0, 1.0))
    roll = np.arctan2(-r[2, 0], r[2, 2])
    rot = np.arctan2(-r[0, 1], r[1, 1])
    return float(np.degrees(rot)), float(np.degrees(pitch)), float(np.degrees(roll))


def full_couch_correction(matrix_lps, isocenter_lps, orientation: str) -> dict:
    """The 6-DOF couch motion that undoes the displacement ``matrix_lps`` (DESIGN §3).

    The couch motion is C = M⁻¹ (rotation R⁻¹ about the isocenter plus a translation). The reported
    translation is the motion of the point at the isocenter, C(iso) − iso, in table-top axes; the
    rotations decompose R⁻¹ in table-top axes as Rz(rotation)·Rx(pitch)·Ry(roll).
    """
    m = np.asarray(matrix_lps, float)
    iso = np.asarray(isocenter_lps, float)
    c = np.linalg.inv(m)
    p = table_top_from_lps(orientation)
    move = p @ geometry.displacement_at(c, iso)
    rot, pitch, roll = table_top_angles_deg(p @ c[:3, :3] @ p.T)
    return {
        "lateral_mm": float(move[0]),
        "longitudinal_mm": float(move[1]),
        "vertical_mm": float(move[2]),
        "rotation_deg": rot,
        "pitch_deg": pitch,
        "roll_deg": roll,
        "sense": "couch moves",
        "orientation": orientation.upper(),
        "dof": 6,
    }
