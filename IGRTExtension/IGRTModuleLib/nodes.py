"""Reading module inputs from nodes: plan isocenter, markups points, DICOM identity of a volume.

Frames: every point returned is DICOM LPS (mm) in the node's own (untransformed) frame; the RAS → LPS
change is made by ``igrt.mrml.daily_match`` (``igrt.geometry.ras_to_lps_point``), nowhere here.
"""

import slicer

from igrt.errors import IGRTInputError
from igrt.mrml import daily_match

#: Volume identity fields and their DICOM tags (PS3.3: Patient, General Series, Frame of Reference,
#: General Series Patient Position).
DICOM_IDENTITY_TAGS = {
    "patient_id": "0010,0020",
    "modality": "0008,0060",
    "study_uid": "0020,000D",
    "series_uid": "0020,000E",
    "frame_of_reference_uid": "0020,0052",
    "patient_position": "0018,5100",
}

#: Isocenter sources that read a node; any other source means "the Logic's own default" (None).
PLAN, MARKUPS = "plan", "markups"


def dicomIdentity(volumeNode) -> dict:
    """Identity of a volume loaded from Slicer's DICOM database (``DICOM_IDENTITY_TAGS`` keys).

    Empty when the volume did not come from the database (files, generated images, slicer-core).
    """
    uids = volumeNode.GetAttribute("DICOM.instanceUIDs") if volumeNode is not None else None
    database = getattr(slicer, "dicomDatabase", None)
    if not uids or database is None:
        return {}
    fileName = database.fileForInstance(uids.split()[0])
    if not fileName:
        return {}
    values = {key: database.fileValue(fileName, tag) for key, tag in DICOM_IDENTITY_TAGS.items()}
    return {key: value.strip() for key, value in values.items() if value and value.strip()}


def planIsocenterLps(planNode, purpose: str = "isocenter from the plan"):
    """Isocenter (LPS, mm) of a SlicerRT plan node; ``purpose`` names what needed it in the refusal."""
    if planNode is None:
        raise IGRTInputError(f"{purpose}: select an RT plan (or choose another source)")
    return daily_match.isocenter_lps_from_plan(planNode)


def markupsPointLps(markupsNode, volumeNode=None):
    """First control point (LPS, mm) of a markups node, in ``volumeNode``'s acquired frame."""
    return daily_match.point_lps_from_markups(markupsNode, volume_node=volumeNode)


def planningIsocenterLps(source: str, planNode=None, markupsNode=None, planningVolume=None):
    """Planning isocenter (LPS, mm) from the plan or a markups point; None for any other source.

    None lets the caller apply its own default (the planning image center for the daily match, the
    centroid of the planning markers for the marker match).
    """
    if source == PLAN:
        return planIsocenterLps(planNode)
    if source == MARKUPS:
        return markupsPointLps(markupsNode, planningVolume)
    return None


def dailyIsocenterLps(markupsNode, dailyVolume=None):
    """Daily treatment isocenter (LPS, mm) from a markups point, or None when no point is placed."""
    if markupsNode is None or not markupsNode.GetNumberOfControlPoints():
        return None
    return markupsPointLps(markupsNode, dailyVolume)
