"""Target motion against the bone: the prostate displaced inside a still pelvis, for soft-tissue tests.

From day to day the prostate moves a few millimetres against the pelvic bones (rectal and bladder
filling). A bone match cannot see that; the soft-tissue match must. This makes the daily anatomy of
such a day: the target moves rigidly (with its texture and implanted markers), the tissue around it
follows smoothly over ``falloff_mm``, and everything farther away, the bones included, stays put.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.image_grid import index_to_lps
from igrt.registration.working_images import box_index_bounds


def target_mask(like: sitk.Image, center_lps, semi_axes_mm) -> sitk.Image:
    """0/1 mask of the ellipsoid target (axes along LPS) on the grid of ``like``."""
    pts = voxel_points_lps(like)
    r2 = (((pts - np.asarray(center_lps, float)) / np.asarray(semi_axes_mm, float)) ** 2).sum(axis=-1)
    mask = sitk.GetImageFromArray((r2 <= 1.0).astype(np.uint8))
    mask.CopyInformation(like)
    return mask


def displace_target(
    image: sitk.Image, center_lps, semi_axes_mm, shift_mm, falloff_mm: float = 15.0
) -> sitk.Image:
    """``image`` with the ellipsoid target moved by ``shift_mm`` (LPS) and its surroundings deformed.

    out(x) = image(x − w(x)·shift): w = 1 on the target at both its planned and its moved place (grown
    by 2 mm), so the target moves rigidly, and falls to 0 as a half cosine over ``falloff_mm`` beyond.
    The deformation stays invertible while |shift| < 2·falloff_mm/π (9.5 mm for 15 mm); refused beyond.
    """
    shift = np.asarray(shift_mm, float)
    if np.linalg.norm(shift) >= 2.0 * falloff_mm / np.pi:
        raise ValueError(f"a {np.linalg.norm(shift):.1f} mm shift folds a {falloff_mm} mm falloff")
    reach = np.asarray(semi_axes_mm, float) * 2 + np.abs(shift) + 2 * (falloff_mm + 2.0)
    bounds = box_index_bounds(image, np.asarray(center_lps, float) + shift / 2, reach)
    if bounds is None:
        raise ValueError("the target lies outside the image")
    lo = [int(v) for v in bounds[0]]
    region = sitk.RegionOfInterest(image, [int(v) for v in bounds[1] - bounds[0]], lo)
    pts = voxel_points_lps(region)
    inside = np.zeros(pts.shape[:-1], bool)
    for c in (np.asarray(center_lps, float), np.asarray(center_lps, float) + shift):
        inside |= (((pts - c) / np.asarray(semi_axes_mm, float)) ** 2).sum(axis=-1) <= 1.0
    core = sitk.GetImageFromArray(inside.astype(np.uint8))
    core.CopyInformation(region)
    distance = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(
            core, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
        )
    )
    d = np.clip(distance - 2.0, 0.0, falloff_mm)
    w = 0.5 * (1.0 + np.cos(np.pi * d / falloff_mm))
    field = sitk.GetImageFromArray((-w[..., None] * shift).astype(np.float64), isVector=True)
    field.CopyInformation(region)
    moved = sitk.Resample(
        region, region, sitk.DisplacementFieldTransform(field), sitk.sitkLinear, -1000.0, region.GetPixelID()
    )
    return sitk.Paste(image, moved, moved.GetSize(), [0, 0, 0], lo)


def voxel_points_lps(image: sitk.Image) -> np.ndarray:
    """LPS coordinates of every voxel centre, shape (z, y, x, 3)."""
    size = image.GetSize()
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")[::-1], axis=-1)
    return index_to_lps(image, idx.reshape(-1, 3)).reshape(idx.shape)
