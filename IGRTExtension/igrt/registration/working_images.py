"""The planning and daily images as the rigid metric sees them: cropped, resampled, high-passed.

Speed comes from working only where it matters: both images are cropped to the region of interest
(plus the capture margin) and resampled to a common working spacing, so the cost does not grow with
the size of the input volumes. ``WorkingImages`` prepares them once per match and shares the work
between its stages (bone, then soft tissue).
"""

from __future__ import annotations

import copy

import numpy as np
import SimpleITK as sitk

from igrt.image_grid import index_to_lps_matrix, same_grid
from igrt.registration.fourier import fast_length
from igrt.registration.fourier import fft as _fft
from igrt.volume import as_float32


def box_index_bounds(image: sitk.Image, center, size_mm, margin_mm: float = 0.0):
    """Index bounds [lo, hi) of ``image`` covering an axis-aligned LPS box (clamped), or None if it misses."""
    half = np.asarray(size_mm, float) / 2.0 + margin_mm
    c = np.asarray(center, float)
    corners = np.array(
        [
            [c[0] + sx * half[0], c[1] + sy * half[1], c[2] + sz * half[2]]
            for sx in (-1, 1)
            for sy in (-1, 1)
            for sz in (-1, 1)
        ]
    )
    idx = np.array([image.TransformPhysicalPointToContinuousIndex(tuple(p)) for p in corners])
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(image.GetSize()))
    if np.any(hi - lo < 2):
        return None
    return lo, hi


def crop_box(image: sitk.Image, center, size_mm, margin_mm: float = 0.0) -> sitk.Image:
    """Crop ``image`` to the index bounds covering an axis-aligned LPS box (clamped to the image)."""
    bounds = box_index_bounds(image, center, size_mm, margin_mm)
    if bounds is None:
        return None
    return _crop_index(image, *bounds)


