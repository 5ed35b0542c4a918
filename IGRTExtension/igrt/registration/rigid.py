"""Rigid 6-DOF intensity registration of a daily image onto the planning CT, restricted to a region.

The planning CT is the fixed image, the daily image the moving one. SimpleITK's optimised transform
maps a fixed (planning) point to the moving (daily) point holding the same anatomy, which is the
docs/CONVENTIONS.md result direction once the two isocenters are identified (see ``igrt.registration.match``).

Both images are prepared (cropped, resampled, high-passed) by ``igrt.registration.working_images``; this module
runs the coarse search and the multi-resolution optimisation on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from igrt import geometry
from igrt.registration import gauss_newton
from igrt.registration.fourier import fast_length
from igrt.registration.fourier import fft as _fft
from igrt.registration.metric_blocks import pearson
from igrt.registration.working_images import WorkingImages, block_shrink, resample_to_spacing


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
    #: the bone stage's high-pass (mm): removes CBCT cupping/shading and HU offsets; 0 switches it off.
    #: Bone match, bench/run_anatomy_bench.py (bone alone): 12 mm gave the real abdomen 0.18 mm median /
    #: 0.93 worst and the phantom + TG-119 cases 0.081 / 0.102; 8 mm 0.14 / 0.67 and 0.066 / 0.111; 6 mm
    #: 0.12 / 0.47 and 0.058 / 0.115; 4 mm fails (correlation below the floor: too little left to match).
    high_pass_mm: float = 6.0
    #: the soft-tissue stage's high-pass. 12 mm finds the moved prostate to 0.08 mm median, 0.15 worst
    #: after a 12 mm bone stage (0.054 / 0.089 after the 6 mm one)
    #: (bench/run_soft_bench.py; 24 mm: 0.13 / 0.17) and drifts 0.1-0.2 mm on the rigid bench CBCTs
    #: (24 mm: 0.2-0.5 mm). Bone within ~10 mm of the target biases it (Testing/test_match_soft_tissue.py).
    soft_high_pass_mm: float = 12.0
    search_mm: float = 24.0  # exhaustive coarse translation search (first stage only); 0 switches it off
    seed: int = 1234
    #: gradient descent: first step of a level that starts near the answer (every level but a searched
    #: run's first), × learning_rate
    refine_step: float = 0.25
    #: every level is solved by Gauss–Newton on the region's voxel centres (``igrt.registration.gauss_newton``);
    #: False: by SimpleITK's gradient descent. Bench (19 cases, auto): the coarsest level by Gauss–Newton
    #: too gave the same errors to 0.001 mm and 0.001° as gradient descent there
    gauss_newton: bool = True


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
    #: (planning features, prepared daily image, sample mask) as the last level compared them
    final_images: tuple | None = None


def _grown(arr: np.ndarray, like: sitk.Image, mm: float) -> np.ndarray:
    """Boolean array dilated by about ``mm`` on the grid of ``like``."""
    img = sitk.GetImageFromArray(arr.astype(np.uint8))
    img.CopyInformation(like)
    radius = [max(1, int(round(mm / s))) for s in like.GetSpacing()]
    grown = sitk.BinaryDilate(img, radius)  # named: a view of a temporary image would outlive its buffer
    return sitk.GetArrayViewFromImage(grown) > 0


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
        grad = sitk.GetArrayFromImage(sitk.GradientMagnitudeRecursiveGaussian(fixed, 2.0))
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
    return pearson(a[ok], b[ok])


def masked_ncc_maps(farr, warr, movings, pads) -> list[np.ndarray]:
    """Normalised cross-correlation of the fixed samples ``farr`` (weights ``warr``) with each moving image
    at every shift, by FFT (the fixed image's spectra computed once for all).

    ``movings``: [(values, valid)] on the fixed grid grown by ``pads`` voxels (x, y, z order) on each side;
    index k along an axis of a map is a shift of k − pad voxels. −inf where the moving image covers less
    than 90% of the samples.
    """
    n = float(warr.sum())
    t = (farr - (warr * farr).sum() / n) * warr
    shape = movings[0][0].shape
    fast = [fast_length(int(k)) for k in shape]
    axes = (0, 1, 2)
    ft, fw = (np.conj(_fft.rfftn(x, fast, axes=axes)) for x in (t, warr))
    pz, py, px = pads[::-1]
    sl = (slice(0, 2 * pz + 1), slice(0, 2 * py + 1), slice(0, 2 * px + 1))

    def spectrum(b):
        return _fft.rfftn(b, fast, axes=axes)

    def corr(fixed_spectrum, b_spectrum):  # c[u] = Σ a[x]·b[x+u] for the valid shifts
        return _fft.irfftn(fixed_spectrum * b_spectrum, fast, axes=axes)[sl]

    out = []
    for garr, valid in movings:
        g = spectrum(garr)  # shared by the numerator and the moving sum
        num, s1, s2 = corr(ft, g), corr(fw, g), corr(fw, spectrum(garr * garr))
        cov = corr(fw, spectrum(valid.astype(t.dtype)))
        ncc = num / np.sqrt(np.maximum(s2 - s1**2 / n, 1e-9) * float((t * t).sum()))
        ncc[cov < 0.9 * n] = -np.inf  # shifts where the moving image does not cover the samples
        out.append(ncc)
    return out


def coarse_grids(fixed, moving, mask, initial, search_mm: float, spacing_mm: float = 4.0):
    """The coarse search's arrays: (fixed values, weights, moving values, moving valid, pads (x, y, z), grid).

    The fixed image and mask at ``spacing_mm``; the moving image sampled through ``initial`` on that grid
    grown by ``search_mm`` on each side (what :func:`masked_ncc_maps` takes).
    """
    f = resample_to_spacing(fixed, spacing_mm)
    w = sitk.Resample(mask, f, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    sp = np.array(f.GetSpacing())
    pads = np.ceil(search_mm / sp).astype(int)
    # The moving image on the fixed grid grown by the search margin, through the initial transform.
    ref = sitk.Image([int(n + 2 * p) for n, p in zip(f.GetSize(), pads, strict=True)], sitk.sitkFloat32)
    ref.SetSpacing(f.GetSpacing())
    ref.SetDirection(f.GetDirection())
    ref.SetOrigin(f.TransformContinuousIndexToPhysicalPoint([-float(p) for p in pads]))
    smooth = block_shrink(moving, spacing_mm / 2.0)  # cheap anti-aliasing before sampling at 4 mm
    g = sitk.Resample(smooth, ref, initial, sitk.sitkLinear, np.nan, sitk.sitkFloat32)
    garr = sitk.GetArrayFromImage(g).astype(np.float64)
    valid = np.isfinite(garr)
    garr[~valid] = 0.0
    warr = sitk.GetArrayFromImage(w).astype(np.float64)
    farr = sitk.GetArrayFromImage(f).astype(np.float64)
    return farr, warr, garr, valid, pads, f


def coarse_translation_search(
    fixed: sitk.Image,
    moving: sitk.Image,
    mask: sitk.Image,
    initial: sitk.Euler3DTransform,
    search_mm: float,
    spacing_mm: float = 4.0,
    known: tuple | None = None,
) -> np.ndarray:
    """Best translation (LPS mm, to add to ``initial``) by masked normalised cross-correlation over a grid.

    An exhaustive search at a coarse spacing, done with FFTs: it gives the optimiser a start inside
    its basin even for set-up errors of a few centimetres, where gradient descent alone can stall.
    ``known``: (map, pads, grid, weight) that :func:`coarse_search_key`'s maker (the mirror test) already
    made for these inputs.
    """
    if known is None:
        farr, warr, garr, valid, pads, f = coarse_grids(fixed, moving, mask, initial, search_mm, spacing_mm)
        weight = float(warr.sum())
        ncc = masked_ncc_maps(farr, warr, [(garr, valid)], pads)[0] if weight >= 50 else None
    else:
        ncc, pads, f, weight = known
    if weight < 50 or int(np.ceil(search_mm / spacing_mm)) < 1:
        return np.zeros(3)
    sp = np.array(f.GetSpacing())
    pz, py, px = pads[::-1]
    # Prefer small shifts when the correlation is flat: a gentle penalty on the distance.
    kz, ky, kx = np.indices(ncc.shape)
    dist = np.sqrt(((kx - px) * sp[0]) ** 2 + ((ky - py) * sp[1]) ** 2 + ((kz - pz) * sp[2]) ** 2)
    best = np.unravel_index(np.argmax(ncc - 1e-4 * dist), ncc.shape)
    shift_index = np.array([best[2] - px, best[1] - py, best[0] - pz], float)
    direction = np.array(f.GetDirection()).reshape(3, 3)
    return direction @ (shift_index * sp)


def coarse_search_key(
    fixed, moving, mask, initial: sitk.Transform, search_mm: float, spacing_mm: float = 4.0
):
    """The ``WorkingImages.once`` key of the coarse search's map for these inputs (images by identity)."""
    return (
        "coarse",
        id(fixed),
        id(moving),
        id(mask),
        _parameters(initial),
        float(search_mm),
        float(spacing_mm),
    )


def _parameters(transform: sitk.Transform) -> tuple:
    return (*transform.GetParameters(), *transform.GetFixedParameters())


def stage_images(working: WorkingImages, region: Region, initial: sitk.Transform):
    """(fixed, moving, mask, samples, region samples) of a stage: the planning box at the working spacing,
    the high-passed daily image where the region can land, the region's samples inside the daily field
    of view at ``initial``. Made once per region and start (the mirror test, then the stage)."""

    def make():
        fixed = working.fixed(region.center_lps, region.size_mm)
        if fixed is None:
            raise ValueError("the region of interest lies outside the planning image")
        # The daily image where the region can land within the capture range, high-passed.
        center_daily = initial.TransformPoint(tuple(float(v) for v in region.center_lps))
        moving = working.moving(center_daily, region.size_mm)
        # The planning side alone: shared with the mirror hypotheses (WorkingImages.mirrored).
        key = ("region samples", id(fixed), id(region))
        region_arr = working.once(key, lambda: _region_samples(fixed, region), fixed, region)
        # Inside the daily field of view, the daily interpolant's reach off its axial ends
        # (``WorkingImages.sample_fov``): a sample whose kernel reads the 0 beyond is pulled along the axis
        # (the 3 mm block phantom of Testing/registration/test_working_images.py, its box reaching the
        # ends: z off by 0.051 mm with ``gauss_newton.AXIAL_VARIANCE_FRACTION`` ½, by 0.021 with these
        # samples left out; on the bench no sample is that close).
        in_fov = sitk.Resample(
            working.sample_fov, fixed, initial, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
        )
        mask = _as_mask(region_arr & (sitk.GetArrayViewFromImage(in_fov) > 0), fixed)
        return fixed, moving, mask, int(sitk.GetArrayViewFromImage(mask).sum()), int(region_arr.sum())

    key = ("stage", id(working.daily), id(working.sample_fov), id(region), _parameters(initial))
    return working.once(key, make, working.daily, working.sample_fov, region)


def register_rigid(
    planning: sitk.Image,
    daily: sitk.Image,
    region: Region,
    initial: sitk.Euler3DTransform,
    settings: RegistrationSettings | None = None,
    progress=None,
    search: bool = False,
    rotations: bool = True,
    working: WorkingImages | None = None,
) -> RegistrationOutcome:
    """Optimise a rigid transform (planning → daily points) inside ``region``, starting from ``initial``.

    The metric is normalised cross-correlation: invariant to the daily image's linear HU error and
    cheap; the region keeps CBCT truncation and cupping out of the samples. ``working`` shares the
    images' preparation between the stages of one match (see ``working_images_for``).
    """
    s = settings or RegistrationSettings()
    working = working or working_images_for(planning, daily, s)
    fixed, moving, mask, n_samples, n_region = stage_images(working, region, initial)
    if n_samples < MIN_SAMPLES:
        if region.intensity_range is not None and n_region < MIN_SAMPLES:
            raise NoIntensityBandError("the clip box holds no planning voxels in the bone intensity range")
        raise ValueError("too few planning voxels of the region fall inside the daily field of view")

    def features(transform):
        return working.features(fixed, transform)

    transform = sitk.Euler3DTransform(initial)
    fixed_f = features(transform)
    before = normalized_correlation(fixed_f, moving, transform, mask)
    if search and s.search_mm > 0:
        key = coarse_search_key(fixed_f, moving, mask, transform, s.search_mm)
        known = working.kept(key)  # the mirror test's map (sanity.mirror_scores), when it made one
        shift = coarse_translation_search(fixed_f, moving, mask, transform, s.search_mm, known=known)
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
        f_l, m_l, w_l = _level_images(fixed_f, moving, mask, distance, factor, sigma, working)
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
    return RegistrationOutcome(
        transform,
        before,
        after,
        n_samples,
        n_samples / max(n_region, 1),
        trace,
        stop,
        (fixed_f, moving, mask),
    )


def working_images_for(
    planning: sitk.Image, daily: sitk.Image, settings: RegistrationSettings
) -> WorkingImages:
    """The shared image preparation for a match with these settings (one per match, all its stages)."""
    return WorkingImages(
        planning, daily, settings.spacing_mm, settings.high_pass_mm, settings.capture_margin_mm
    )


def _distance_to_mask(mask: sitk.Image) -> sitk.Image:
    """Distance (mm) from each voxel to the nearest voxel of ``mask``; 0 inside it."""
    d = sitk.SignedMaurerDistanceMap(
        mask, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
    )
    return sitk.Maximum(d, 0.0)


def _level_images(fixed, moving, mask, distance, factor: int, sigma_mm: float, working=None):
    """Our own pyramid level: smoothed and resampled once (SimpleITK's built-in pyramid re-does it slowly).

    ``distance`` is the distance map of ``mask`` (mm, 0 inside), see ``_distance_to_mask``. The daily
    image's level is made once per match through ``working`` (:meth:`WorkingImages.moving_level`: a
    mirror hypothesis takes the image's level mirrored by its header).
    """
    if factor == 1 and sigma_mm <= 0:
        return fixed, moving, mask
    spacing = fixed.GetSpacing()[0] * factor

    def down(img):
        # Half the reduction by block averaging (cheap), the level's Gaussian on that smaller grid, then
        # linear resampling to the level's voxels.
        small = block_shrink(img, spacing / 2.0)
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
    m_l = down(moving) if working is None else working.moving_level(moving, factor, sigma_mm, down)
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
    """One resolution level, maximising the correlation; updates ``transform`` in place. By Gauss–Newton
    (``RegistrationSettings.gauss_newton``), or by SimpleITK's gradient descent on −NCC, where a level
    that starts ``near`` the answer takes a smaller first step (``refine_step``): a full one overshoots."""
    if s.gauss_newton:

        def _on_step(it, rho):
            trace.append((level, it, -rho))
            if progress is not None:
                progress(level, it)

        # A coarser level's result is refined by the next: it converges to factor² × the tolerance.
        tolerance = gauss_newton.TOLERANCE_MM * factor**2
        return gauss_newton.optimise(
            fixed, moving, mask, transform, s.samples_per_level, s.iterations, rotations, _on_step, tolerance
        )
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
