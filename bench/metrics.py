"""Error measures of a rigid result against the truth (both 4×4, LPS mm, planning frame; docs/CONVENTIONS.md)."""

from __future__ import annotations

import numpy as np

from igrt import geometry
from igrt.registration.accuracy import rotation_error_deg, translation_error_mm  # noqa: F401 (re-exported)


def euler_axis_error_deg(m_est, m_true) -> float:
    """Largest per-axis difference of the (rx, ry, rz) angles (R = Rz·Ry·Rx, LPS axes), degrees."""
    a = geometry.angles_xyz_deg(np.asarray(m_est, float)[:3, :3])
    b = geometry.angles_xyz_deg(np.asarray(m_true, float)[:3, :3])
    d = (a - b + 180.0) % 360.0 - 180.0
    return float(np.max(np.abs(d)))
