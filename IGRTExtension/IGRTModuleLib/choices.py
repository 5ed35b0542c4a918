"""The modules' parameter enums, built from the core's constants so a module never lists them again.

A value the core adds (a match method, a couch model, a patient position, a tolerance profile) appears
in the module's selector without touching the module; it is shown by its own name until it gets a label
here. Member names are kept as they were (scenes store them).
"""

import enum
import re

from igrt.couch import tolerance
from igrt.couch.correction import COUCH_MODELS, ORIENTATIONS
from igrt.mrml import comparison
from igrt.registration.match import METHODS


class LabelledEnum(enum.Enum):
    """An enum whose members have a label for the combo box (``label()``, used by parameterNodeWrapper)."""

    def label(self) -> str:
        return type(self)._labels.get(self.value, str(self.value))


def memberName(value: str) -> str:
    """Python member name of a value: "imageCenter" → "IMAGE_CENTER", "6dof" → "_6DOF"."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(value)).upper()
    name = re.sub(r"\W", "_", name)
    return f"_{name}" if name[:1].isdigit() else name


def choiceEnum(name: str, values, labels=None, names=None) -> type:
    """A ``LabelledEnum`` named ``name`` with one member per value, in order.

    ``labels``: value → text shown; ``names``: value → member name (default :func:`memberName`).
    """
    names = names or {}
    cls = LabelledEnum(name, [(names.get(v) or memberName(v), v) for v in values], module=__name__)
    cls._labels = dict(labels or {})
    return cls


MatchMethod = choiceEnum(
    "MatchMethod",
    METHODS,
    labels={"auto": "Auto (bone, then soft tissue)", "bone": "Bone", "soft": "Soft tissue"},
)

ComparisonMode = choiceEnum(
    "ComparisonMode", comparison.MODES, labels={mode: mode.capitalize() for mode in comparison.MODES}
)

CouchModel = choiceEnum(
    "CouchModel",
    COUCH_MODELS,
    labels={
        "6dof": "6 DOF (translations, couch rotation, pitch, roll)",
        "4dof": "4 DOF (translations and couch rotation)",
        "3dof": "3 DOF (translations only)",
    },
    names={"6dof": "SIX_DOF", "4dof": "FOUR_DOF", "3dof": "THREE_DOF"},
)

#: "auto" first: the position recorded by the planning image (the couch logic's default otherwise).
FROM_RESULT = "auto"
PatientOrientation = choiceEnum(
    "PatientOrientation",
    (FROM_RESULT, *ORIENTATIONS),
    labels={FROM_RESULT: "From the planning image (default HFS)"},
    names={FROM_RESULT: "FROM_RESULT"},
)

#: Where a planning isocenter can come from (each module offers a subset, see :func:`isocenterSources`).
ISOCENTER_LABELS = {
    "plan": "RT plan",
    "markups": "Markups point",
    "imageCenter": "Planning image center",
    "markers": "Centroid of the planning markers",
}


def isocenterSources(*values) -> type:
    """The ``IsocenterSource`` enum of a module: a subset of ``ISOCENTER_LABELS``, in the given order."""
    unknown = set(values) - set(ISOCENTER_LABELS)
    if unknown:
        raise ValueError(f"unknown isocenter source(s): {sorted(unknown)}")
    return choiceEnum("IsocenterSource", values, ISOCENTER_LABELS)


#: Tolerance and display profiles of the couch verdict (the default first), for ``Choice`` parameters.
TOLERANCE_PROFILES = tolerance.tolerance_profile_names()
DISPLAY_PROFILES = tolerance.display_profile_names()
