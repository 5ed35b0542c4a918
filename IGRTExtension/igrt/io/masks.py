"""Label images and point lists that name a target in the planning frame (DICOM LPS mm).

Readers only: one clear line for a file that is not what it should be. Whether a mask fits the planning
image is the workflow's check (``igrt.registration.inputs.target_mask_on``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.io.volumes import read_image_file


def read_label_image(path, what: str = "target mask") -> sitk.Image:
    """A 3-D scalar label image file (NRRD/NIfTI/MHA) as stored, or one line why not (``what`` names it)."""
    p = Path(path)
    if not p.is_file():
        state = "is a folder, not an image file" if p.is_dir() else "does not exist"
        raise IGRTInputError(f"{what} {p} {state}")
    return read_image_file(p, what)


def _voxel_centres_lps(mask: sitk.Image, kji: np.ndarray) -> np.ndarray:
    """LPS centres (mm) of voxels given as (k, j, i) NumPy indices of ``mask``."""
    ijk = kji[:, ::-1].astype(float)
    direction = np.asarray(mask.GetDirection(), float).reshape(3, 3)
    return np.asarray(mask.GetOrigin()) + (ijk * np.asarray(mask.GetSpacing())) @ direction.T


def target_from_mask(path) -> tuple[np.ndarray, np.ndarray]:
    """(centroid, boundary voxel centres) in LPS mm of a label image in the planning frame.

    The boundary (voxels with an outside 6-neighbour) is enough for the largest residual of a rigid
    error over the structure: that residual is convex in position, so it peaks on the boundary.
    """
    mask = read_label_image(path)
    inside = sitk.GetArrayFromImage(mask) > 0  # (k, j, i)
    if not inside.any():
        raise IGRTInputError(f"target mask {path} is empty")
    padded = np.pad(inside, 1)
    interior = inside.copy()
    for axis in range(3):
        for step in (-1, 1):
            interior &= np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
    centroid = _voxel_centres_lps(mask, np.argwhere(inside)).mean(axis=0)
    return centroid, _voxel_centres_lps(mask, np.argwhere(inside & ~interior))


def read_target_points(path) -> np.ndarray:
    """N×3 LPS points (mm) of a target structure: a JSON list of [x, y, z] or a text/CSV file of rows."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise IGRTInputError(
            f"cannot read target points {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            data = data.get("points_lps", data) if isinstance(data, dict) else data
            pts = np.asarray(data, float)
        else:
            rows = [line.replace(",", " ").split() for line in text.splitlines()]
            pts = np.asarray([[float(v) for v in r] for r in rows if r and not r[0].startswith("#")], float)
    except (ValueError, TypeError) as exc:
        raise IGRTInputError(f"target points {path}: not rows of x,y,z numbers (LPS mm)") from exc
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.all(np.isfinite(pts)):
        raise IGRTInputError(f"target points {path}: expected rows of x,y,z (LPS mm)")
    return pts
