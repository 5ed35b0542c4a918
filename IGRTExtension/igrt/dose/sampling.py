"""A structure as weighted sample points (LPS mm), finer than the dose grid where the structure is small.

Contours (RTSTRUCT): where the structure is — each contour plane's slab and the end caps closing over half
a slab beyond the first and last planes — is :mod:`igrt.dose.contour_stack`'s rule. Inside a slab the
polygons are filled by the even–odd rule (:mod:`igrt.dose.rasterize`) on a square in-plane grid of
spacing h and the slab is cut into an even number k ≥ slab/h of sub-planes, so every sample stands for
h·h·slab/k mm³; a cap sub-plane fills the end section scaled for its height. Masks: every inside voxel
is cut into ⌈spacing/h⌉ sub-voxels per axis. The spacing h is chosen so a structure gets about
``TARGET_SAMPLES`` points, never coarser than the dose grid, never finer than ``MIN_SPACING_MM``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from igrt.dose.contour_stack import contour_stack
from igrt.dose.model import Structure
from igrt.dose.rasterize import fill_polygons, polygon_area_mm2
from igrt.image_grid import index_to_lps, lps_to_index, same_grid

TARGET_SAMPLES = 1_000_000
MIN_SPACING_MM = 0.25


@dataclass
class Samples:
    """Points (N, 3) LPS mm inside a structure, each standing for ``weight_mm3``."""

    points: np.ndarray
    weight_mm3: float
    spacing_mm: float

    @property
    def volume_mm3(self) -> float:
        return float(len(self.points) * self.weight_mm3)


def estimated_volume_mm3(structure: Structure) -> float:
    """A quick upper estimate of the volume (contour areas × slab, holes counted as area), mm³."""
    if structure.contours is not None:
        return float(sum(polygon_area_mm2(c) for c in structure.contours) * (structure.slab_mm or 1.0))
    count = int(np.count_nonzero(sitk.GetArrayViewFromImage(structure.mask)))
    return count * float(np.prod(structure.mask.GetSpacing()))


def auto_spacing_mm(structure: Structure, max_spacing_mm: float, target: int = TARGET_SAMPLES) -> float:
    """Sample spacing (mm): about ``target`` samples, clamped to [MIN_SPACING_MM, max_spacing_mm]."""
    h = (max(estimated_volume_mm3(structure), 1e-3) / target) ** (1.0 / 3.0)
    return float(np.clip(h, MIN_SPACING_MM, max(max_spacing_mm, MIN_SPACING_MM)))


def sample_structure(structure: Structure, spacing_mm: float) -> Samples:
    """The weighted sample points of ``structure`` at ``spacing_mm`` (see the module docstring)."""
    if structure.contours is not None:
        return _sample_contours(structure, spacing_mm)
    return _sample_mask(structure.mask, spacing_mm)


def _sample_contours(structure: Structure, h: float) -> Samples:
    stack = contour_stack(structure)
    slab = stack.slab_mm
    xy = np.concatenate([c[:, :2] for c in structure.contours])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    x0, y0 = lo + h / 2
    nx, ny = (np.ceil((hi - lo) / h).astype(int) + 1).tolist()
    k_z = 2 * max(1, int(np.ceil(slab / (2 * h) - 1e-9)))
    sub_z = slab * ((np.arange(k_z) + 0.5) / k_z - 0.5)
    chunks = []
    for k, z in enumerate(stack.z):
        zs = z + sub_z
        for scale in np.unique(stack.scale_at(zs)):  # 1 inside, < 1 on the end caps
            inside = fill_polygons(stack.section(k, scale), x0, y0, h, nx, ny)
            rows, cols = np.nonzero(inside)
            at = zs[stack.scale_at(zs) == scale]
            if len(rows) == 0 or len(at) == 0:
                continue
            pxy = np.column_stack([x0 + cols * h, y0 + rows * h])
            chunks.append(np.column_stack([np.tile(pxy, (len(at), 1)), np.repeat(at, len(pxy))]))
    points = np.concatenate(chunks) if chunks else np.zeros((0, 3))
    return Samples(points=points, weight_mm3=h * h * slab / k_z, spacing_mm=h)


def _sample_mask(mask: sitk.Image, h: float) -> Samples:
    spacing = np.asarray(mask.GetSpacing(), float)
    k = np.maximum(1, np.ceil(spacing / h - 1e-9)).astype(int)
    inside = np.argwhere(sitk.GetArrayViewFromImage(mask) != 0)[:, ::-1].astype(float)  # (x, y, z) index
    offsets = np.stack(
        np.meshgrid(*[(np.arange(n) + 0.5) / n - 0.5 for n in k], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    index = (inside[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
    return Samples(
        points=index_to_lps(mask, index),
        weight_mm3=float(np.prod(spacing / k)),
        spacing_mm=float(np.max(spacing / k)),
    )


def structure_fraction(
    structure: Structure, reference: sitk.Image, spacing_mm: float | None = None
) -> sitk.Image:
    """Fraction (0–1) of every voxel of ``reference``'s grid inside ``structure`` (float32, same grid).

    Sub-voxel sampling at ``spacing_mm`` (default a quarter of the finest reference spacing).
    """
    if structure.mask is not None and same_grid(structure.mask, reference):
        image = sitk.Cast(structure.mask != 0, sitk.sitkFloat32)  # already on this grid: as it is
        image.CopyInformation(reference)
        return image
    h = spacing_mm or min(reference.GetSpacing()) / 4.0
    samples = sample_structure(structure, h)
    size = np.asarray(reference.GetSize())
    idx = np.rint(lps_to_index(reference, samples.points)).astype(np.int64)
    ok = np.all((idx >= 0) & (idx < size), axis=1)
    idx = idx[ok]
    flat = (idx[:, 2] * size[1] + idx[:, 1]) * size[0] + idx[:, 0]
    voxel_mm3 = float(np.prod(reference.GetSpacing()))
    frac = np.bincount(flat, minlength=int(np.prod(size))) * (samples.weight_mm3 / voxel_mm3)
    image = sitk.GetImageFromArray(np.minimum(frac, 1.0).reshape(size[::-1]).astype(np.float32))
    image.CopyInformation(reference)
    return image


def structure_label(structure: Structure, reference: sitk.Image) -> sitk.Image:
    """Binary uint8 mask of ``structure`` on ``reference``'s grid: voxels at least half inside."""
    return sitk.Cast(structure_fraction(structure, reference) >= 0.5, sitk.sitkUInt8)


def structures_label_map(
    structures, reference: sitk.Image
) -> tuple[sitk.Image, list[tuple[int, str, tuple]]]:
    """One uint8 label map of ``structures`` on ``reference``'s grid, for drawing their outlines.

    Label i + 1 is ``structures[i]`` (voxels at least half inside, :func:`structure_label`). Where
    structures overlap, the smaller one wins (drawn last), so a target inside an organ keeps its outline.
    Returns the image and ``(label, name, rgb 0–255 or None)`` per structure. At most 255 structures.
    """
    if len(structures) > 255:
        raise ValueError(f"{len(structures)} structures: a label map holds at most 255")
    labels = np.zeros(reference.GetSize()[::-1], np.uint8)
    masks = [sitk.GetArrayFromImage(structure_label(s, reference)).astype(bool) for s in structures]
    for i in sorted(range(len(structures)), key=lambda k: -int(masks[k].sum())):
        labels[masks[i]] = i + 1
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(reference)
    return image, [(i + 1, s.name, s.color) for i, s in enumerate(structures)]
