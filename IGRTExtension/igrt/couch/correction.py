"""Patient (DICOM LPS) ↔ IEC 61217 table-top geometry and the couch correction.

IEC 61217 fixed system: origin at the isocenter, Xf to the right of an observer at the couch foot facing
the gantry, Yf towards the gantry, Zf up. The table-top system is parallel to it at zero couch
angles. IEC patient axes are (Left, Superior, Anterior) = (x, z, −y) of DICOM LPS (PS3.3 C.7.6.2.1.1,
IEC 61217 §2 "patient coordinate system"). The table-top axes, by patient position, are the IEC patient
axes multiplied by: HFS identity, HFP diag(−1, 1, −1), FFS diag(−1, −1, 1), FFP diag(1, −1, −1)
(docs/CONVENTIONS.md; e.g. for FFS the patient's left lies to the observer's left, the head away from the gantry).

Decubitus positions (DICOM PS3.3 C.7.3.1.1.2, Patient Position (0018,5100): "Head First" = the head
enters the front of the equipment, i.e. points towards the gantry; "Decubitus Right" = the patient's
right side is down (lying on the right side), "Decubitus Left" = the left side is down). Derived by
hand from the IEC axes; the IEC patient axes are right-handed with Left × Superior = Anterior:

- HFDL (head first, lying on the left side): Superior = +Yt (head to the gantry); Left = down = −Zt;
  Anterior = Left × Superior = (−Zt) × Yt = +Xt (the face looks to the observer's right).
  Table top (Xt, Yt, Zt) = (A, S, −L): rows [[0,0,1],[0,1,0],[−1,0,0]] (Ry(+90°) of HFS).
- HFDR (head first, lying on the right side): Superior = +Yt; Left = up = +Zt;
  Anterior = Zt × Yt = −Xt. (Xt, Yt, Zt) = (−A, S, L): [[0,0,−1],[0,1,0],[1,0,0]] (Ry(−90°)).
- FFDL (feet first, lying on the left side): Superior = −Yt (head away from the gantry); Left = −Zt;
  Anterior = (−Zt) × (−Yt) = −Xt. (Xt, Yt, Zt) = (−A, −S, −L): [[0,0,−1],[0,−1,0],[−1,0,0]].
- FFDR (feet first, lying on the right side): Superior = −Yt; Left = +Zt;
  Anterior = Zt × (−Yt) = +Xt. (Xt, Yt, Zt) = (A, −S, L): [[0,0,1],[0,−1,0],[1,0,0]].

Check by rolling the supine patient: HFS rolled onto the left side brings the left (+Xt) down and the
anterior (+Zt) round towards where the left was (+Xt), as HFDL says; the same roll from FFS (left =
−Xt) gives FFDL's anterior = −Xt. Every matrix is a proper rotation (determinant +1).

Table-top rotations are right-handed about the table-top axes (IEC 61217: positive is clockwise seen
from the origin looking along the positive axis): couch rotation about Zt, pitch about Xt ("the
rotation of the IEC TABLE TOP coordinate system about the X-axis", Table Top Pitch Angle (300A,0140)),
roll about Yt (Table Top Roll Angle (300A,0144)), composed R = Rz(rotation)·Rx(pitch)·Ry(roll), pitch
applied before roll (DICOM PS3.3 C.8.8.14.12).
"""

from __future__ import annotations

import numpy as np

from igrt import geometry, patient_position
from igrt.errors import IGRTInputError

#: The words every shown number carries (docs/CONVENTIONS.md): the couch motion, or the patient's displacement.
COUCH_MOVES = "couch moves"
PATIENT_DISPLACED = "patient is displaced"

