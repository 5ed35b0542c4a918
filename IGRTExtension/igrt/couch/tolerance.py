"""Tolerance and action levels for a couch correction, and display profiles that only relabel or negate.

Verdicts (per axis; the worst axis decides):
- "within tolerance": every wanted translation and rotation within the profile's tolerance — no shift
  needed;
- "apply shift": beyond tolerance but within the action (sanity) limits — the therapist applies the shift;
- "escalate": beyond an action limit (default 20 mm or 5°), a rotation the couch cannot correct that is
  beyond tolerance, or a residual over the target structure beyond tolerance after the correction — the
  shift needs confirmation (physician/physicist) before treatment.

Defaults follow AAPM TG-142 (daily positioning/repositioning 2 mm; SRS/SBRT 1 mm). Every level may be
one number for all three axes or per axis: a dict keyed by the couch fields (``lateral_mm``,
``longitudinal_mm``, ``vertical_mm``; ``rotation_deg``, ``pitch_deg``, ``roll_deg``) or a 3-sequence in
that order.

"Wanted" means what the anatomy needs: the couch's applied angle plus the part its limits left
uncorrected (``couch_correction``'s ``uncorrected_rotation_deg``), so a 3-DOF couch does not hide a
rotation by not applying it.

Display profiles never change the computed motion (docs/CONVENTIONS.md): they rename the axes and, for the
"patient displacement" view, negate every value (the couch moves opposite to the displacement it
corrects, to first order). The vendor-style profile uses Varian-like names (Lat, Lng, Vrt, Rtn, Pitch,
Roll) with the IEC 61217 signs unchanged, as on a console set to the IEC 61217 scale; check the scale
your console uses before reading it as the console's numbers.
"""

from __future__ import annotations

import math

from igrt.couch.correction import COUCH_MOVES, PATIENT_DISPLACED
from igrt.errors import IGRTInputError

TRANSLATIONS = ("lateral_mm", "longitudinal_mm", "vertical_mm")
ROTATIONS = ("rotation_deg", "pitch_deg", "roll_deg")
LEVELS = ("translation_mm", "rotation_deg", "escalate_mm", "escalate_deg")

#: name → tolerance (mm, °) and action (escalation) limits; the first is the default.
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

#: name → (sign, sense, labels of lateral, longitudinal, vertical, rotation, pitch, roll).
DISPLAY_PROFILES = {
    "IEC 61217 (couch moves)": (
        1.0,
        COUCH_MOVES,
        ("lateral", "longitudinal", "vertical", "couch rotation", "pitch", "roll"),
    ),
    "Patient displacement": (
        -1.0,
        PATIENT_DISPLACED,
        (
            "patient lateral",
            "patient longitudinal",
            "patient vertical",
            "patient rotation",
            "patient pitch",
            "patient roll",
        ),
    ),
    "Vendor-style names (couch moves)": (1.0, COUCH_MOVES, ("Lat", "Lng", "Vrt", "Rtn", "Pitch", "Roll")),
}

#: Short names (command line) of the display profiles.
DISPLAY_ALIASES = {
    "iec": "IEC 61217 (couch moves)",
    "patient": "Patient displacement",
    "varian": "Vendor-style names (couch moves)",
    "vendor": "Vendor-style names (couch moves)",
}


def tolerance_profile_names() -> list[str]:
    """Named tolerance profiles, the default first."""
    return list(TOLERANCE_PROFILES)


def display_profile_names() -> list[str]:
    """Named display profiles, the default (IEC 61217, couch moves) first."""
    return list(DISPLAY_PROFILES)


def _per_axis(key: str, value, axes: tuple[str, ...]) -> dict:
    if isinstance(value, dict):
        unknown = set(value) - set(axes)
        if unknown or set(value) != set(axes):
            raise IGRTInputError(f"tolerance {key} per axis needs exactly {', '.join(axes)}")
        values = [value[a] for a in axes]
    elif isinstance(value, list | tuple):
        if len(value) != 3:
            raise IGRTInputError(f"tolerance {key} needs one value or three (got {len(value)})")
        values = list(value)
    else:
        values = [value] * 3
    out = {}
    for axis, v in zip(axes, values, strict=True):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not v > 0:
            raise IGRTInputError(f"tolerance {key} = {v!r} makes no sense (must be a positive number)")
        out[axis] = float(v)
    return out


