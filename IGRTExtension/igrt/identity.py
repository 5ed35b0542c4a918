"""Do two inputs belong together? The one frame-of-reference and patient check for things that must share
a frame (structures and a dose, structures and the planning image): a refusal in one line, or a warning
when it cannot be checked."""

from __future__ import annotations

from igrt.errors import IGRTInputError


def check_same_frame(first, first_role: str, second, second_role: str) -> list[str]:
    """Refuse ``first`` and ``second`` of different frames of reference or patients; warnings when unknown.

    Both carry ``frame_of_reference_uid`` and ``patient_id`` (None when unknown); ``first.path`` names the
    first in the message. Roles are plural/singular nouns as read in the message ("the structures").
    """
    ff, sf = first.frame_of_reference_uid, second.frame_of_reference_uid
    if ff and sf and ff != sf:
        raise IGRTInputError(
            f"the {first_role} ({first.path}) are in frame of reference {ff}, the {second_role} in {sf}: "
            "they do not belong together"
        )
    if first.patient_id and second.patient_id and first.patient_id != second.patient_id:
        raise IGRTInputError(
            f"the {first_role} are for patient {first.patient_id!r}, the {second_role} for {second.patient_id!r}"
        )
    if not (ff and sf):
        return [
            f"frame of reference unknown for the {first_role} or the {second_role}: that they belong together "
            "is not checked"
        ]
    return []