#: IEC patient (Left, Superior, Anterior) from DICOM LPS (x, y, z): L = x, S = z, A = −y.
IEC_PATIENT_FROM_LPS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: Table top (Xt lateral, Yt longitudinal, Zt vertical) from IEC patient axes, by patient position.
TABLE_TOP_FROM_IEC_PATIENT = {
    "HFS": np.diag([1.0, 1.0, 1.0]),
    "HFP": np.diag([-1.0, 1.0, -1.0]),
    "FFS": np.diag([-1.0, -1.0, 1.0]),
    "FFP": np.diag([1.0, -1.0, -1.0]),
    # Decubitus (PS3.3 C.7.3.1.1.2; derivation in the module docstring). Columns are L, S, A.
    "HFDL": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]),
    "HFDR": np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
    "FFDL": np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]]),
    "FFDR": np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]),
}

#: The patient positions we support (DICOM PS3.3 C.7.3.1.1.2 defined terms): one list, igrt.patient_position.
ORIENTATIONS = patient_position.SUPPORTED
assert set(ORIENTATIONS) == set(TABLE_TOP_FROM_IEC_PATIENT)


def table_top_from_lps(orientation: str) -> np.ndarray:
    """3×3 rotation taking an LPS vector to table-top (lateral, longitudinal, vertical) components."""
    return TABLE_TOP_FROM_IEC_PATIENT[patient_position.normalise(orientation)] @ IEC_PATIENT_FROM_LPS


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


def _axis_rotation(axis: int, deg: float) -> np.ndarray:
    """Right-handed rotation about table-top axis 0 (Xt), 1 (Yt) or 2 (Zt)."""
    c, s_ = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s_, s_, c
    return r


