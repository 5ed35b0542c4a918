"""Frame conversions and rigid-matrix helpers: the one place where these conventions live.

Conventions (docs/CONVENTIONS.md):
- DICOM patient coordinates are LPS: +x to the patient's Left, +y Posterior, +z Superior
  (DICOM PS3.3 C.7.6.2.1.1, Image Position/Orientation (Patient)). SimpleITK uses the same LPS frame.
- Slicer's world frame is RAS: RAS = diag(-1, -1, 1) · LPS.
- A registration result is a 4×4 rigid matrix ``M`` (LPS, mm, planning frame) that maps a point of the
  planned anatomy to where that anatomy is in the daily image ("where did the planned anatomy go").
"""

from __future__ import annotations

import numpy as np

#: The fixed axis flip between DICOM LPS and Slicer RAS (PS3.3 C.7.6.2.1.1 vs Slicer's RAS world).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def lps_to_ras_point(p) -> np.ndarray:
    """Point (or N×3 points) from DICOM LPS to Slicer RAS: negate x and y (PS3.3 C.7.6.2.1.1)."""
    p = np.asarray(p, dtype=float)
    return p * np.array([-1.0, -1.0, 1.0])


def ras_to_lps_point(p) -> np.ndarray:
    """Point (or N×3 points) from Slicer RAS to DICOM LPS: the flip is its own inverse."""
    return lps_to_ras_point(p)


def lps_to_ras_matrix(m_lps) -> np.ndarray:
    """A 4×4 transform acting on LPS points, re-expressed to act on RAS points: F·M·F with F=diag(-1,-1,1)."""
    m = np.asarray(m_lps, dtype=float)
    return LPS_TO_RAS @ m @ LPS_TO_RAS


def ras_to_lps_matrix(m_ras) -> np.ndarray:
    """A 4×4 transform acting on RAS points, re-expressed to act on LPS points (same conjugation)."""
    return lps_to_ras_matrix(m_ras)


def rotation_xyz_deg(rx: float, ry: float, rz: float) -> np.ndarray:
    """3×3 rotation R = Rz·Ry·Rx, right-handed, angles in degrees about the LPS axes.

    This is the parameterisation of ``rotation_deg`` in the result JSON: rotations about the patient
    LPS axes x (left), y (posterior), z (superior), composed as Rz·Ry·Rx. (SimpleITK's Euler3DTransform
    uses Rz·Rx·Ry by default; we never read its angles, only its matrix.)
    """
    ax, ay, az = np.radians([rx, ry, rz])
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    r_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    r_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return r_z @ r_y @ r_x


def axis_angle_rotation(axis, deg: float) -> np.ndarray:
    """3×3 right-handed rotation by ``deg`` degrees about ``axis`` (any length; Rodrigues' formula)."""
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(deg)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def angles_xyz_deg(r) -> np.ndarray:
    """Inverse of :func:`rotation_xyz_deg`: (rx, ry, rz) in degrees with R = Rz·Ry·Rx."""
    r = np.asarray(r, dtype=float)
    ry = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    rx = np.arctan2(r[2, 1], r[2, 2])
    rz = np.arctan2(r[1, 0], r[0, 0])
    return np.degrees([rx, ry, rz])


def rotation_angle_deg(r) -> float:
    """Angle (degrees, 0–180) of the rotation ``r`` (3×3, or the rotation part of a 4×4) about its axis.

    The one rotation-magnitude rule: plausibility limits, rotation errors R_est·R_trueᵀ, marker fits.
    """
    r = np.asarray(r, dtype=float)[:3, :3]
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def rigid_matrix(rotation=None, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4×4 homogeneous matrix from a 3×3 rotation and a translation."""
    m = np.eye(4)
    if rotation is not None:
        m[:3, :3] = rotation
    m[:3, 3] = translation
    return m


def rigid_about_point(rotation, center, translation_at_center=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4×4 matrix rotating by ``rotation`` about ``center`` then translating that center by the given vector.

    ``M(x) = R (x - c) + c + t``: the point ``c`` moves by exactly ``t``.
    """
    r = np.asarray(rotation, dtype=float)
    c = np.asarray(center, dtype=float)
    return rigid_matrix(r, c + np.asarray(translation_at_center, dtype=float) - r @ c)


def apply(m, points) -> np.ndarray:
    """Apply a 4×4 matrix to a point or N×3 points."""
    m = np.asarray(m, dtype=float)
    p = np.asarray(points, dtype=float)
    return p @ m[:3, :3].T + m[:3, 3]


def is_rigid(m, tol: float = 1e-6) -> bool:
    """True when ``m`` is a proper rigid 4×4 (orthonormal rotation, det +1, last row 0 0 0 1)."""
    m = np.asarray(m, dtype=float)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        return False
    r = m[:3, :3]
    return (
        np.allclose(r @ r.T, np.eye(3), atol=tol)
        and abs(np.linalg.det(r) - 1.0) < tol
        and np.allclose(m[3], [0, 0, 0, 1], atol=tol)
    )


def displacement_at(m, point) -> np.ndarray:
    """Displacement vector ``M(p) - p`` of a point: the 'translation at the isocenter' of a result."""
    p = np.asarray(point, dtype=float)
    return apply(m, p) - p


def after_correction(couch_matrix_lps, matrix_lps) -> np.ndarray:
    """C·M: where a planned-anatomy point is after the couch correction C of a result M (the residual).

    ``M`` maps planned anatomy to where it is (CONVENTIONS §2); the couch correction ``C`` maps where the anatomy
    is to where it is after the couch moved (``couch_matrix_lps`` of the shift JSON). A full 6-DOF
    correction gives C = M⁻¹ and the identity.
    """
    return np.asarray(couch_matrix_lps, float) @ np.asarray(matrix_lps, float)


def daily_frame_shift(planning_isocenter, daily_isocenter) -> np.ndarray:
    """4×4 from planning-frame to daily-frame coordinates when only the isocenters are paired (docs/CONVENTIONS.md).

    A daily image in its own frame (CBCT) is tied to the planning frame by its declared treatment
    isocenter: planning point q has daily coordinates d = q − planning_iso + daily_iso. When the daily
    isocenter is not given, the frames are taken as the same (the identity).
    """
    p = np.zeros(3) if planning_isocenter is None else np.asarray(planning_isocenter, float)
    d = p if daily_isocenter is None else np.asarray(daily_isocenter, float)
    return rigid_matrix(translation=d - p)


def planning_to_daily(matrix_lps, planning_isocenter, daily_isocenter) -> np.ndarray:
    """A = shift · M: planning point → daily-image coordinates of the same anatomy (result M, docs/CONVENTIONS.md)."""
    return daily_frame_shift(planning_isocenter, daily_isocenter) @ np.asarray(matrix_lps, float)


def result_from_planning_to_daily(a, planning_isocenter, daily_isocenter) -> np.ndarray:
    """Inverse of :func:`planning_to_daily`: the result M = shift⁻¹ · A, in the planning frame."""
    return np.linalg.inv(daily_frame_shift(planning_isocenter, daily_isocenter)) @ np.asarray(a, float)
