"""Rigid 6-DOF intensity registration of a daily image onto the planning CT, restricted to a region.

The planning CT is the fixed image, the daily image the moving one. SimpleITK's optimised transform
maps a fixed (planning) point to the moving (daily) point holding the same anatomy, which is the
DESIGN §3 result direction once the two isocenters are identified (see ``igrt.match``).

Speed comes from working only where it matters: both images are cropped to the region of interest
(plus the capture margin) and resampled to a common working spacing before the multi-resolution
optimisation, so the cost does not grow with the size of the input volumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from . import geometry


@dataclass
class RegistrationSettings:
    """Knobs of the optimiser; the defaults are what the benchmark measures."""

    spacing_mm: float = 1.5
    shrink_factors: tuple = (4, 2, 1)
    smoothing_mm: tuple = (3.0, 1.5, 0.0)
    iterations: int = 120
    learning_rate: float = 1.0
    min_step: float = 2e-3
    relaxation: float = 0.5
    polish: bool = True  # remake the high-passed planning features at the result and re-run the finest level
    samples_per_level: int = 20000
    capture_margin_mm: float = 30.0
    high_pass_mm: float = 12.0  # removes CBCT cupping/shading and HU offsets; 0 switches it off
    search_mm: float = 24.0  # exhaustive coarse translation search (first stage only); 0 switches it off
    seed: int = 1234
    #: first step of a level that starts near the answer (every level but a searched run's first), × learning_rate
    refine_step: float = 0.25


@dataclass
class Region:
    """A region of interest on the planning grid: a box (LPS mm, centre and full size) and an optional mask."""

    center_lps: np.ndarray
    size_mm: np.ndarray
    mask: sitk.Image | None = None  # 0/1 on any grid in planning LPS space; intersected with the box
    intensity_range: tuple | None = None  # (low, high) HU of planning voxels to sample (bone match)
    edges_fraction: float | None = None  # sample only the strongest planning edges (this top fraction)


#: Fewest planning samples a region must offer (a few steel beads of a QA phantom are enough).
MIN_SAMPLES = 300


class NoIntensityBandError(ValueError):
    """The region has (almost) no planning voxels in the requested intensity band (e.g. no bone)."""


@dataclass
class RegistrationOutcome:
    """Optimised rigid transform and the diagnostics needed to judge it."""

    transform: sitk.Euler3DTransform  # planning point -> daily point (daily image coordinates)
    metric_before: float
    metric_after: float
    samples: int
    overlap: float  # fraction of the region's planning samples inside the daily field of view
    iterations: list = field(default_factory=list)
    stop_reason: str = ""


def crop_box(image: sitk.Image, center, size_mm, margin_mm: float = 0.0) -> sitk.Image:
    """Crop ``image`` to the index bounds covering an axis-aligned LPS box (clamped to the image)."""
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
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo], [int(v) for v in lo])


def _resample_to_spacing(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Anti-aliased resampling to an isotropic working spacing (keeps origin and direction)."""
    old_sp = np.array(image.GetSpacing())
    new_sp = np.maximum(old_sp, spacing_mm)
    if np.allclose(new_sp, old_sp):
        return sitk.Cast(image, sitk.sitkFloat32)
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


def daily_field_of_view_mask(daily: sitk.Image, margin_mm: float) -> sitk.Image:
    """Mask of the daily image's reliable field of view: a cylinder inscribed in its axial extent.

    Cone-beam CT reconstructs a cylinder (axis along the scanner rotation axis, the image's third
    axis); corners and the truncated rim carry artefacts, so we keep ``margin_mm`` away from them.
    """
    size = np.array(daily.GetSize())
    sp = np.array(daily.GetSpacing())
    half = (size - 1) * sp / 2.0
    radius = min(half[0], half[1]) - margin_mm
    zi = np.arange(size[2]) * sp[2] - half[2]
    yi = np.arange(size[1]) * sp[1] - half[1]
    xi = np.arange(size[0]) * sp[0] - half[0]
    inside_z = np.abs(zi) <= half[2] - margin_mm
    r2 = yi[:, None] ** 2 + xi[None, :] ** 2
    arr = (inside_z[:, None, None] & (r2 <= radius**2)[None, :, :]).astype(np.uint8)
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(daily)
    return mask


def _grown(arr: np.ndarray, like: sitk.Image, mm: float) -> np.ndarray:
    """Boolean array dilated by about ``mm`` on the grid of ``like``."""
    img = sitk.GetImageFromArray(arr.astype(np.uint8))
    img.CopyInformation(like)
    radius = [max(1, int(round(mm / s))) for s in like.GetSpacing()]
    return sitk.GetArrayViewFromImage(sitk.BinaryDilate(img, radius)) > 0


