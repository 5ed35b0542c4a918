"""Tolerance and action levels for a couch correction, and display profiles that only relabel or negate.

Verdicts (per axis, the largest decides):
- "within tolerance": every translation and rotation within the profile's tolerance — no shift needed;
- "apply shift": beyond tolerance but within the sanity limits — the therapist applies the shift;
- "escalate": beyond a sanity limit (default 20 mm or 5°), or a rotation the couch could not correct
  beyond tolerance — the shift needs confirmation (physician/physicist) before treatment.
Defaults follow AAPM TG-142 (daily positioning/repositioning 2 mm; SRS/SBRT 1 mm).

Display profiles never change the computed motion (DESIGN §3): they rename the axes and, for the
"patient displacement" view, negate every value (the couch moves opposite to the displacement it
corrects, to first order).
"""

from __future__ import annotations

from .errors import IGRTInputError

#: name → tolerance (mm, °) and sanity limits; the first is the default.
TOLERANCE_PROFILES = {
    "TG-142 (2 mm, 1°)": {
        "translation_mm": 2.0,
        "rotation_deg": 1.0,
        "escalate_mm": 20.0,
        "escalate_deg": 5.0,
    },
    "SRS/SBRT (1 mm, 0.5°)": {
        "translation_mm": 1.0,
        "rotation_deg": 0.5,
        "escalate_mm": 20.0,
        "escalate_deg": 5.0,
    },
}

TRANSLATIONS = ("lateral_mm", "longitudinal_mm", "vertical_mm")
ROTATIONS = ("rotation_deg", "pitch_deg", "roll_deg")

#: name → (sign, sense, labels of lateral, longitudinal, vertical, rotation, pitch, roll).
DISPLAY_PROFILES = {
    "IEC 61217 (couch moves)": (
        1.0,
        "couch moves",
        ("lateral", "longitudinal", "vertical", "couch rotation", "pitch", "roll"),
    ),
    "Patient displacement": (
        -1.0,
        "patient is displaced",
        (
            "patient lateral",
            "patient longitudinal",
            "patient vertical",
            "patient rotation",
            "patient pitch",
            "patient roll",
        ),
    ),
    "Vendor-style names (couch moves)": (1.0, "couch moves", ("Lat", "Lng", "Vrt", "Rtn", "Pitch", "Roll")),
}


def tolerance_profile(profile: str | dict | None) -> dict:
    """The settings of a named profile (default TG-142), or a custom dict checked for sense."""
    if profile is None:
        return dict(next(iter(TOLERANCE_PROFILES.values())))
    if isinstance(profile, dict):
        settings = dict(next(iter(TOLERANCE_PROFILES.values())), **profile)
    elif profile in TOLERANCE_PROFILES:
        settings = dict(TOLERANCE_PROFILES[profile])
    else:
        raise IGRTInputError(
            f"unknown tolerance profile {profile!r}; use one of {', '.join(TOLERANCE_PROFILES)}"
        )
    for key in ("translation_mm", "rotation_deg", "escalate_mm", "escalate_deg"):
        value = settings[key]
        if not isinstance(value, int | float) or not value > 0:
            raise IGRTInputError(f"tolerance {key} = {value!r} makes no sense (must be a positive number)")
    if (
        settings["escalate_mm"] < settings["translation_mm"]
        or settings["escalate_deg"] < settings["rotation_deg"]
    ):
        raise IGRTInputError("the escalation limits must not be below the tolerances")
    return settings


def evaluate(shift: dict, profile: str | dict | None = None) -> dict:
    """Verdict for a couch correction (``igrt.couch.couch_correction`` fields) under a tolerance profile."""
    s = tolerance_profile(profile)
    t = max(abs(float(shift[k])) for k in TRANSLATIONS)
    r = max(abs(float(shift[k])) for k in ROTATIONS)
    left = max((abs(float(v)) for v in shift.get("uncorrected_rotation_deg", {}).values()), default=0.0)
    reasons = []
    if t > s["escalate_mm"]:
        reasons.append(f"translation {t:.1f} mm exceeds the {s['escalate_mm']:g} mm sanity limit")
    if r > s["escalate_deg"]:
        reasons.append(f"rotation {r:.1f}° exceeds the {s['escalate_deg']:g}° sanity limit")
    if left > s["rotation_deg"]:
        reasons.append(f"{left:.1f}° of rotation cannot be corrected by this couch")
    if reasons:
        verdict = "escalate"
    elif t > s["translation_mm"] or r > s["rotation_deg"]:
        verdict = "apply shift"
    else:
        verdict = "within tolerance"
    return {
        "verdict": verdict,
        "reasons": reasons,
        "largest_translation_mm": t,
        "largest_rotation_deg": r,
        "uncorrected_rotation_deg": left,
        "profile": s,
    }


def display_rows(shift: dict, profile: str | None = None) -> list[tuple[str, float, str, str]]:
    """(label, value, unit, sense) of the six axes under a display profile; the motion is unchanged."""
    name = profile or next(iter(DISPLAY_PROFILES))
    if name not in DISPLAY_PROFILES:
        raise IGRTInputError(f"unknown display profile {name!r}; use one of {', '.join(DISPLAY_PROFILES)}")
    sign, sense, labels = DISPLAY_PROFILES[name]
    keys = TRANSLATIONS + ROTATIONS
    units = ("mm",) * 3 + ("deg",) * 3
    return [
        (label, sign * float(shift[k]) + 0.0, unit, sense)
        for label, k, unit in zip(labels, keys, units, strict=True)
    ]
