"""The shift document's pieces: its schema, the residual over a structure, and the flat summary tables show.

The document itself is made by the one couch-shift workflow, :func:`igrt.couch.workflow.couch_shift`.
"""

from __future__ import annotations

import numpy as np

from igrt import geometry

SHIFT_SCHEMA_VERSION = "1.0"
#: The shift document's ``kind`` (a contract value: never renamed with the code).
SHIFT_KIND = "igrt.shift"

COUCH_FIELDS = (
    "lateral_mm",
    "longitudinal_mm",
    "vertical_mm",
    "rotation_deg",
    "pitch_deg",
    "roll_deg",
    "sense",
    "orientation",
    "couch",
    "dof",
    "max_rotation_deg",
)


def residual_max_mm(couch_matrix_lps, matrix_lps, points_lps) -> float:
    """Largest remaining displacement |C·M(p) − p| over points (mm) after the couch correction C."""
    after = geometry.after_correction(couch_matrix_lps, matrix_lps)
    pts = np.atleast_2d(np.asarray(points_lps, float))
    return float(np.max(np.linalg.norm(geometry.apply(after, pts) - pts, axis=1)))


def couch_summary(shift: dict) -> dict:
    """The shift document's ``couch`` object flattened for tables: the six axes (couch moves), the verdict,
    the residuals (patient is displaced) and the tolerance details. A view of the document, no rule of its own.
    """
    c = shift["couch"]
    r = c["residuals"]
    return {
        **{k: c[k] for k in COUCH_FIELDS},
        "verdict": c["verdict"],
        "verdict_reasons": list(c["verdict_reasons"]),
        "uncorrected_rotation_deg": dict(c["uncorrected_rotation_deg"]),
        "residual_at_isocenter_mm": r["at_isocenter_mm"],
        "residual_at_target_mm": r["at_target_mm"],
        "residual_max_over_target_mm": r["max_over_target_mm"],
        "target_point_count": r["target_point_count"],
        "target_lps": shift["target_lps"],
        "couch_matrix_lps": c["couch_matrix_lps"],
        "tolerance_profile": shift["tolerance"]["profile"],
        "tolerance": dict(shift["tolerance"]),
        "orientation_source": shift["inputs"]["orientation_source"],
        "warnings": list(shift["warnings"]),
        "escalate": bool((shift.get("match_uncertainty") or {}).get("escalate")),
        "escalate_text": (shift.get("match_uncertainty") or {}).get("text", ""),
    }
