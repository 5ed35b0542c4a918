"""Read an image volume: a DICOM series folder or one volume file (NRRD, NIfTI, MHA), as LPS float32."""

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