def _region_samples(fixed: sitk.Image, region: Region) -> np.ndarray:
    """Planning samples of the region on the working grid: box ∩ optional mask ∩ intensity band ∩ edges."""
    arr = np.ones(sitk.GetArrayViewFromImage(fixed).shape, dtype=bool)
    if region.intensity_range is not None:
        lo, hi = region.intensity_range
        f = sitk.GetArrayViewFromImage(fixed)
        # A few mm around the bone so that its edges, which carry the alignment, are sampled.
        arr &= _grown((f >= lo) & (f <= hi), fixed, 3.0)
    if region.edges_fraction is not None:
        # Where the planning image has structure: flat regions only add noise to the metric.
        grad = sitk.GetArrayViewFromImage(sitk.GradientMagnitudeRecursiveGaussian(fixed, 2.0))
        arr &= _grown(grad >= np.quantile(grad, 1.0 - region.edges_fraction), fixed, 3.0)
    if region.mask is not None:
        m = sitk.Resample(region.mask, fixed, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        arr &= sitk.GetArrayViewFromImage(m) > 0
    return arr


def _as_mask(arr: np.ndarray, like: sitk.Image) -> sitk.Image:
    mask = sitk.GetImageFromArray(arr.astype(np.uint8))
    mask.CopyInformation(like)
    return mask


def normalized_correlation(
    fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, mask: sitk.Image
) -> float:
    """Pearson correlation of the two images over the mask (1 = identical up to a linear HU scale)."""
    warped = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, np.nan, sitk.sitkFloat32)
    m = sitk.GetArrayViewFromImage(mask) > 0
    a = sitk.GetArrayViewFromImage(fixed)[m]
    b = sitk.GetArrayViewFromImage(warped)[m]
    ok = np.isfinite(b)
    if ok.sum() < 100:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def _block_shrink(image: sitk.Image, target_mm: float) -> sitk.Image:
    """Block-average ``image`` towards voxels of about ``target_mm`` (cheap anti-aliased down-sampling)."""
    factors = [max(1, int(target_mm / sp)) for sp in image.GetSpacing()]
    if all(f == 1 for f in factors):
        return image
    return sitk.BinShrink(image, factors)


def _local_mean(image: sitk.Image, weight: sitk.Image, sigma_mm: float) -> sitk.Image:
    """Weighted Gaussian local mean Σw·I / Σw, computed on a coarse grid and interpolated back.

    The mean is smooth at the scale of ``sigma_mm``, so a grid of sigma/2 voxels represents it well
    and keeps this cheap; SimpleITK's resampler brings it back to the image grid.
    """
    wi = _block_shrink(image * weight, sigma_mm / 2.0)
    w = _block_shrink(weight, sigma_mm / 2.0)
    num = sitk.SmoothingRecursiveGaussian(wi, sigma_mm)
    den = sitk.SmoothingRecursiveGaussian(w, sigma_mm)
    mean = sitk.Divide(num, sitk.Maximum(den, 1e-3))
    return sitk.Resample(mean, image, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32, True)


def high_pass(image: sitk.Image, sigma_mm: float, valid: sitk.Image | None = None) -> sitk.Image:
    """Image minus its local mean (Gaussian ``sigma_mm``), the mean taken only over ``valid`` voxels.

    Cone-beam CT has smooth shading (cupping, scatter) and an offset HU scale; a high-pass keeps the
    edges that carry the alignment and drops both. Normalised convolution keeps the truncated field of
    view's outside from bleeding in; outside ``valid`` the result is 0.
    """
    img = sitk.Cast(image, sitk.sitkFloat32)
    if valid is None:
        w = sitk.Image(img.GetSize(), sitk.sitkFloat32) + 1.0
        w.CopyInformation(img)
    else:
        w = sitk.Cast(valid > 0, sitk.sitkFloat32)
    return sitk.Cast((img - _local_mean(img, w, sigma_mm)) * w, sitk.sitkFloat32)


def _fft_correlate(a: np.ndarray, b: np.ndarray, shape) -> np.ndarray:
    """Cross-correlation c[u] = Σ a[x]·b[x+u] for all shifts, by FFT (valid part only)."""
    fa = np.fft.rfftn(a, shape, axes=(0, 1, 2))
    fb = np.fft.rfftn(b, shape, axes=(0, 1, 2))
    return np.fft.irfftn(np.conj(fa) * fb, shape, axes=(0, 1, 2))


