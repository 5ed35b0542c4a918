"""Read the real abdomen-pelvis patient CT (TotalSegmentator example, ../shared/data) and its targets.

Why: real anatomy (bowel gas, kidneys, bladder, spine, a hip prosthesis, the couch) as planning CT for
known-transform CBCTs, beside the drawn pelvis phantom and the TG-119 block. 122×101×112 voxels at
3 mm, HU. The NIfTI is RAS-stored and SimpleITK reads it as LPS with direction diag(−1, −1, 1); we flip
the first two array axes so the image has the identity direction (exact: the same voxels, no
resampling) like every other planning CT here.

No structure set comes with the image. The targets are ellipsoids drawn by eye on this CT around each
organ (axes along LPS, checked on axial and coronal slices), as a planner would draw a planning
structure; the bladder one is fitted to the region of 0–30 HU it holds (about 490 ml, a full bladder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError

#: Organ ellipsoids of this CT: centre (LPS mm) and semi-axes (mm, along LPS x, y, z).
ORGANS = {
    "kidney_left": ((78.96, -146.32, 316.30), (24.0, 27.0, 45.0)),
    "kidney_right": ((-62.04, -146.32, 322.30), (24.0, 27.0, 45.0)),
    "bladder": ((-2.45, -169.03, 148.01), (44.0, 50.0, 38.0)),
    #: a lumbar vertebral body just above the iliac crests (a bone target)
    "lumbar_vertebra": ((6.96, -137.32, 274.30), (21.0, 18.0, 15.0)),
}
#: Lowest HU kept: the scanner writes −1024 outside its reconstruction circle and a few values below.
MIN_HU = -1024.0


def load_abdomen_ct(path) -> sitk.Image:
    """The abdomen-pelvis CT as a float32 HU image in LPS with the identity direction (HFS)."""
    path = Path(path)
    if not path.is_file():
        raise IGRTInputError(f"abdomen CT not found: {path}")
    img = sitk.ReadImage(str(path), sitk.sitkFloat32)
    d = np.reshape(img.GetDirection(), (3, 3))
    if not np.allclose(np.abs(d), np.eye(3)):
        raise IGRTInputError(f"abdomen CT is not axis-aligned (direction {np.round(d, 3).tolist()})")
    flip = [bool(d[i, i] < 0) for i in range(3)]
    # The new origin is the voxel centre that lies at the lowest coordinate along each flipped axis.
    last = [(n - 1) if f else 0 for n, f in zip(img.GetSize(), flip, strict=True)]
    origin = img.TransformIndexToPhysicalPoint([int(v) for v in last])
    out = sitk.Flip(img, flip, flipAboutOrigin=False)
    out.SetDirection(np.eye(3).ravel().tolist())
    out.SetOrigin(origin)
    return sitk.Maximum(out, MIN_HU)


def organ_ellipsoid_lps(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(centre, semi-axes) in LPS mm of a named target of the abdomen CT."""
    if name not in ORGANS:
        raise IGRTInputError(f"unknown abdomen target {name!r}; known: {', '.join(ORGANS)}")
    c, s = ORGANS[name]
    return np.asarray(c, float), np.asarray(s, float)
