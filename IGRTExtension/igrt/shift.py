"""The couch shift of a match result (``igrt shift``): correction, residuals, verdict, display rows.

The computation is :func:`igrt.couch.couch_correction`; this module turns a result JSON into the shift
JSON (DESIGN §4: a ``couch`` object with lateral_mm, longitudinal_mm, vertical_mm, rotation_deg,
pitch_deg, roll_deg, sense, verdict and residuals).
"""

from __future__ import annotations

import numpy as np

from . import __version__, tolerance
from .couch import couch_correction

SHIFT_SCHEMA_VERSION = "1.0"


def shift_from_result(
    result: dict,
    *,
    couch: str = "6dof",
    max_rotation_deg=None,
    orientation=None,
    target_lps=None,
    tolerance_profile=None,
    display_profile=None,
) -> dict:
    """Shift JSON for a (validated) result JSON; ``orientation`` overrides the result's patient position."""
    m = np.asarray(result["matrix_lps"], float)
    iso = np.asarray(result["planning_isocenter_lps"], float)
    orient = orientation or result.get("orientation") or "HFS"
    c = couch_correction(m, iso, orient, couch, max_rotation_deg, target_lps)
    check = tolerance.evaluate(c, tolerance_profile)
    rows = tolerance.display_rows(c, display_profile)
    return {
        "schema_version": SHIFT_SCHEMA_VERSION,
        "kind": "igrt.shift",
        "couch": {
            **{
                k: c[k]
                for k in (
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
            },
            "verdict": check["verdict"],
            "verdict_reasons": check["reasons"],
            "uncorrected_rotation_deg": c["uncorrected_rotation_deg"],
            "residuals": {
                "at_isocenter_mm": c["residual_at_isocenter_mm"],
                "at_target_mm": c["residual_at_target_mm"],
                "sense": "patient is displaced: remaining error after the couch correction",
            },
            "couch_matrix_lps": c["couch_matrix_lps"],
        },
        "display": {
            "profile": display_profile or next(iter(tolerance.DISPLAY_PROFILES)),
            "rows": [{"label": lb, "value": v, "unit": u, "sense": s} for lb, v, u, s in rows],
        },
        "tolerance": {
            "profile": tolerance_profile or next(iter(tolerance.TOLERANCE_PROFILES)),
            **check["profile"],
        },
        "target_lps": None if target_lps is None else [float(v) for v in target_lps],
        "isocenter_lps": iso.tolist(),
        "result": {
            "matrix_lps": m.tolist(),
            "translation_mm": result.get("translation_mm"),
            "rotation_deg": result.get("rotation_deg"),
            "inputs": result.get("inputs"),
        },
        "software": {"name": "IGRTExtension", "version": __version__},
    }