def coarse_translation_search(
    fixed: sitk.Image,
    moving: sitk.Image,
    mask: sitk.Image,
    initial: sitk.Euler3DTransform,
    search_mm: float,
    spacing_mm: float = 4.0,
) -> np.ndarray:
    """Best translation (LPS mm, to add to ``initial``) by masked normalised cross-correlation over a grid.

    An exhaustive search at a coarse spacing, done with FFTs: it gives the optimiser a start inside
    its basin even for set-up errors of a few centimetres, where gradient descent alone can stall.
    """
    f = _resample_to_spacing(fixed, spacing_mm)
    w = sitk.Resample(mask, f, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    m_pad = int(np.ceil(search_mm / spacing_mm))
    sp = np.array(f.GetSpacing())
    pads = np.ceil(search_mm / sp).astype(int)
    # The moving image on the fixed grid grown by the search margin, through the initial transform.
    ref = sitk.Image([int(n + 2 * p) for n, p in zip(f.GetSize(), pads, strict=True)], sitk.sitkFloat32)
    ref.SetSpacing(f.GetSpacing())
    ref.SetDirection(f.GetDirection())
    ref.SetOrigin(f.TransformContinuousIndexToPhysicalPoint([-float(p) for p in pads]))
    smooth = _block_shrink(moving, spacing_mm / 2.0)  # cheap anti-aliasing before sampling at 4 mm
    g = sitk.Resample(smooth, ref, initial, sitk.sitkLinear, np.nan, sitk.sitkFloat32)
    garr = sitk.GetArrayFromImage(g).astype(np.float64)
    valid = np.isfinite(garr)
    garr[~valid] = 0.0
    warr = sitk.GetArrayFromImage(w).astype(np.float64)
    farr = sitk.GetArrayFromImage(f).astype(np.float64)
    n = warr.sum()
    if n < 50 or m_pad < 1:
        return np.zeros(3)
    t = (farr - (warr * farr).sum() / n) * warr
    shape = garr.shape
    num = _fft_correlate(t, garr, shape)
    s1 = _fft_correlate(warr, garr, shape)
    s2 = _fft_correlate(warr, garr * garr, shape)
    cov = _fft_correlate(warr, valid.astype(np.float64), shape)
    pz, py, px = pads[::-1]
    sl = (slice(0, 2 * pz + 1), slice(0, 2 * py + 1), slice(0, 2 * px + 1))
    var = np.maximum(s2[sl] - s1[sl] ** 2 / n, 1e-9)
    ncc = num[sl] / np.sqrt(var * (t * t).sum())
    ncc[cov[sl] < 0.9 * n] = -np.inf  # shifts where the moving image does not cover the samples
    # Prefer small shifts when the correlation is flat: a gentle penalty on the distance.
    kz, ky, kx = np.indices(ncc.shape)
    dist = np.sqrt(((kx - px) * sp[0]) ** 2 + ((ky - py) * sp[1]) ** 2 + ((kz - pz) * sp[2]) ** 2)
    best = np.unravel_index(np.argmax(ncc - 1e-4 * dist), ncc.shape)
    shift_index = np.array([best[2] - px, best[1] - py, best[0] - pz], float)
    direction = np.array(f.GetDirection()).reshape(3, 3)
    return direction @ (shift_index * sp)


def register_rigid(
    planning: sitk.Image,
    daily: sitk.Image,
    region: Region,
    initial: sitk.Euler3DTransform,
    settings: RegistrationSettings | None = None,
    progress=None,
    search: bool = False,
    rotations: bool = True,
) -> RegistrationOutcome:
    """Optimise a rigid transform (planning → daily points) inside ``region``, starting from ``initial``.

    The metric is normalised cross-correlation: invariant to the daily image's linear HU error and
    cheap; the region keeps CBCT truncation and cupping out of the samples.
    """
    s = settings or RegistrationSettings()
    fixed_crop = crop_box(planning, region.center_lps, region.size_mm)
    if fixed_crop is None:
        raise ValueError("the region of interest lies outside the planning image")
    fixed = _resample_to_spacing(fixed_crop, s.spacing_mm)

    # Crop the daily image to where the region can land within the capture range.
    center_daily = initial.TransformPoint(tuple(float(v) for v in region.center_lps))
    moving_crop = crop_box(daily, center_daily, region.size_mm, s.capture_margin_mm)
    if moving_crop is None:
        raise ValueError("the region of interest does not overlap the daily image")
    moving = _resample_to_spacing(moving_crop, s.spacing_mm)

    fov = daily_field_of_view_mask(daily, margin_mm=8.0)
    region_arr = _region_samples(fixed, region)
    in_fov = sitk.Resample(fov, fixed, initial, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    mask = _as_mask(region_arr & (sitk.GetArrayViewFromImage(in_fov) > 0), fixed)
    n_samples = int(sitk.GetArrayViewFromImage(mask).sum())
    n_region = int(region_arr.sum())
    if n_samples < MIN_SAMPLES:
        if region.intensity_range is not None and n_region < MIN_SAMPLES:
            raise NoIntensityBandError("the clip box holds no planning voxels in the bone intensity range")
        raise ValueError("too few planning voxels of the region fall inside the daily field of view")

    features = _FixedFeatures(planning, region, fov, fixed, s)
    if s.high_pass_mm > 0:
        moving_fov = sitk.Resample(fov, moving, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        moving = high_pass(moving, s.high_pass_mm, moving_fov)

    transform = sitk.Euler3DTransform(initial)
    fixed_f = features(transform)
    before = normalized_correlation(fixed_f, moving, transform, mask)
    if search and s.search_mm > 0:
        shift = coarse_translation_search(fixed_f, moving, mask, transform, s.search_mm)
        r = np.array(transform.GetMatrix()).reshape(3, 3)
        transform.SetTranslation(tuple(float(v) for v in np.array(transform.GetTranslation()) + r @ shift))
        fixed_f = features(transform)

    trace: list = []
    stop = ""
    polish = s.high_pass_mm > 0 and s.polish
    levels = list(zip(s.shrink_factors, s.smoothing_mm, strict=True))
    if polish and len(levels) > 1 and levels[-1] == (1, 0.0):
        levels = levels[:-1]  # the polish pass below is the finest level
    distance = _distance_to_mask(mask) if any(f > 1 for f, _ in levels) else None
    for level, (factor, sigma) in enumerate(levels):
        f_l, m_l, w_l = _level_images(fixed_f, moving, mask, distance, factor, sigma)
        near = level > 0 or not search  # only the first level after the coarse search starts far off
        stop = _optimise_level(f_l, m_l, w_l, transform, s, factor, level, trace, progress, rotations, near)
    if polish:
        # Polish: the planning features depend (at the field-of-view edges) on the transform they were
        # made with; remake them at the nearly converged transform and run the finest level.
        fixed_f = features(transform)
        stop = _optimise_level(
            fixed_f,
            moving,
            mask,
            transform,
            s,
            1,
            len(s.shrink_factors),
            trace,
            progress,
            rotations,
            True,
        )
    after = normalized_correlation(fixed_f, moving, transform, mask)
    return RegistrationOutcome(transform, before, after, n_samples, n_samples / max(n_region, 1), trace, stop)


class _FixedFeatures:
    """The planning image as the metric sees it: raw HU, or high-passed consistently with the daily image.

    Both local means must average over the same anatomy: beyond the box faces (a wider planning crop)
    and only inside the daily field of view, mapped onto the planning grid through the current
    transform. Otherwise the two high-passed images differ systematically at the edges and bias the
    match towards the transform the features were made with.
    """

    def __init__(self, planning, region, fov, fixed, s: RegistrationSettings):
        self.fov, self.fixed, self.sigma = fov, fixed, s.high_pass_mm
        self.wide = None
        if self.sigma > 0:
            margin = 2.5 * self.sigma
            self.wide = _resample_to_spacing(
                crop_box(planning, region.center_lps, region.size_mm, margin), s.spacing_mm
            )

    def __call__(self, transform) -> sitk.Image:
        if self.wide is None:
            return self.fixed
        wide_fov = sitk.Resample(self.fov, self.wide, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        wide_hp = high_pass(self.wide, self.sigma, wide_fov)
        return sitk.Resample(wide_hp, self.fixed, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def _distance_to_mask(mask: sitk.Image) -> sitk.Image:
    """Distance (mm) from each voxel to the nearest voxel of ``mask``; 0 inside it."""
    d = sitk.SignedMaurerDistanceMap(
        mask, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
    )
    return sitk.Maximum(d, 0.0)


def _level_images(fixed, moving, mask, distance, factor: int, sigma_mm: float):
    """Our own pyramid level: smoothed and resampled once (SimpleITK's built-in pyramid re-does it slowly).

    ``distance`` is the distance map of ``mask`` (mm, 0 inside), see ``_distance_to_mask``.
    """
    if factor == 1 and sigma_mm <= 0:
        return fixed, moving, mask
    spacing = fixed.GetSpacing()[0] * factor

    def down(img):
        # Half the reduction by block averaging (cheap), the level's Gaussian on that smaller grid, then
        # linear resampling to the level's voxels.
        small = _block_shrink(img, spacing / 2.0)
        if sigma_mm > 0:
            small = sitk.SmoothingRecursiveGaussian(small, sigma_mm)
        size = [
            max(2, int(round(n * sp / spacing)))
            for n, sp in zip(img.GetSize(), img.GetSpacing(), strict=True)
        ]
        out_spacing = [max(spacing, sp) for sp in img.GetSpacing()]
        return sitk.Resample(
            small,
            size,
            sitk.Transform(),
            sitk.sitkLinear,
            img.GetOrigin(),
            out_spacing,
            img.GetDirection(),
            0.0,
            sitk.sitkFloat32,
        )

    f_l = down(fixed)
    m_l = down(moving)
    # Grow the sample mask by factor × the level's voxel size / 2: coarse levels must see small structures
    # (bone edges, beads) even while the images are still misaligned by several millimetres. One
    # distance map serves every level (a threshold each), cheaper than a ball dilation per level.
    reach_mm = factor * spacing / 2.0
    w_l = sitk.Resample(distance, f_l, sitk.Transform(), sitk.sitkNearestNeighbor, 1e9, sitk.sitkFloat32)
    w_l = sitk.Cast(w_l <= reach_mm, sitk.sitkUInt8)
    return f_l, m_l, w_l


def _optimise_level(
    fixed,
    moving,
    mask,
    transform,
    s: RegistrationSettings,
    factor: int,
    level: int,
    trace: list,
    progress,
    rotations: bool = True,
    near: bool = False,
) -> str:
    """One resolution level of gradient descent on −NCC; updates ``transform`` in place. A level that
    starts ``near`` the answer takes a smaller first step (``refine_step``): a full one overshoots."""
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsCorrelation()
    reg.SetMetricFixedMask(mask)
    n = int(sitk.GetArrayViewFromImage(mask).sum())
    fraction = min(1.0, s.samples_per_level / max(n, 1))
    if fraction < 1.0:
        reg.SetMetricSamplingStrategy(reg.REGULAR)
        reg.SetMetricSamplingPercentage(fraction, s.seed)
    # Gradients at the sample points only: a whole-image gradient filter costs more than the optimisation.
    reg.SetMetricUseFixedImageGradientFilter(False)
    reg.SetMetricUseMovingImageGradientFilter(False)
    reg.SetInterpolator(sitk.sitkLinear)
    # Steps shrink with the level's voxel size: coarse levels stop early, the finest converges finely.
    first = s.learning_rate * factor * (s.refine_step if near else 1.0)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=first,
        minStep=s.min_step * factor,
        numberOfIterations=s.iterations,
        relaxationFactor=s.relaxation,
        gradientMagnitudeTolerance=1e-8,
    )
    # Rotations (radians) against translations (mm): one radian moves a point ~80 mm from the centre.
    reg.SetOptimizerScales([80.0**2, 80.0**2, 80.0**2, 1.0, 1.0, 1.0])
    if not rotations:
        reg.SetOptimizerWeights([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])  # translation-only refinement
    reg.SetInitialTransform(transform, inPlace=True)

    def _on_iteration():
        trace.append((level, reg.GetOptimizerIteration(), reg.GetMetricValue()))
        if progress is not None:
            progress(level, reg.GetOptimizerIteration())

    reg.AddCommand(sitk.sitkIterationEvent, _on_iteration)
    reg.Execute(fixed, moving)
    return reg.GetOptimizerStopConditionDescription()


def euler_from_matrix(matrix_lps, center) -> sitk.Euler3DTransform:
    """A SimpleITK Euler transform equal to the 4×4 ``matrix_lps`` with its centre at ``center``."""
    m = np.asarray(matrix_lps, float)
    t = sitk.Euler3DTransform()
    t.SetCenter(tuple(float(v) for v in center))
    t.SetMatrix(tuple(float(v) for v in m[:3, :3].ravel()))
    c = np.asarray(center, float)
    t.SetTranslation(tuple(float(v) for v in geometry.apply(m, c) - c))
    return t


def matrix_from_transform(t: sitk.Transform) -> np.ndarray:
    """4×4 matrix of a SimpleITK matrix-offset transform (acts on LPS points)."""
    r = np.array(t.GetMatrix()).reshape(3, 3)
    c = np.array(t.GetCenter())
    tr = np.array(t.GetTranslation())
    return geometry.rigid_matrix(r, c + tr - r @ c)
