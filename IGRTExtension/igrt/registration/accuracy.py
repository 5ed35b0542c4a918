"""Error of a rigid result against a known transform (TG-132 known-transform tests, the demo, the bench).

Both matrices are result matrices (4×4, DICOM LPS mm, planning frame; docs/CONVENTIONS.md §result).
"""

from __future__ import annotations

import numpy as np

from igrt import geometry


def translation_error_mm(m_est, m_true, point_lps) -> float:
    """|M_est(p) − M_true(p)| (mm): how far the estimate puts the anatomy at ``point_lps`` from the truth."""
    return float(np.linalg.norm(geometry.apply(m_est, point_lps) - geometry.apply(m_true, point_lps)))


def rotation_error_deg(m_est, m_true) -> float:
    """Rotation angle of R_est·R_trueᵀ (degrees, axis-angle magnitude)."""
    r = np.asarray(m_est, float)[:3, :3] @ np.asarray(m_true, float)[:3, :3].T
    return geometry.rotation_angle_deg(r)


def truth_errors(result: dict, truth_matrix, isocenter_lps) -> dict:
    """``translation_error_mm`` at the isocenter and ``rotation_error_deg`` of a result JSON against the truth."""
    m = np.asarray(result["matrix_lps"], float)
    return {
        "translation_error_mm": translation_error_mm(m, truth_matrix, isocenter_lps),
        "rotation_error_deg": rotation_error_deg(m, truth_matrix),
    }
