"""A pelvis-like HU phantom: the default planning CT of the known-transform (TG-132) test.

Why a drawn phantom and not only a real CT: its anatomy is known exactly (landmarks, bones, organs),
it can be built at any grid in seconds, and it has what a pelvic bone match relies on — a bony pelvis
whose shape changes along every axis (femoral heads, iliac wings, sacrum, vertebrae with discs,
pubic rami), so that all six rigid degrees of freedom are constrained, plus soft-tissue organs
(bladder, prostate, rectum with gas) for the soft-tissue match.

Coordinates are DICOM patient LPS (PS3.3 C.7.6.2.1.1: +x patient left, +y posterior, +z superior);
the patient is head-first supine, so anterior is −y. Shapes are written in "anatomy units": mm from
the anatomy centre (body centre, femoral-head level), multiplied by ``scale``.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from igrt.synth import sdf
from igrt.synth.sdf import (
    Grid,
    capsule,
    ellipsoid,
    elliptic_cylinder,
    halfspace,
    intersect,
    shell,
    sphere,
    subtract,
)

#: Image centre of the default phantom: a real CT's grid centre is rarely the frame origin.
DEFAULT_CENTER_LPS = (0.0, -50.0, 300.0)
#: Anatomy centre (body centre at femoral-head level) relative to the image centre, in mm.
ANATOMY_OFFSET = (3.0, 12.0, -25.0)

#: Landmarks in anatomy units (mm from the anatomy centre at scale 1).
LANDMARKS = {
    "prostate": (0.0, 2.0, -22.0),
    "bladder": (0.0, -38.0, 28.0),
    "rectum_gas": (4.0, 37.0, 12.0),
    "femoral_head_left": (95.0, 5.0, 0.0),
    "femoral_head_right": (-96.0, 5.0, 0.0),
    "pubic_symphysis": (0.0, -71.0, -20.0),
    "sacrum": (0.0, 62.0, 70.0),
    "l5_body": (0.0, 28.0, 130.0),
}

CORTICAL_HU, TRABECULAR_HU, CORTEX_MM = 1150.0, 240.0, 2.5
#: The prostate: an ellipsoid about its landmark (anatomy units), the target of the soft-tissue match.
PROSTATE_SEMI_AXES = (22.0, 17.0, 20.0)


#: The rectum (anatomy units): a tube of this radius along z over this range, bending posteriorly.
RECTUM_RADIUS_MM = 15.0
RECTUM_Z_RANGE = (-70.0, 45.0)


def rectum_center_y(z):
    """Anatomy-unit y (posterior) of the rectum's axis at anatomy-unit z (x is 0)."""
    return 40.0 + 0.002 * (z - 10.0) ** 2


def anatomy_center(center=DEFAULT_CENTER_LPS, scale=1.0) -> np.ndarray:
    """LPS point of the anatomy centre for a phantom whose image centre is ``center``."""
    return np.asarray(center, float) + np.asarray(ANATOMY_OFFSET) * scale


