"""Bowel gas that differs between the planning CT and the treatment day.

Gas pockets come and go from day to day; a match that locks onto them is wrong by their motion. This
makes such a day's anatomy: inside a sphere around a point, gas pockets holding half of the planning CT's
gas are filled with bowel content, and new pockets appear in soft tissue. Everything else stays.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.synth.organ_motion import voxel_points_lps

#: Gas in the body: HU below this (air outside the body is excluded by the body mask).
GAS_HU = -400.0
BOWEL_CONTENT_HU = 25.0
NEW_GAS_HU = -900.0


def change_gas(
    image: sitk.Image, center_lps, radius_mm: float, seed: int, new_pockets: int = 8
) -> sitk.Image:
    """A copy of ``image`` (HU) with the gas pockets within ``radius_mm`` of ``center_lps`` changed.

    Pockets (connected components of HU < ``GAS_HU`` inside the body) holding half of the gas volume are filled with
    ``BOWEL_CONTENT_HU`` plus 10 HU noise; ``new_pockets`` spheres of 6–15 mm radius at ``NEW_GAS_HU``
    are put at soft-tissue voxels (−100…100 HU) of the sphere. Deterministic for ``seed``.
    """
    rng = np.random.default_rng(seed)
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    pts = voxel_points_lps(image)
    near = np.linalg.norm(pts - np.asarray(center_lps, float), axis=-1) <= radius_mm
    body_image = _body_mask(image)  # named: a view of a temporary image would outlive its buffer
    body = sitk.GetArrayViewFromImage(body_image) > 0
    gas = sitk.ConnectedComponent(_from_array(((arr < GAS_HU) & body & near).astype(np.uint8), image))
    labels = sitk.GetArrayFromImage(gas)
    sizes = np.bincount(labels.ravel())
    order = rng.permutation(np.flatnonzero(sizes[1:]) + 1)
    # Pockets in random order until half of the gas volume is filled (the one that crosses it included).
    upto = np.searchsorted(np.cumsum(sizes[order]), sizes[1:].sum() / 2) + 1
    fill = np.isin(labels, order[:upto])
    arr[fill] = BOWEL_CONTENT_HU + rng.normal(0.0, 10.0, int(fill.sum())).astype(np.float32)
    tissue = np.flatnonzero((near & body & (arr > -100.0) & (arr < 100.0)).ravel())
    if tissue.size:
        flat = pts.reshape(-1, 3)
        for k in rng.choice(tissue, size=min(new_pockets, tissue.size), replace=False):
            r = rng.uniform(6.0, 15.0)
            pocket = np.linalg.norm(pts - flat[k], axis=-1) <= r
            arr[pocket & body & near] = NEW_GAS_HU
    return _from_array(arr, image)


def _body_mask(image: sitk.Image) -> sitk.Image:
    """The patient: the largest connected region above −300 HU with its holes (gas) filled."""
    dense = sitk.RelabelComponent(sitk.ConnectedComponent(image > -300.0)) == 1
    return sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(dense, [3, 3, 3]))


def _from_array(arr: np.ndarray, like: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(like)
    return out
