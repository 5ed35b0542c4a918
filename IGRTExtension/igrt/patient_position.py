"""Patient position (DICOM PatientPosition, PS3.3 C.7.3.1.1.2): the terms we support, the default, and
the one rule that picks the position of a match or a shift.

Every couch sign depends on it (docs/CONVENTIONS.md §IEC 61217), so it is chosen in one place: the
position given by the user, else the plan's, else the planning image's, else ``DEFAULT`` with a warning.
"""

from __future__ import annotations

from igrt.errors import IGRTInputError

#: Positions whose table-top mapping we implement (``igrt.couch.correction.TABLE_TOP_FROM_IEC_PATIENT``).
SUPPORTED = ("HFS", "HFP", "FFS", "FFP", "HFDL", "HFDR", "FFDL", "FFDR")

#: Every defined term of PatientPosition (PS3.3 C.7.3.1.1.2): readers accept these, then refuse the
#: ones outside ``SUPPORTED`` only where a couch sign depends on them.
DICOM_DEFINED_TERMS = SUPPORTED + ("LFP", "LFS", "RFP", "RFS", "AFDR", "AFDL", "PFDR", "PFDL")

#: The position assumed when nothing records one (always with a warning in the output).
DEFAULT = "HFS"


def normalise(position: str, what: str = "patient orientation") -> str:
    """``position`` upper-cased and checked against ``SUPPORTED``; one clear line otherwise."""
    key = str(position or "").strip().upper()
    if key not in SUPPORTED:
        raise IGRTInputError(f"unsupported {what} {position!r}; use one of {', '.join(SUPPORTED)}")
    return key


def resolve(given: str | None = None, **recorded: str | None) -> tuple[str, str, list[str]]:
    """The patient position to use, where it came from, and the warnings to record.

    Parameters
    ----------
    given : str or None
        The position the user chose (command-line option, module selector); wins over everything.
    **recorded : str or None
        Positions recorded by the inputs, in order of trust (e.g. ``plan=...``, ``planning_image=...``,
        ``result=...``); the first non-empty one is used.

    Returns
    -------
    (position, source, warnings)
        ``position`` one of ``SUPPORTED``; ``source`` "given", the keyword of the record used, or
        "assumed"; ``warnings`` empty unless the default was assumed.
    """
    if given:
        return normalise(given), "given", []
    for source, value in recorded.items():
        if value:
            return normalise(value, f"patient orientation of the {source.replace('_', ' ')}"), source, []
    looked = ", ".join(k.replace("_", " ") for k in recorded) or "nothing"
    return DEFAULT, "assumed", [f"patient orientation unknown (not recorded by {looked}): assumed {DEFAULT}"]