def prostate_ellipsoid_lps(center=DEFAULT_CENTER_LPS, scale=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centre (LPS) and semi-axes (mm) of the prostate of a phantom whose image centre is ``center``."""
    return landmark_lps("prostate", center, scale), np.asarray(PROSTATE_SEMI_AXES) * scale


def landmark_lps(name: str, center=DEFAULT_CENTER_LPS, scale=1.0) -> np.ndarray:
    """LPS position of a named landmark (e.g. ``"prostate"``, the usual planning isocenter)."""
    return anatomy_center(center, scale) + np.asarray(LANDMARKS[name]) * scale


BODY_BOX = (-190.0, -125.0, -1e4), (190.0, 115.0, 1e4)


def _trunk(x, y, z):
    """Trunk cross-section: a pelvis with a flatter back (the patient lies on it)."""
    a = np.float32(172.0) + np.float32(8.0) * np.cos(z / np.float32(70.0))
    b = np.where(y < 0, np.float32(118.0), np.float32(106.0))
    return sdf.ellipse2d(x, y, a, b)


def _thighs(x, y, z):
    return np.minimum(
        sdf.ellipse2d(x - 92.0, y - 8.0, 82.0, 92.0), sdf.ellipse2d(x + 92.0, y - 8.0, 82.0, 92.0)
    )


def _body_layers(a, g: Grid):
    """Fat under the skin (18 mm), muscle inside; one trunk above the perineum (z > −72), two thighs below."""
    sl, x, y, z = g.box(*BODY_BOX)
    if a[sl].size == 0:
        return
    zz = z[:, 0, 0]
    fat = np.full(a[sl].shape, 1e3, np.float32)
    muscle = fat.copy()
    for shape, zmin, zmax, cap in ((_trunk, -72.0, 1e4, 18.0), (_thighs, -1e4, -40.0, 0.0)):
        k = slice(int(np.searchsorted(zz, zmin - 3)), int(np.searchsorted(zz, zmax + 3)))
        zk = z[k]
        d = shape(x, y, zk)
        lid = np.maximum(zmin - zk, zk - zmax)
        np.minimum(fat[k], np.maximum(d, lid), out=fat[k])
        np.minimum(muscle[k], np.maximum(d + 18.0, lid + cap), out=muscle[k])
    for f, value in ((fat, -100.0), (muscle, 45.0)):
        a[sl] += g.blend(f) * (np.float32(value) - a[sl])


def _bones():
    """(box_lo, box_hi, sdf) of every bone, in anatomy units. Slightly asymmetric on purpose."""
    out = []
    for s in (1.0, -1.0):
        k = 0.0 if s > 0 else 1.0  # the right side sits 1 mm further out: no mirror symmetry
        hx = s * (95.0 + k)
        out += [
            ((hx - 30, -25, -30), (hx + 30, 35, 30), sphere((hx, 5, 0), 24)),
            ((hx - 20, -10, -60), (hx + 55 * s, 35, 20), capsule((hx, 5, 0), (s * 128, 12, -38), 15)),
            ((s * 138 - 25, -5, -55), (s * 138 + 25, 40, -10), sphere((s * 138, 18, -32), 19)),
            (
                (s * 128 - 25, -15, -290),
                (s * 128 + 25, 35, -20),
                capsule((s * 128, 12, -38), (s * 122, 8, -260), 14),
            ),
            (
                (s * 88 - 40, -35, -25),
                (s * 88 + 40, 50, 70),
                subtract(ellipsoid((s * 88, 8, 22), (32, 38, 42)), sphere((hx, 5, 0), 27)),
            ),
            ((s * 55 - 90, -60, 15), (s * 55 + 90, 80, 120), _wing(s, k)),
            ((s * 48 - 20, 40, 35), (s * 48 + 20, 80, 115), ellipsoid((s * 48, 60, 75), (16, 18, 35))),
            ((s * 47 - 45, -85, -20), (s * 47 + 45, 5, 20), capsule((s * 80, -12, 8), (s * 14, -72, -8), 10)),
            (
                (s * 14 - 15, -85, -45),
                (s * 14 + 15, -55, 5),
                capsule((s * 14, -72, -8), (s * 14, -70, -32), 11),
            ),
            (
                (s * 33 - 30, -82, -70),
                (s * 33 + 30, 27, -20),
                capsule((s * 14, -70, -32), (s * 52, 15, -58), 9),
            ),
            ((s * 66 - 30, 5, -75), (s * 66 + 30, 45, 25), capsule((s * 78, 22, 8), (s * 55, 28, -58), 14)),
        ]
    out += [
        (
            (-75, 20, 8),
            (75, 105, 115),
            elliptic_cylinder(
                0.0, lambda z: 82.0 - 0.32 * (z - 10.0), lambda z: 25.0 + 0.42 * (z - 10.0), 16.0, 10.0, 112.0
            ),
        ),
        ((-10, 60, -30), (10, 95, 15), capsule((0, 85, 8), (0, 74, -22), 6)),
    ]
    for i, zc in enumerate((130.0, 164.0, 198.0)):
        out += _vertebra(zc, 28.0 - 6.0 * i, 52.0 - 6.0 * i)
    return out


def _wing(s, k):
    """Iliac wing: a 9 mm curved plate, concave medially, flaring laterally towards the crest."""
    arc = elliptic_cylinder(
        s * 25.0, 25.0, lambda z: 60.0 + k + 0.55 * (z - 20.0), lambda z: 55.0 + 0.25 * (z - 20.0), -1e3, 1e3
    )
    return intersect(
        shell(arc, 9.0),
        halfspace(2, 20.0, True),
        halfspace(2, 115.0, False),
        halfspace(0, s * 35.0, s > 0),
        halfspace(1, -50.0, True),
        halfspace(1, 70.0, False),
    )


def _vertebra(zc, cy, tp):
    """Lumbar vertebra: body, pedicles, laminae, spinous and transverse processes (discs in between)."""
    parts = [
        (
            (-30, cy - 22, zc - 15),
            (30, cy + 22, zc + 15),
            elliptic_cylinder(0.0, cy, 26.0, 19.0, zc - 13, zc + 13),
        )
    ]
    for s in (1.0, -1.0):
        parts += [
            (
                (s * 13 - 9, cy + 10, zc - 8),
                (s * 13 + 9, cy + 44, zc + 8),
                capsule((s * 13, cy + 18, zc), (s * 12, cy + 36, zc), 6),
            ),
            (
                (s * 6 - 12, cy + 30, zc - 7),
                (s * 6 + 12, cy + 58, zc + 7),
                capsule((s * 12, cy + 38, zc), (0, cy + 52, zc), 5),
            ),
            (
                (s * 33 - 28, cy + 20, zc - 6),
                (s * 33 + 28, cy + 38, zc + 12),
                capsule((s * 13, cy + 30, zc + 2), (s * tp, cy + 28, zc + 4), 6),
            ),
        ]
    parts.append(
        ((-8, cy + 45, zc - 20), (8, cy + 83, zc + 8), capsule((0, cy + 52, zc), (0, cy + 75, zc - 12), 6))
    )
    return parts


def _soft_tissue(a, g: Grid):
    """Fat, muscle, pelvic fat and organs, painted from the outside in."""
    _body_layers(a, g)
    sdf.paint(a, g, (-70, -55, -75), (70, 65, 105), ellipsoid((0, 5, 15), (65, 58, 88)), -85.0)
    for s in (1.0, -1.0):
        sdf.paint(
            a,
            g,
            (s * 42 - 25, 0, 45),
            (s * 42 + 25, 50, 1e4),
            elliptic_cylinder(s * 42, 25, 22, 18, 50, 1e4),
            55.0,
        )
    sdf.paint(a, g, (-50, -78, -14), (50, 0, 70), ellipsoid((0, -38, 28), (46, 36, 38)), 10.0)
    sdf.paint(a, g, (-30, -5, -12), (30, 26, 8), ellipsoid((0, 18, -2), (28, 6, 8)), 35.0)
    sdf.paint(a, g, (-25, -18, -45), (25, 22, 0), ellipsoid(LANDMARKS["prostate"], PROSTATE_SEMI_AXES), 42.0)
    rect = elliptic_cylinder(0.0, rectum_center_y, RECTUM_RADIUS_MM, RECTUM_RADIUS_MM, *RECTUM_Z_RANGE)
    sdf.paint(a, g, (-20, 20, -75), (20, 65, 50), rect, 45.0)
    sdf.paint(a, g, (-20, 20, -75), (20, 65, 50), lambda x, y, z: rect(x, y, z) + 5.0, -150.0)
    sdf.paint(a, g, (-8, 28, -6), (14, 46, 30), ellipsoid((4, 37, 12), (8, 7, 16)), -900.0)
    for c, semi in (
        ((-30, -60, 95), (14, 10, 12)),
        ((25, -50, 130), (10, 9, 15)),
        ((45, -20, 160), (12, 12, 9)),
    ):
        lo = tuple(ci - si - 12 for ci, si in zip(c, semi, strict=True))
        hi = tuple(ci + si + 12 for ci, si in zip(c, semi, strict=True))
        sdf.paint(a, g, lo, hi, ellipsoid(c, tuple(si + 6 for si in semi)), 30.0)
        sdf.paint(a, g, lo, hi, ellipsoid(c, semi), -850.0)


def _texture(shape, rng, cell=4):
    """Smooth random texture (unit variance) from coarse noise interpolated up: fat/muscle/marrow grain."""
    coarse = rng.standard_normal(
        [max(2, n // c + 2) for n, c in zip(shape, (1, cell, cell), strict=True)], dtype=np.float32
    )
    coarse = ndimage.gaussian_filter(coarse, 0.8)
    coarse /= coarse.std() + 1e-6
    zoom = [n / m for n, m in zip(shape, coarse.shape, strict=True)]
    return ndimage.zoom(coarse, zoom, order=1, output=np.float32, grid_mode=True, mode="nearest")[
        : shape[0], : shape[1], : shape[2]
    ]


def make_pelvis_phantom(
    size=(512, 512, 120),
    spacing=(0.9765625, 0.9765625, 2.5),
    seed: int = 0,
    center=DEFAULT_CENTER_LPS,
    scale: float = 1.0,
    noise_hu: float = 6.0,
) -> sitk.Image:
    """Pelvis phantom as a float32 HU image in LPS, identity direction, image centre at ``center``.

    ``scale`` shrinks the anatomy (e.g. 0.55 for small test grids that cannot hold a 35 cm pelvis).
    Deterministic for a given ``seed``; the texture and noise are the only random parts.
    """
    size = tuple(int(n) for n in size)
    spacing = tuple(float(s) for s in spacing)
    origin = tuple(c - (n - 1) / 2 * s for c, n, s in zip(center, size, spacing, strict=True))
    g = Grid(size, spacing, origin, anatomy_center(center, scale), scale)
    a = np.full(size[::-1], -1000.0, np.float32)
    _soft_tissue(a, g)
    bone = np.full(a.shape, 1e3, np.float32)
    for lo, hi, f in _bones():
        sdf.union_into(bone, g, lo, hi, f)
    rng = np.random.default_rng(seed)
    tex = _texture(a.shape, rng)
    outer = g.blend(bone)
    inner = g.blend(bone + CORTEX_MM)
    body = a > -900
    a += outer * (CORTICAL_HU - a)
    a += inner * (TRABECULAR_HU + 45.0 * tex - a)
    a += np.where(body, 8.0 * tex, 0.0)
    sdf.paint(a, g, (-44, 4, -16), (-32, 20, 0), sphere((-38, 12, -8), 3.0), 700.0)  # a phlebolith
    if noise_hu:
        a += noise_hu * rng.standard_normal(a.shape, dtype=np.float32)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img