def table_top_rotation(rotation_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """R = Rz(couch rotation)·Rx(pitch)·Ry(roll) in table-top axes (DICOM PS3.3 C.8.8.14.12 order)."""
    return _axis_rotation(2, rotation_deg) @ _axis_rotation(0, pitch_deg) @ _axis_rotation(1, roll_deg)


COUCH_MODELS = {"6dof": 6, "4dof": 4, "3dof": 3}


def couch_correction(
    matrix_lps,
    isocenter_lps,
    orientation: str,
    couch: str = "6dof",
    max_rotation_deg: float | None = None,
    target_lps=None,
) -> dict:
    """Couch motion correcting the displacement ``matrix_lps`` with the couch that exists (docs/CONVENTIONS.md).

    The couch turns by Rc about the isocenter and translates so that the planned anatomy at the
    target (default: the isocenter) is back in place: C(x) = Rc (x − iso) + iso + v with
    C(M(target)) = target. Rc is the inverse anatomy rotation, limited by the couch: 6 DOF all three
    angles, 4 DOF only the couch rotation (Rz of the Rz·Rx·Ry decomposition), 3 DOF none; each angle
    clamped to ±``max_rotation_deg``. ``v`` = C(iso) − iso is the reported translation ("couch moves").

    Parameters
    ----------
    matrix_lps : (4, 4)
        The result matrix: planned anatomy → where it is (LPS mm, planning frame; "patient is displaced").
    isocenter_lps : (3,)
        The planning isocenter (LPS mm): the table-top axes pass through it.
    orientation : str
        Patient position (``igrt.patient_position.SUPPORTED``): decides every sign (docs/CONVENTIONS.md §3).
    couch : {"6dof", "4dof", "3dof"}
    max_rotation_deg : float, optional
        Limit of each couch rotation (degrees, 0–180).
    target_lps : (3,), optional
        The point made exact with a limited couch (LPS mm; default the isocenter).

    Returns
    -------
    dict
        ``lateral_mm``, ``longitudinal_mm``, ``vertical_mm`` (table-top translation of the point at the
        isocenter, couch moves), ``rotation_deg``, ``pitch_deg``, ``roll_deg`` (right-handed about Zt, Xt,
        Yt), ``uncorrected_rotation_deg``, ``residual_at_isocenter_mm``, ``residual_at_target_mm``
        (patient is displaced after the correction), ``couch_matrix_lps`` (4×4, LPS).
    """
    if couch not in COUCH_MODELS:
        raise IGRTInputError(f"unknown couch {couch!r}; use one of {', '.join(COUCH_MODELS)}")
    if max_rotation_deg is not None and not (np.isfinite(max_rotation_deg) and 0 <= max_rotation_deg <= 180):
        raise IGRTInputError(f"rotation limit {max_rotation_deg!r}° makes no sense (use 0 to 180)")
    m = np.asarray(matrix_lps, float)
    iso = np.asarray(isocenter_lps, float)
    target = iso if target_lps is None else np.asarray(target_lps, float)
    p = table_top_from_lps(orientation)
    wanted = table_top_angles_deg(p @ np.linalg.inv(m[:3, :3]) @ p.T)
    dof = COUCH_MODELS[couch]
    applied = [wanted[0] if dof >= 4 else 0.0, wanted[1] if dof == 6 else 0.0, wanted[2] if dof == 6 else 0.0]
    if max_rotation_deg is not None:
        applied = [float(np.clip(a, -max_rotation_deg, max_rotation_deg)) for a in applied]
    applied = [float(a) + 0.0 for a in applied]  # + 0.0: no "-0.0" in the outputs
    rc = p.T @ table_top_rotation(*applied) @ p  # in LPS
    v = target - iso - rc @ (geometry.apply(m, target) - iso)
    couch_m = geometry.rigid_about_point(rc, iso, v)
    residual = couch_m @ m  # where the planned anatomy is after the correction
    move = p @ v
    return {
        "lateral_mm": float(move[0]) + 0.0,
        "longitudinal_mm": float(move[1]) + 0.0,
        "vertical_mm": float(move[2]) + 0.0,
        "rotation_deg": applied[0],
        "pitch_deg": applied[1],
        "roll_deg": applied[2],
        "sense": COUCH_MOVES,
        "orientation": orientation.upper(),
        "couch": couch,
        "dof": dof,
        "max_rotation_deg": max_rotation_deg,
        "uncorrected_rotation_deg": {
            k: float(w - a)
            for k, w, a in zip(("rotation_deg", "pitch_deg", "roll_deg"), wanted, applied, strict=True)
        },
        "residual_at_isocenter_mm": float(np.linalg.norm(geometry.displacement_at(residual, iso))),
        "residual_at_target_mm": float(np.linalg.norm(geometry.displacement_at(residual, target))),
        "couch_matrix_lps": couch_m.tolist(),
    }


def full_couch_correction(matrix_lps, isocenter_lps, orientation: str) -> dict:
    """The full 6-DOF couch correction, C = M⁻¹ (docs/CONVENTIONS.md), in the result JSON's ``couch`` fields."""
    c = couch_correction(matrix_lps, isocenter_lps, orientation, "6dof")
    keys = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")
    return {k: c[k] for k in (*keys, "sense", "orientation", "dof")}


def displacement_from_couch_correction(couch: dict, isocenter_lps, orientation: str) -> np.ndarray:
    """The displacement M (4×4 LPS) whose full 6-DOF couch correction is ``couch`` — the inverse of
    :func:`full_couch_correction`, for known-shift tests (TG-142 / TG-132: "apply a known offset").

    The couch motion is C(x) = Rc (x − iso) + iso + v with Rc = Pᵀ·R(rotation, pitch, roll)·P and
    v = Pᵀ·(lateral, longitudinal, vertical) (P: LPS → table top for ``orientation``); the anatomy it
    corrects was displaced by M = C⁻¹ (DESIGN §3: the full correction is M⁻¹).
    """
    p = table_top_from_lps(orientation)
    rc = p.T @ table_top_rotation(couch["rotation_deg"], couch["pitch_deg"], couch["roll_deg"]) @ p
    v = p.T @ np.array([couch["lateral_mm"], couch["longitudinal_mm"], couch["vertical_mm"]], float)
    return np.linalg.inv(geometry.rigid_about_point(rc, isocenter_lps, v))
