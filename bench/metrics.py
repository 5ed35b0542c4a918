"""Error measures of a rigid result against the truth (both 4×4, LPS mm, planning frame; DESIGN §3)."""

from __future__ import annotations

import numpy as np

from igrt import geometry


def translation_error_mm(m_est, m_true, iso) -> float:
    """|M_est(iso) - M_true(iso)|: how far the estimate puts the anatomy at the isocenter from the truth."""
    return float(np.linalg.norm(geometry.apply(m_est, iso) - geometry.apply(m_true, iso)))


def rotation_error_deg(m_est, m_true) -> float:
    """Rotation angle (axis-angle magnitude) of R_est·R_trueᵀ, degrees."""
    r = np.asarray(m_est, float)[:3, :3] @ np.asarray(m_true, float)[:3, :3].T
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def euler_axis_error_deg(m_est, m_true) -> float:
    """Largest per-axis difference of the (rx, ry, rz) angles (R = Rz·Ry·Rx, LPS axes), degrees."""
    a = geometry.angles_xyz_deg(np.asarray(m_est, float)[:3, :3])
    b = geometry.angles_xyz_deg(np.asarray(m_true, float)[:3, :3])
    d = (a - b + 180.0) % 360.0 - 180.0
    return float(np.max(np.abs(d)))
