"""Read the planning and daily images (DICOM series folder or one volume file) and check they belong together."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.io.dicom_series import read_dicom_series
from igrt.volume import Volume

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def read_volume(path) -> Volume:
    """A DICOM series folder (CT, CBCT, MR) or a NRRD/NIfTI/MHA file as a float32 LPS :class:`Volume`.

    Bad input raises :class:`IGRTInputError` with one line saying what is wrong with which file.
    """
    p = Path(path)
    if not p.exists():
        raise IGRTInputError(f"{p} does not exist")
    if p.is_dir():
        return read_dicom_series(p)
    return read_volume_file(p)


def read_volume_file(p: Path) -> Volume:
    """One volume file through SimpleITK, whose images are LPS (NIfTI's RAS is converted on read)."""
    name = p.name.lower()
    if name.endswith(".dcm") or _has_dicom_magic(p):
        raise IGRTInputError(
            f"{p} is a single DICOM file: give the folder that holds the whole series ({p.parent})"
        )
    if not name.endswith(VOLUME_SUFFIXES):
        raise IGRTInputError(
            f"{p} is not a supported volume file: give a DICOM series folder or a "
            f"{'/'.join(s.lstrip('.') for s in VOLUME_SUFFIXES)} file"
        )
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError as e:
        raise IGRTInputError(f"{p}: cannot read it as an image ({_sitk_reason(e)})") from e
    size = reader.GetSize()
    if reader.GetDimension() != 3 or min(size) < 2:
        raise IGRTInputError(f"{p} is a {'×'.join(map(str, size))} image: a 3-D volume is needed")
    if reader.GetNumberOfComponents() != 1:
        raise IGRTInputError(
            f"{p} has {reader.GetNumberOfComponents()} components per voxel: a scalar (grey-level) volume is needed"
        )
    try:
        image = sitk.Cast(reader.Execute(), sitk.sitkFloat32)
    except RuntimeError as e:
        raise IGRTInputError(f"{p}: cannot read its voxels ({_sitk_reason(e)})") from e
    return Volume(image=image, path=str(p))


def check_pair(planning: Volume, daily: Volume) -> list[str]:
    """Check the planning and daily images may be matched; return warnings to record in the result.

    Raises on two different patient IDs, and on two different patient positions (e.g. HFS planning,
    FFS daily) when both are known: the orientation decides every couch sign, so a mismatch is a
    setup or data error to resolve before matching, not a warning. Different frames of reference are
    expected (a CBCT has its own) and are recorded; unknown identities are recorded.
    """
    warnings = []
    if planning.patient_id and daily.patient_id and planning.patient_id != daily.patient_id:
        raise IGRTInputError(
            f"patient ID mismatch: planning image is {planning.patient_id!r}, daily image is {daily.patient_id!r}"
        )
    pp, dp = planning.patient_position, daily.patient_position
    if pp and dp and pp != dp:
        raise IGRTInputError(f"patient position mismatch: planning image is {pp}, daily image is {dp}")
    for role, v in (("planning", planning), ("daily", daily)):
        if not v.patient_id:
            warnings.append(f"{role} image has no patient ID ({v.path}): same patient not checked")
        if not v.patient_position:
            warnings.append(f"{role} image has no patient position ({v.path})")
    pf, df = planning.frame_of_reference_uid, daily.frame_of_reference_uid
    if pf and df and pf != df:
        warnings.append(
            f"planning and daily images have different frames of reference ({pf} vs {df}): "
            "expected for a CBCT; the isocenters are paired as declared"
        )
    elif not (pf and df):
        warnings.append(
            "frame of reference unknown for at least one image: the isocenters are paired as declared"
        )
    if planning.series_uid and planning.series_uid == daily.series_uid:
        warnings.append(f"planning and daily images are the same series ({planning.series_uid})")
    return warnings


def _has_dicom_magic(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def _sitk_reason(e: Exception) -> str:
    """SimpleITK errors run over many lines; keep the most telling one."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        if "Description:" in ln:
            return ln.split("Description:", 1)[1].strip()[:200]
    return (lines[-1] if lines else type(e).__name__)[:200]
