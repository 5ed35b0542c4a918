"""Read the real TG-119 phantom CT (matRad/CORT ``TG119.mat``) as an LPS image with its structures.

Why: a real scanner image (real noise, slab seams, couch, an ion-chamber channel) as planning CT for
known-transform CBCTs, next to the drawn pelvis phantom.

matRad stores ``ct.cubeHU`` indexed (y, x, z): rows follow ``ct.y``, columns ``ct.x``, planes ``ct.z``
— the voxel-centre coordinates in DICOM patient coordinates (LPS, PS3.3 C.7.6.2.1.1); ``ct.x[0],
ct.y[0], ct.z[0]`` equals dicomInfo.ImagePositionPatient, the centre of the first voxel (PS3.3
C.7.6.2.1.1), and the orientation is axial (ImageOrientationPatient 1,0,0,0,1,0). Structures in
``cst`` are 1-based linear indices into that cube in MATLAB column-major order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError


def _load(path):
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise IGRTInputError(f"TG-119 file not found: {path}")
    return loadmat(str(path), struct_as_record=False, squeeze_me=True)


def _geometry(ct):
    """(origin, spacing) in LPS from the voxel-centre coordinate vectors, checked against dicomInfo."""
    axes = [np.asarray(v, float) for v in (ct.x, ct.y, ct.z)]
    origin = tuple(float(a[0]) for a in axes)
    spacing = tuple(float(np.mean(np.diff(a))) for a in axes)
    for a, s in zip(axes, spacing, strict=True):
        if not np.allclose(np.diff(a), s, atol=1e-3):
            raise IGRTInputError("TG-119 cube is not on a regular grid")
    info = getattr(ct, "dicomInfo", None)
    ipp = getattr(info, "ImagePositionPatient", None)
    if ipp is not None and not np.allclose(np.asarray(ipp, float), origin, atol=0.5):
        raise IGRTInputError(f"TG-119 ct.x/y/z start {origin} disagrees with ImagePositionPatient {ipp}")
    iop = getattr(info, "ImageOrientationPatient", None)
    if iop is not None and not np.allclose(np.asarray(iop, float), [1, 0, 0, 0, 1, 0]):
        raise IGRTInputError("TG-119 CT is not axial (ImageOrientationPatient 1,0,0,0,1,0)")
    pos = getattr(info, "PatientPosition", "HFS")
    if str(pos).upper() != "HFS":
        raise IGRTInputError(f"TG-119 CT patient position {pos} is not supported (expected HFS)")
    return origin, spacing


def _to_image(cube_yxz, origin, spacing, dtype=np.float32) -> sitk.Image:
    """(y, x, z) cube → SimpleITK array (z, y, x) with LPS origin/spacing, identity direction."""
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(cube_yxz, (2, 0, 1)).astype(dtype)))
    img.SetOrigin(origin)
    img.SetSpacing(spacing)
    return img


def load_tg119_ct(path) -> sitk.Image:
    """The TG-119 CT as a float32 HU image in LPS (HFS)."""
    ct = _load(path)["ct"]
    origin, spacing = _geometry(ct)
    cube = np.asarray(ct.cubeHU, np.float32)
    if cube.shape != (len(ct.y), len(ct.x), len(ct.z)):
        raise IGRTInputError(f"TG-119 cubeHU shape {cube.shape} does not match ct.y/x/z")
    return _to_image(cube, origin, spacing)


def load_tg119_structures(path) -> dict[str, sitk.Image]:
    """Structure masks (uint8, same grid as :func:`load_tg119_ct`), keyed by name (Core, OuterTarget, BODY)."""
    data = _load(path)
    ct = data["ct"]
    origin, spacing = _geometry(ct)
    shape = (len(ct.y), len(ct.x), len(ct.z))
    out = {}
    for row in np.atleast_2d(data["cst"]):
        idx = np.asarray(row[3]).ravel().astype(np.int64) - 1
        cube = np.zeros(shape, np.uint8)
        cube[np.unravel_index(idx, shape, order="F")] = 1
        out[str(row[1])] = _to_image(cube, origin, spacing, np.uint8)
    return out


#: Steel QA beads taped inside/onto the phantom for known-shift tests (LPS mm from the isocenter).
#: The TG-119 block is uniform along z and wider than a cone-beam field of view, so without such
#: markers a CBCT of it constrains neither the lateral nor the longitudinal shift (as in the clinic,
#: where known-shift phantoms carry BBs). Positions are non-coplanar and inside a 180×160×140 mm box.
QA_BEADS_LPS = ((30.0, -40.0, 40.0), (-45.0, 10.0, -30.0), (10.0, 40.0, 55.0), (-20.0, -20.0, -60.0))


def add_qa_beads(image: sitk.Image, centers_lps=QA_BEADS_LPS, radius_mm=3.0, hu=2500.0) -> sitk.Image:
    """Paint dense spheres with partial-volume edges (4³ supersampling per voxel) into a copy of ``image``."""
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    sp = np.array(image.GetSpacing())
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    offsets = np.stack(np.meshgrid(sub, sub, sub, indexing="ij"), -1).reshape(-1, 3)  # in voxels (i, j, k)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    for c in centers_lps:
        ci = np.array(image.TransformPhysicalPointToContinuousIndex(tuple(float(v) for v in c)))
        reach = np.ceil(radius_mm / sp).astype(int) + 1
        lo = np.maximum(np.round(ci).astype(int) - reach, 0)
        hi = np.minimum(np.round(ci).astype(int) + reach + 1, np.array(image.GetSize()))
        ii, jj, kk = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij")
        idx = np.stack([ii, jj, kk], -1).reshape(-1, 1, 3) + offsets[None]
        d = (idx - ci) * sp @ direction.T
        frac = (np.linalg.norm(d, axis=-1) <= radius_mm).mean(axis=1).reshape(ii.shape)
        block = arr[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]
        f = frac.transpose(2, 1, 0)
        block[...] = block * (1 - f) + hu * f
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out