def resample_to_spacing(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Anti-aliased resampling to an isotropic working spacing (never finer than the image's own).

    A reduction by an integer factor of 2 or more is a block average (cheap, and the right anti-aliasing
    for it); what remains is a Gaussian pre-smoothing when it exceeds 1.6× and linear interpolation.
    """
    old_sp = np.array(image.GetSpacing())
    new_sp = np.maximum(old_sp, spacing_mm)
    blocks = np.floor(new_sp / old_sp + 1e-6).astype(int)
    if np.any(blocks > 1):
        image = sitk.BinShrink(image, [int(b) for b in blocks])
        old_sp = np.array(image.GetSpacing())
    if np.allclose(new_sp, old_sp):
        return as_float32(image)
    sigma = np.sqrt(np.maximum(new_sp**2 - old_sp**2, 0.0)) / 2.355
    smoothed = image
    # Below a 1.6× reduction linear interpolation aliases little; skip the (costly) pre-smoothing.
    if np.any(new_sp / old_sp > 1.6):
        smoothed = sitk.SmoothingRecursiveGaussian(image, [float(max(s, 1e-3)) for s in sigma])
    size = np.maximum(np.round(np.array(image.GetSize()) * old_sp / new_sp).astype(int), 2)
    return sitk.Resample(
        smoothed,
        [int(s) for s in size],
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        [float(s) for s in new_sp],
        image.GetDirection(),
        0.0,
        sitk.sitkFloat32,
    )


def daily_field_of_view_mask(
    daily: sitk.Image, margin_mm: float, axial_margin_mm: float | None = None
) -> sitk.Image:
    """Mask of the daily image's reliable field of view: a cylinder inscribed in its axial extent.

    Cone-beam CT reconstructs a cylinder (axis along the scanner rotation axis, the image's third
    axis); corners and the truncated rim carry artefacts, so we keep ``margin_mm`` away from them, and
    ``axial_margin_mm`` (default: ``margin_mm``) from its axial ends.
    """
    size = np.array(daily.GetSize())
    sp = np.array(daily.GetSpacing())
    half = (size - 1) * sp / 2.0
    radius = min(half[0], half[1]) - margin_mm
    zi = np.arange(size[2]) * sp[2] - half[2]
    yi = np.arange(size[1]) * sp[1] - half[1]
    xi = np.arange(size[0]) * sp[0] - half[0]
    inside_z = np.abs(zi) <= half[2] - (margin_mm if axial_margin_mm is None else axial_margin_mm)
    r2 = yi[:, None] ** 2 + xi[None, :] ** 2
    arr = np.zeros(size[::-1], np.uint8)
    arr[inside_z] = r2 <= radius**2  # the same disk on every slice inside the axial extent
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(daily)
    return mask


def block_shrink(image: sitk.Image, target_mm: float) -> sitk.Image:
    """Block-average ``image`` towards voxels of about ``target_mm`` (cheap anti-aliased down-sampling)."""
    factors = [max(1, int(target_mm / sp)) for sp in image.GetSpacing()]
    if all(f == 1 for f in factors):
        return image
    return sitk.BinShrink(image, factors)


#: The local mean's grid, in units of its sigma: blocks of 0.75 sigma widen the Gaussian by 2 % (a box
#: of width b has a sigma of b/√12) and its 1.5 mm working voxels shrink 3 × 3 × 3 at the bone stage's
#: 6 mm (0.5 sigma: 2 × 2 × 2, the smoothing then costs 3.4 × as much). Bench (6 cases of
#: bench/run_anatomy_bench.py, auto): the same errors to 0.001 mm on 5, 0.468 mm on abdo_07_gas either
#: way; 1 sigma: abdo_07_gas 0.556 mm.
MEAN_GRID_SIGMA = 0.75


def _block_means(image: sitk.Image, weight: sitk.Image, block_mm: float) -> tuple[sitk.Image, sitk.Image]:
    """Block averages of w·I and of w over blocks of about ``block_mm``."""
    return block_shrink(image * weight, block_mm), block_shrink(weight, block_mm)


def _local_mean(image: sitk.Image, weight: sitk.Image, sigma_mm: float, block_means=None) -> sitk.Image:
    """Weighted Gaussian local mean Σw·I / Σw, on a coarse grid of ``MEAN_GRID_SIGMA`` × sigma voxels.

    The mean is smooth at the scale of ``sigma_mm``, so such a grid represents it well and keeps this
    cheap; the caller interpolates it onto the grid it needs. ``block_means``: :func:`_block_means` on
    that grid when the caller has them.
    """
    wi, w = block_means or _block_means(image, weight, MEAN_GRID_SIGMA * sigma_mm)
    sigma_voxels = sigma_mm / np.asarray(w.GetSpacing(), float)
    num, den = gaussian_zero_padded(
        np.stack([sitk.GetArrayViewFromImage(wi), sitk.GetArrayViewFromImage(w)]), sigma_voxels
    )
    mean = sitk.GetImageFromArray((num / np.maximum(den, 1e-3)).astype(np.float32))
    mean.CopyInformation(w)
    return mean


def gaussian_zero_padded(arrays: np.ndarray, sigma_voxels) -> np.ndarray:
    """Gaussian smoothing (sigma per axis x, y, z in voxels) of a stack of (z, y, x) arrays, zero outside
    them: each array padded by 6 sigma of zeros and filtered by the Gaussian's transfer function
    exp(−2π²σ²f²) with one FFT (what wraps around from the far edge is weighted exp(−18) = 2e-8).

    For a normalised convolution (Σw·I and Σw smoothed alike) zero outside is its own definition: outside
    the image there is no weight. One FFT of both is a quarter of the time of two recursive Gaussians
    (SimpleITK's: 3 ms for a 54 × 49 × 44 grid, this 1.5 ms together).
    """
    sigma_zyx = np.asarray(sigma_voxels, float)[::-1]
    shape = arrays.shape[1:]
    padded = [fast_length(int(n + np.ceil(6 * s))) for n, s in zip(shape, sigma_zyx, strict=True)]
    spectrum = _fft.rfftn(arrays, padded, axes=(1, 2, 3))
    for axis, (n, s) in enumerate(zip(padded, sigma_zyx, strict=True)):
        f = _fft.rfftfreq(n) if axis == 2 else _fft.fftfreq(n)
        shape_b = [1, 1, 1, 1]
        shape_b[axis + 1] = len(f)
        spectrum *= np.exp(-2.0 * np.pi**2 * s**2 * f**2).reshape(shape_b)
    out = _fft.irfftn(spectrum, padded, axes=(1, 2, 3))
    return out[:, : shape[0], : shape[1], : shape[2]]


#: Gas reads below this in both images (HU): bowel gas is −1000 in the CT and −1000 × scale + offset
#: (0.88–0.96, −25 to −70 HU) in the simulated CBCTs; soft tissue reads −25 to −340 in their body, down
#: to about −600 in the cupped slices at the cone's ends (the low-dose abdo_05: these are not enclosed,
#: below, because the field of view's end opens them).
GAS_HU = -500.0
#: The blocks the enclosed gas is found on (mm): the bone stage's local-mean grid (``MEAN_GRID_SIGMA``
#: × 6 mm); a pocket is found when one block of it averages below ``GAS_HU``.
GAS_BLOCK_MM = 4.5


def enclosed_gas_blocks(
    image: sitk.Image, valid: sitk.Image, block_mm: float = GAS_BLOCK_MM, block_means=None
) -> sitk.Image:
    """Blocks of about ``block_mm`` of ``image`` (HU) that hold gas enclosed in the body (uint8 0/1 on the
    block-shrunk grid), grown by one block so that a pocket's partial-volume rim is in.

    ``valid`` (float32 0/1 on ``image``'s grid): the daily field of view (on the planning image: mapped
    through the transform). A block is body when at least half of it is valid and its valid voxels average
    ``GAS_HU`` or more; gas blocks are the valid non-body blocks not connected (faces, in 3-D) to the
    image's border through non-body blocks. A block less than half valid is never body: the field of
    view's edge opens the body, it never closes it, so air outside the patient inside the field of view,
    a pocket the field of view cuts and the cupped slices at the cone's ends stay out. ``block_means``:
    :func:`_block_means` of ``image`` and ``valid`` on these blocks when the caller has them.
    """
    wi_img, w_img = block_means or _block_means(image, valid, block_mm)  # named: views must not outlive them
    wi, w = sitk.GetArrayViewFromImage(wi_img), sitk.GetArrayViewFromImage(w_img)
    inside = w >= 0.5
    body = inside & (wi >= GAS_HU * w)
    gas = _enclosed(~body) & inside
    out = sitk.GetImageFromArray((_grown_by_one(gas) & inside).astype(np.uint8))
    out.CopyInformation(w_img)
    return out


def _enclosed(mask: np.ndarray) -> np.ndarray:
    """The voxels of ``mask`` (z, y, x) whose face-connected component does not touch the array's border:
    the holes :func:`scipy.ndimage.binary_fill_holes` would fill (SimpleITK: stock Slicer has no SciPy)."""
    labels_image = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)))
    labels = sitk.GetArrayViewFromImage(labels_image)
    touching = np.zeros(int(labels.max()) + 1, bool)
    touching[0] = True  # not in the mask
    for axis in range(3):
        touching[np.take(labels, [0, -1], axis=axis)] = True
    return ~touching[labels]


def _grown_by_one(mask: np.ndarray) -> np.ndarray:
    """``mask`` dilated by one voxel along every axis and diagonal (a 3 × 3 × 3 box, one axis at a time)."""
    out = mask.copy()
    for axis in range(mask.ndim):
        lo = [slice(None)] * mask.ndim
        hi = [slice(None)] * mask.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        grown = out.copy()
        grown[tuple(lo)] |= out[tuple(hi)]
        grown[tuple(hi)] |= out[tuple(lo)]
        out = grown
    return out


def gas_keep(image: sitk.Image, blocks: sitk.Image) -> sitk.Image | None:
    """float32 weights on a sub-grid of ``image``'s (the gas blocks' bounding box): 0 at its voxels below
    ``GAS_HU`` in a gas block of ``blocks`` (:func:`enclosed_gas_blocks`, a grid with the same axes), 1
    elsewhere; None when there are none. Only the voxels in that box are looked at, and the weights are
    that box's only (:func:`_weighted`): a few ms for a CBCT."""
    arr = sitk.GetArrayViewFromImage(blocks)
    if not arr.any():
        return None
    direction = np.reshape(image.GetDirection(), (3, 3))
    if not np.allclose(direction, np.reshape(blocks.GetDirection(), (3, 3)), atol=1e-6):
        raise ValueError("the gas blocks' grid is not aligned with the image's")
    # The nearest block of every voxel along each axis (x, y, z; the two grids share their axes).
    to_blocks = np.linalg.inv(index_to_lps_matrix(blocks)) @ index_to_lps_matrix(image)  # index → index
    nearest = [
        np.rint(to_blocks[a, a] * np.arange(n) + to_blocks[a, 3]).astype(int)
        for a, n in enumerate(image.GetSize())
    ]
    # Array order (z, y, x): the voxels whose block lies in the gas blocks' bounding box, per axis.
    spans = [np.flatnonzero(arr.any(axis=tuple(b for b in range(3) if b != a))) for a in range(3)]
    ranges = [np.flatnonzero((k >= s[0]) & (k <= s[-1])) for k, s in zip(nearest[::-1], spans, strict=True)]
    if any(r.size == 0 for r in ranges):
        return None
    box = tuple(slice(r[0], r[-1] + 1) for r in ranges)
    k = [n[b] for n, b in zip(nearest[::-1], box, strict=True)]
    gas = arr[k[0]][:, k[1]][:, :, k[2]] > 0
    gas &= sitk.GetArrayViewFromImage(image)[box] < GAS_HU
    if not gas.any():
        return None
    keep = sitk.GetImageFromArray((~gas).astype(np.float32))
    keep.SetSpacing(image.GetSpacing())
    keep.SetDirection(image.GetDirection())
    keep.SetOrigin(image.TransformIndexToPhysicalPoint([int(b.start) for b in box[::-1]]))
    return keep


def high_pass(
    image: sitk.Image,
    sigma_mm: float,
    valid: sitk.Image | None = None,
    out: sitk.Image | None = None,
    image_on_out: sitk.Image | None = None,
    keep: sitk.Image | None = None,
    leave_out_gas: bool = False,
) -> sitk.Image:
    """Image minus its local mean (Gaussian ``sigma_mm``), the mean taken only over ``valid`` voxels
    (a mask: voxels > 0 are valid; float32 is taken as 0/1 weights as it is, without a cast).

    Cone-beam CT has smooth shading (cupping, scatter) and an offset HU scale; a high-pass keeps the
    edges that carry the alignment and drops both. Normalised convolution keeps the truncated field of
    view's outside from bleeding in; outside ``valid`` the result is 0. With ``out`` (a grid inside the
    image) the result is made on that grid only, the mean still taken over the whole image: the image
    is then just the surrounding anatomy the mean needs. ``image_on_out``: :func:`on_grid` of the image
    onto ``out`` when the caller has it already (it does not depend on ``valid``). ``keep``: float32
    weights of the result on its grid (:func:`gas_keep`: 0 at the gas enclosed in the body);
    ``leave_out_gas``: find those here (:func:`enclosed_gas_blocks`, from the mean's own block averages
    when its blocks are the gas blocks' size: the bone stage's 6 mm).
    """
    img = as_float32(image)
    if valid is None:
        w = sitk.Image(img.GetSize(), sitk.sitkFloat32) + 1.0
        w.CopyInformation(img)
    else:
        w = valid if valid.GetPixelID() == sitk.sitkFloat32 else sitk.Cast(valid > 0, sitk.sitkFloat32)
    means = _block_means(img, w, MEAN_GRID_SIGMA * sigma_mm)
    mean = _local_mean(img, w, sigma_mm, means)
    gas = None
    if leave_out_gas and keep is None:
        shared = means if np.isclose(MEAN_GRID_SIGMA * sigma_mm, GAS_BLOCK_MM) else None
        gas = enclosed_gas_blocks(img, w, GAS_BLOCK_MM, shared)
    if out is not None:
        img = on_grid(img, out) if image_on_out is None else image_on_out
        w = sitk.Resample(w, out, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0, sitk.sitkFloat32)
    if gas is not None:
        keep = gas_keep(img, gas)
    mean = sitk.Resample(mean, img, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32, True)
    return (img - mean) * (w if keep is None else _weighted(w, keep))  # float32 already


def _weighted(image: sitk.Image, weights: sitk.Image) -> sitk.Image:
    """``image`` times ``weights`` where these are given (a sub-grid of its voxels), as it is elsewhere."""
    index = [int(round(v)) for v in image.TransformPhysicalPointToContinuousIndex(weights.GetOrigin())]
    part = sitk.RegionOfInterest(image, weights.GetSize(), index) * weights
    return sitk.Paste(image, part, part.GetSize(), [0, 0, 0], index)


def on_grid(image: sitk.Image, grid: sitk.Image) -> sitk.Image:
    """``image`` linearly interpolated onto ``grid``'s voxels (float32; 0 outside)."""
    return sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def extent_corners(image: sitk.Image) -> np.ndarray:
    """The 8 corners (voxel centres, LPS mm) of ``image``'s extent, 8 × 3."""
    n = np.array(image.GetSize()) - 1.0
    return np.array(
        [
            image.TransformContinuousIndexToPhysicalPoint([i * n[0], j * n[1], k * n[2]])
            for i in (0, 1)
            for j in (0, 1)
            for k in (0, 1)
        ]
    )


def mirrored_header(image: sitk.Image, axis_lps, point_lps) -> sitk.Image:
    """``image`` mirrored across the plane through ``point_lps`` (LPS mm) normal to ``axis_lps``, by its header:
    the same voxels, direction R·D and origin R·(o − p) + p with R = I − 2nnᵀ (a left-handed grid, no
    resampling). Voxel i then lies at R·(o + D·S·i − p) + p: exactly the mirror of where it lay."""
    n = np.asarray(axis_lps, float) / np.linalg.norm(axis_lps)
    r = np.eye(3) - 2.0 * np.outer(n, n)
    p = np.asarray(point_lps, float)
    out = sitk.Image(image)  # SimpleITK copies on write: the voxels are shared until one side changes
    out.SetDirection([float(v) for v in (r @ np.reshape(image.GetDirection(), (3, 3))).ravel()])
    out.SetOrigin([float(v) for v in r @ (np.asarray(image.GetOrigin(), float) - p) + p])
    return out


def _largest_move_mm(a: sitk.Transform, b: sitk.Transform, image: sitk.Image) -> float:
    """Largest distance between where ``a`` and ``b`` send the corners of ``image``'s extent."""
    return max(
        float(np.linalg.norm(np.subtract(a.TransformPoint(p), b.TransformPoint(p))))
        for p in extent_corners(image)
    )


#: Features kept per wide crop for reuse with the same field of view (``WorkingImages._features_for``).
FEATURES_KEPT = 4
#: The daily field of view's rim left out of the samples (mm; :func:`daily_field_of_view_mask`).
FOV_MARGIN_MM = 8.0
#: The high-passes (sigma, mm) whose features leave the enclosed gas out (:func:`gas_keep`): the bone
#: stage's 6 mm. The soft stage's 12 mm with it (bench/run_anatomy_bench.py, ``soft`` alone, 19 cases):
#: the same on the abdomen but for abdo_07_gas, refused before (correlation below the floor), 1.06 mm /
#: 0.92° (flagged) with it; the pelvis 0.133 / 0.193 mm → 0.125 / 0.189 mm, 0.145° → 0.163° worst; ``auto``
#: the same on all 19 (its soft refinement is rejected on all of them). No gain: left as it was.
GAS_UP_TO_MM = 6.0


class WorkingImages:
    """Both images prepared for the metric, once per match; the stages take crops of what is prepared.

    Cropping, resampling and the high-pass cost as much as a stage's optimisation. A later stage (soft
    tissue after bone) whose box lies inside what an earlier stage prepared takes a crop of it, so its
    high-pass is taken with more surrounding anatomy, never less, on both images alike.

    The planning features are high-passed consistently with the daily image: both local means must
    average over the same anatomy, beyond the box faces (a wider planning crop, 2.5 sigma) and only
    inside the daily field of view, mapped onto the planning grid through the current transform.
    Otherwise the two high-passed images differ systematically at the edges and bias the match towards
    the transform the features were made with. The features are remade when the transform has moved
    the wide crop's corners by half a working voxel or more.

    ``capture_margin_mm`` is how far beyond its box a region may land in the daily image; the high-pass
    context (2.5 sigma) may be wider, and is then read but not returned.

    Bowel gas comes and goes between the planning CT and the treatment day; its pockets are the strongest
    features of a high-passed abdomen (−1000 HU against tissue), so a pocket that moved pulls the match.
    The bone stage's features are 0 at the gas enclosed in the body (:func:`enclosed_gas_blocks`, found
    once per prepared image: the daily image's context, the planning image's wide crop through the first
    field of view it is asked with; :func:`gas_keep`). Bench (bench/run_anatomy_bench.py, 19 cases, auto,
    at 77d6181): abdo_07_gas 0.219 mm / 0.170° (flagged) → 0.141 mm / 0.055° (not flagged, bound 0.51 mm /
    0.36°); the abdomen's worst angle 0.170° → 0.118°; the other 18 cases within 0.002 mm and 0.001°. The
    gas left out of the local mean instead (the gas voxels keeping a value, against the mean of the tissue
    around them) made abdo_07_gas worse, 0.53–0.73 mm (at 04318f8, 0.282 mm without): the moved pockets'
    own voxels, stronger still, are what pull. Cost: 9–20 ms CPU a match (1–3.5 %; paired runs +2.2 %).
    """

    def __init__(
        self,
        planning: sitk.Image,
        daily: sitk.Image,
        spacing_mm: float,
        high_pass_mm: float,
        capture_margin_mm: float,
        fov: sitk.Image | None = None,
        contexts: dict | None = None,
        sample_fov: sitk.Image | None = None,
    ):
        self.planning, self.daily = planning, daily
        self.spacing_mm, self.sigma, self.capture_margin_mm = spacing_mm, high_pass_mm, capture_margin_mm
        self.context_mm = 2.5 * high_pass_mm  # what the high-pass's local mean reaches
        self.gas = 0 < high_pass_mm <= GAS_UP_TO_MM  # the enclosed gas is left out of the features
        # ``fov``: the daily image's field-of-view mask when another preparation of it made it already
        self.fov = daily_field_of_view_mask(daily, margin_mm=FOV_MARGIN_MM) if fov is None else fov
        # Where the metric's samples may lie: the field of view kept the daily interpolant's reach (two
        # working voxels) farther from its axial ends, beyond which the daily image is 0 (rigid.stage_images).
        self.sample_fov = (
            daily_field_of_view_mask(daily, FOV_MARGIN_MM, FOV_MARGIN_MM + 2.0 * spacing_mm)
            if sample_fov is None
            else sample_fov
        )
        self._moving = None  # (lo, hi, image): index bounds in ``daily`` and the prepared image
        self._wide = None  # (lo, hi, image): index bounds in ``planning`` and the wide working crop
        self._features = None  # (transform, wide crop, fixed grid, features) last made
        self._fixed: dict = {}  # box → planning working image (see ``fixed``)
        self._kept: dict = {}  # key → what was made once for it (see ``once``); mirrored copies share it
        self._mirror = None  # (axis, point) when this is another's images mirrored (see ``mirrored``)
        # id(daily image) → (lo, hi, context, weights, image): the daily image resampled at the working
        # spacing and its field-of-view weights, shared with ``another_high_pass``'s images (see ``_context``)
        self._contexts = {} if contexts is None else contexts

    @property
    def daily_spacing_mm(self) -> float:
        """The daily image's working spacing: the working spacing (``resample_to_spacing`` keeps an axis
        that is coarser at its own), whatever the planning image's voxels.

        The metric samples the planning grid and interpolates the daily image; on a grid as coarse as a
        3 mm CT's, linear interpolation smooths by an amount that varies with the sub-voxel offset and
        pulls the match towards grid-aligned positions. Bench (bench/run_anatomy_bench.py, bone alone):
        the real abdomen (3 mm CT, 1.25 mm CBCT) with the daily image at the CT's 3 mm 0.121 mm median /
        0.468 worst, at 1.5 mm 0.075 / 0.282; TG-119 (3 × 3 × 2.5 mm) 0.106 → 0.068 mm median.
        """
        return self.spacing_mm

    def once(self, key, make, *inputs):
        """``make()`` the first time ``key`` is asked, the same result after: what two users of one match
        (the sanity checks, then the stage) would otherwise make twice.

        ``key`` must name everything the result depends on; images and regions in it by ``id``, and those
        objects given as ``inputs``: they are kept with the result, so that no other object takes their id.
        """
        if key not in self._kept:
            self._kept[key] = (make(), inputs)
        return self._kept[key][0]

    def kept(self, key):
        """What :meth:`once` made for ``key``, or None."""
        return self._kept[key][0] if key in self._kept else None

    def moving_level(self, moving: sitk.Image, factor: int, sigma_mm: float, make) -> sitk.Image:
        """``make(moving)``, a pyramid level of the daily image ``moving``, made once per image and level.

        A mirror hypothesis's daily image is the image as given mirrored by its header, and so is its
        level: the level made for the same voxels on the unmirrored grid (by the image as given, whose
        levels these copies share) is taken, mirrored by its header, instead of smoothing again.
        """
        key = ("moving level", id(moving), factor, sigma_mm)
        if self.kept(key) is None and self._mirror is not None:
            axis, point = self._mirror
            made = self._level_of(mirrored_header(moving, axis, point), factor, sigma_mm)
            if made is not None:
                return self.once(key, lambda: mirrored_header(made, axis, point), moving)
        level = self.once(key, lambda: make(moving), moving)
        levels = self.once(("moving levels",), list)  # [(image, factor, sigma, level)]
        if not any(entry[0] is moving and entry[1:3] == (factor, sigma_mm) for entry in levels):
            levels.append((moving, factor, sigma_mm, level))
        return level

    def _level_of(self, image: sitk.Image, factor: int, sigma_mm: float) -> sitk.Image | None:
        """A level made already for an image with ``image``'s grid (to 1e-6 mm) and voxels, or None."""
        for made, f, s, level in self.kept(("moving levels",)) or []:
            if (
                (f, s) == (factor, sigma_mm)
                and made.GetPixelID() == image.GetPixelID()
                and same_grid(made, image, 1e-6, 1e-9)
            ):
                if np.array_equal(sitk.GetArrayViewFromImage(made), sitk.GetArrayViewFromImage(image)):
                    return level
        return None

    def fixed(self, center_lps, size_mm) -> sitk.Image | None:
        """The planning image over the box at the working spacing (raw HU), or None outside it.

        The same box gives the same image object (kept), so that what is made for it (the features) is
        reused by whoever asks next: the sanity checks, then the stage.
        """
        key = (tuple(np.round(center_lps, 6)), tuple(np.round(size_mm, 6)))
        if key not in self._fixed:
            crop = crop_box(self.planning, center_lps, size_mm)
            self._fixed[key] = None if crop is None else resample_to_spacing(crop, self.spacing_mm)
        return self._fixed[key]

    def moving(self, center_daily, size_mm) -> sitk.Image:
        """The daily image over the box (daily LPS) grown by the capture margin, high-passed."""
        bounds = box_index_bounds(self.daily, center_daily, size_mm, self.capture_margin_mm)
        if bounds is None:
            raise ValueError("the region of interest does not overlap the daily image")
        if self._moving is not None and _contains(self._moving, bounds):
            return crop_box(self._moving[2], center_daily, size_mm, self.capture_margin_mm)
        lo, hi = bounds
        if self.sigma <= 0:
            moving = resample_to_spacing(_crop_index(self.daily, lo, hi), self.daily_spacing_mm)
        else:
            context, valid = self._context(
                center_daily, size_mm, max(self.capture_margin_mm, self.context_mm)
            )
            out = crop_box(context, center_daily, size_mm, self.capture_margin_mm)
            out = None if out.GetSize() == context.GetSize() else out
            moving = high_pass(context, self.sigma, valid, out, leave_out_gas=self.gas)
        self._moving = (lo, hi, moving)
        return moving

    def _context(self, center_daily, size_mm, margin_mm: float):
        """(daily image, 0/1 float32 field-of-view weights) over the box grown by ``margin_mm``, at the working
        spacing: a crop of what was resampled already for this daily image (by this match's other high-pass:
        the soft-tissue stage's box inside the bone stage's) when that holds the box, else made (and kept).

        Resampling the daily image and its field of view cost 21 and 13 ms on the real abdomen's bone box;
        a crop of them 1 ms. The crop keeps the first resampling's grid, so a later stage's voxels may lie
        up to half a voxel from where a fresh resampling of its own box would put them.
        """
        bounds = box_index_bounds(self.daily, center_daily, size_mm, margin_mm)
        made = self._contexts.get(id(self.daily))
        if made is not None and _contains(made, bounds):
            return tuple(crop_box(img, center_daily, size_mm, margin_mm) for img in made[2:4])
        context = resample_to_spacing(_crop_index(self.daily, *bounds), self.daily_spacing_mm)
        valid = sitk.Resample(  # 0/1 weights for the high-pass (float32: no cast there)
            self.fov, context, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkFloat32
        )
        self._contexts[id(self.daily)] = (*bounds, context, valid, self.daily)  # the image keeps its id
        return context, valid

    def features(self, fixed: sitk.Image, transform: sitk.Transform) -> sitk.Image:
        """The planning image on ``fixed``'s grid as the metric sees it, at ``transform`` (planning → daily)."""
        if self.sigma <= 0:
            return fixed
        wide = self._wide_around(fixed)
        last = self._features
        if (
            last is not None
            and last[1] is wide
            and last[2] is fixed
            and _largest_move_mm(last[0], transform, wide) < self.spacing_mm / 2
        ):
            return last[3]
        # The field of view as the high-pass's 0/1 weights (float32: no cast there).
        wide_fov = sitk.Resample(self.fov, wide, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkFloat32)
        features = self._features_for(wide, fixed, wide_fov)
        self._features = (sitk.Euler3DTransform(transform), wide, fixed, features)
        return features

    def _features_for(self, wide: sitk.Image, fixed: sitk.Image, wide_fov: sitk.Image) -> sitk.Image:
        """The high-passed planning features through this field of view on the wide crop: made once per
        distinct field of view (kept: ``FEATURES_KEPT``). A mirror hypothesis's field of view at the start
        is often voxel for voxel the image's (a cylinder about the isocenter, mirrored through it)."""
        # The planning image on the fixed grid does not depend on the transform: made once for all.
        on_fixed = self.once(("on grid", id(wide), id(fixed)), lambda: on_grid(wide, fixed), wide, fixed)
        made = self.once(("features", id(wide), id(fixed)), list, wide, fixed)  # [(count, fov, features)]
        view = sitk.GetArrayViewFromImage(wide_fov)
        count = int(np.count_nonzero(view))
        for n, fov, features in made:
            if n == count and np.array_equal(sitk.GetArrayViewFromImage(fov), view):
                return features
        keep = None
        if self.gas:  # found once per crop, through the first field of view it is asked with
            blocks = self.once(("gas", id(wide)), lambda: enclosed_gas_blocks(wide, wide_fov), wide)
            keep = self.once(("keep", id(wide), id(fixed)), lambda: gas_keep(on_fixed, blocks), wide, fixed)
        features = high_pass(wide, self.sigma, wide_fov, fixed, on_fixed, keep)
        made.append((count, wide_fov, features))
        del made[:-FEATURES_KEPT]
        return features

    def mirrored(self, axis_lps, point_lps) -> WorkingImages:
        """The same match's images with the daily image mirrored across the plane through ``point_lps``
        normal to ``axis_lps`` (daily LPS mm; :func:`mirrored_header`): the planning side is shared, the
        prepared daily image and field of view are this one's, mirrored by their headers (the high-pass
        commutes with a mirror), so a mirror hypothesis costs its optimisation and its features only."""
        out = copy.copy(self)
        out.daily = mirrored_header(self.daily, axis_lps, point_lps)
        out.fov = mirrored_header(self.fov, axis_lps, point_lps)
        out.sample_fov = mirrored_header(self.sample_fov, axis_lps, point_lps)
        if self._moving is not None:
            lo, hi, moving = self._moving
            out._moving = (lo, hi, mirrored_header(moving, axis_lps, point_lps))
        out._features = None  # made through the mirrored field of view
        out._mirror = (np.array(axis_lps, float), np.array(point_lps, float))
        return out

    def another_high_pass(self, high_pass_mm: float, capture_margin_mm: float) -> WorkingImages:
        """The same two images prepared for another high-pass (a later stage's): nothing prepared is
        shared but what does not depend on it, the daily field-of-view masks and the daily image at the
        working spacing (``_context``)."""
        return WorkingImages(
            self.planning,
            self.daily,
            self.spacing_mm,
            high_pass_mm,
            capture_margin_mm,
            self.fov,
            self._contexts,
            self.sample_fov,
        )

    def _wide_around(self, fixed: sitk.Image) -> sitk.Image:
        """The planning crop 2.5 sigma beyond ``fixed``'s extent at the working spacing (kept and reused)."""
        corners = extent_corners(fixed)
        lo_mm, hi_mm = corners.min(axis=0), corners.max(axis=0)
        bounds = box_index_bounds(self.planning, (lo_mm + hi_mm) / 2, hi_mm - lo_mm, 2.5 * self.sigma)
        if self._wide is not None and _contains(self._wide, bounds):
            return self._wide[2]
        lo, hi = bounds
        self._wide = (lo, hi, resample_to_spacing(_crop_index(self.planning, lo, hi), self.spacing_mm))
        return self._wide[2]


def _contains(prepared, bounds) -> bool:
    return bool(np.all(prepared[0] <= bounds[0]) and np.all(bounds[1] <= prepared[1]))


def _crop_index(image: sitk.Image, lo, hi) -> sitk.Image:
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo], [int(v) for v in lo])
