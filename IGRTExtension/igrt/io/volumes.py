"""Read an image volume: a DICOM series folder or one volume file (NRRD, NIfTI, MHA), as LPS float32."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.io.dicom_series import read_dicom_series
from igrt.volume import Volume, as_float32

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
    return Volume(image=as_float32(read_image_file(p)), path=str(p))


def read_image_file(p: Path, what: str = "volume") -> sitk.Image:
    """The image of one NRRD/NIfTI/MHA file, refusing what is not a usable 3-D scalar volume in one line."""
    name = p.name.lower()
    if name.endswith(".dcm") or _has_dicom_magic(p):
        raise IGRTInputError(
            f"{p} is a single DICOM file: give the folder that holds the whole series ({p.parent})"
        )
    if not name.endswith(VOLUME_SUFFIXES):
        raise IGRTInputError(
            f"{p} is not a supported {what} file: give a DICOM series folder or a "
            f"{'/'.join(s.lstrip('.') for s in VOLUME_SUFFIXES)} file"
        )
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError as e:
        raise IGRTInputError(f"{p}: cannot read it as a {what} file ({_sitk_reason(e)})") from e
    size = reader.GetSize()
    if reader.GetDimension() != 3 or min(size) < 2:
        raise IGRTInputError(f"{p} is a {'×'.join(map(str, size))} image: a 3-D volume is needed")
    if reader.GetNumberOfComponents() != 1:
        raise IGRTInputError(
            f"{p} has {reader.GetNumberOfComponents()} components per voxel: a scalar (grey-level) volume is needed"
        )
    _check_axes(reader.GetDirection(), reader.GetSpacing(), p)
    try:
        return reader.Execute()
    except RuntimeError as e:
        raise IGRTInputError(f"{p}: cannot read its voxels ({_sitk_reason(e)})") from e


def _check_axes(direction, spacing, p) -> None:
    """Refuse a header whose axes (direction cosines) are degenerate or not perpendicular unit vectors,
    or whose voxel size is not positive: no patient geometry can be read from it."""
    d = np.asarray(direction, float).reshape(3, 3)
    if not np.all(np.isfinite(d)) or abs(np.linalg.det(d)) < 1e-6:
        rows = " ".join("(" + " ".join(f"{v:g}" for v in col) + ")" for col in d.T)
        raise IGRTInputError(
            f"{p}: its axis directions {rows} are degenerate (two axes parallel or one zero): the header is "
            "broken, no patient geometry can be read"
        )
    if not np.allclose(d.T @ d, np.eye(3), atol=1e-3):
        raise IGRTInputError(
            f"{p}: its axis directions are not perpendicular unit vectors (sheared or scaled): the header is "
            "broken or not a scanner's"
        )
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise IGRTInputError(f"{p}: voxel spacing {tuple(spacing)} mm is not positive")


def _has_dicom_magic(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def _sitk_reason(e: Exception) -> str:
    """SimpleITK errors run over many lines and start with ITK source paths; keep the telling words."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        if "Description:" in ln:
            return ln.split("Description:", 1)[1].strip()[:200]
    for ln in lines:
        if "ITK ERROR:" in ln:  # "ITK ERROR: ImageIO(0x...): Could not ..." → "Could not ..."
            return ln.split("ITK ERROR:", 1)[1].split("): ", 1)[-1].strip()[:200]
    words = [ln for ln in lines if not re.search(r"(^|\s)/\S+\.(h|hxx|cxx|cpp):\d+", ln)]
    return (words[-1] if words else type(e).__name__).removeprefix("sitk::ERROR: ")[:200]