def tolerance_profile(profile: str | dict | None) -> dict:
    """The settings of a named profile (default TG-142), or a custom dict checked for sense.

    A custom dict may give only some levels (the rest come from the named profile in its ``base``
    key, default TG-142). Returned levels are per axis: ``{"translation_mm": {"lateral_mm": 2.0, ...},
    "rotation_deg": {"rotation_deg": 1.0, ...}, "escalate_mm": {...}, "escalate_deg": {...}}``.
    """
    if profile is None:
        settings = dict(next(iter(TOLERANCE_PROFILES.values())))
    elif isinstance(profile, dict):
        base = profile.get("base") or next(iter(TOLERANCE_PROFILES))
        if base not in TOLERANCE_PROFILES:
            raise IGRTInputError(
                f"unknown tolerance profile {base!r}; use one of {', '.join(TOLERANCE_PROFILES)}"
            )
        unknown = set(profile) - set(LEVELS) - {"base"}
        if unknown:
            raise IGRTInputError(f"unknown tolerance setting(s) {', '.join(sorted(unknown))}")
        settings = {**TOLERANCE_PROFILES[base], **{k: v for k, v in profile.items() if k != "base"}}
    elif profile in TOLERANCE_PROFILES:
        settings = dict(TOLERANCE_PROFILES[profile])
    else:
        raise IGRTInputError(
            f"unknown tolerance profile {profile!r}; use one of {', '.join(TOLERANCE_PROFILES)}"
        )
    levels = {
        "translation_mm": _per_axis("translation_mm", settings["translation_mm"], TRANSLATIONS),
        "rotation_deg": _per_axis("rotation_deg", settings["rotation_deg"], ROTATIONS),
        "escalate_mm": _per_axis("escalate_mm", settings["escalate_mm"], TRANSLATIONS),
        "escalate_deg": _per_axis("escalate_deg", settings["escalate_deg"], ROTATIONS),
    }
    for tol, esc in (("translation_mm", "escalate_mm"), ("rotation_deg", "escalate_deg")):
        for axis, limit in levels[esc].items():
            if limit < levels[tol][axis]:
                raise IGRTInputError(
                    f"the action limit {esc} ({limit:g}) must not be below the tolerance ({levels[tol][axis]:g}) "
                    f"for {axis}"
                )
    return levels


def evaluate(shift: dict, profile: str | dict | None = None) -> dict:
    """Verdict for a couch correction (``igrt.couch.correction.couch_correction`` fields) under a tolerance profile.

    Returns ``verdict`` (one of "within tolerance", "apply shift", "escalate"), ``reasons`` (why it
    escalates), ``axes`` (per axis: the couch value, the wanted value, tolerance, action limit and a
    status) and the per-axis ``profile`` levels. Never changes ``shift``.
    """
    levels = tolerance_profile(profile)
    uncorrected = shift.get("uncorrected_rotation_deg") or {}
    reasons, axes = [], []
    beyond_tolerance = False
    for keys, tol_key, esc_key, unit in (
        (TRANSLATIONS, "translation_mm", "escalate_mm", "mm"),
        (ROTATIONS, "rotation_deg", "escalate_deg", "°"),
    ):
        for key in keys:
            value = float(shift[key])
            left = float(uncorrected.get(key, 0.0))
            wanted = value + left
            tol, esc = levels[tol_key][key], levels[esc_key][key]
            status = "within tolerance"
            if abs(wanted) > tol:
                status = "beyond tolerance"
                beyond_tolerance = True
            if abs(wanted) > esc:
                status = "beyond action limit"
                reasons.append(
                    f"{key.rsplit('_', 1)[0]} {wanted:+.1f} {unit} exceeds the {esc:g} {unit} action limit"
                )
            if abs(left) > tol:
                status = "not correctable"
                reasons.append(
                    f"{key.rsplit('_', 1)[0]} {left:+.1f}° cannot be corrected by this couch (tolerance {tol:g}°)"
                )
            axes.append(
                {
                    "axis": key,
                    "value": value,
                    "wanted": wanted,
                    "tolerance": tol,
                    "action_limit": esc,
                    "status": status,
                }
            )
    worst = shift.get("residual_max_over_target_mm")
    smallest = min(levels["translation_mm"].values())
    if worst is not None and float(worst) > smallest and beyond_tolerance:
        reasons.append(
            f"after the correction the target structure is still off by up to {float(worst):.1f} mm "
            f"(tolerance {smallest:g} mm)"
        )
    if reasons:
        verdict = "escalate"
    elif beyond_tolerance:
        verdict = "apply shift"
    else:
        verdict = "within tolerance"
    t = max(abs(a["wanted"]) for a in axes[:3])
    r = max(abs(a["wanted"]) for a in axes[3:])
    left = max((abs(float(v)) for v in uncorrected.values()), default=0.0)
    return {
        "verdict": verdict,
        "reasons": reasons,
        "axes": axes,
        "largest_translation_mm": t,
        "largest_rotation_deg": r,
        "uncorrected_rotation_deg": left,
        "profile": levels,
    }


def resolve_display_profile(profile: str | None) -> str:
    """Full name of a display profile from its name or short name (iec, patient, varian); default IEC."""
    if profile is None:
        return next(iter(DISPLAY_PROFILES))
    name = DISPLAY_ALIASES.get(profile.lower(), profile) if isinstance(profile, str) else profile
    if name not in DISPLAY_PROFILES:
        raise IGRTInputError(
            f"unknown display profile {profile!r}; use one of {', '.join([*DISPLAY_ALIASES, *DISPLAY_PROFILES])}"
        )
    return name


def display_rows(shift: dict, profile: str | None = None) -> list[tuple[str, float, str, str]]:
    """(label, value, unit, sense) of the six axes under a display profile; the motion is unchanged."""
    sign, sense, labels = DISPLAY_PROFILES[resolve_display_profile(profile)]
    keys = TRANSLATIONS + ROTATIONS
    units = ("mm",) * 3 + ("deg",) * 3
    return [
        (label, sign * float(shift[k]) + 0.0, unit, sense)
        for label, k, unit in zip(labels, keys, units, strict=True)
    ]
