"""The rigid match's optimisation levels: Gauss–Newton (Levenberg–Marquardt) on the correlation.

Why not SimpleITK's gradient descent: with every sample of the region wanted, its metric runs in
dense mode and visits every voxel of the fixed image's box twice per iteration to test the mask (1.2 M
voxels for the bone box at 1.5 mm: 7.6 ms an iteration, 24 iterations at the real abdomen's finest level:
184 ms); its sparse mode jitters the sample points inside their voxels, which cost the real abdomen and
TG-119 0.1–0.2 mm (measured). Here the samples are the region's voxel centres themselves, and a step
solves the linearised problem.

The model (``igrt.registration.uncertainty``'s step): the planning features f at a sample x are fitted by
a·m(y) + b, y = T(x) where the transform puts it in the daily image m (a, b absorb the CBCT's HU scale
and offset, to which the correlation is invariant). Minimising Σ (f − a·m − b)² over a, b and T
maximises the correlation (the minimum is (1 − ρ²)·Σ (f − f̄)²). Near T, the daily image moved by a
small rigid correction (ω, t) (rad, mm) is m(y) + ∇m(y)·(t + ω × (y − y₀)), y₀ the mapped samples'
centroid; a step is the linear least-squares solution for (ω, t, δa, δb) with a at its current fit,
kept only when the correlation rises, damped otherwise (Levenberg–Marquardt).

The daily image is read by cubic convolution (``image_grid.cubic``), whose exact derivative is ∇m: a
linear interpolant pulls the optimum towards grid-aligned positions, which gradient descent stopping
short of it had partly hidden. Block phantom (2.5 mm slices, 3 mm shift): SimpleITK 2.887 mm, this with
trilinear values 2.771, with cubic 2.923. Bench (bench/run_anatomy_bench.py, 19 cases, ``auto``, median /
worst): the real abdomen 0.075 / 0.282 mm, 0.055 / 0.202° with SimpleITK; trilinear with its exact
derivative 0.122 / 0.375 mm, with a one-voxel slope 0.072 / 0.325 mm, 0.044 / 0.202°; cubic
0.087 / 0.298 mm, 0.055 / 0.170° (pelvis 0.045 / 0.065 mm, TG-119 0.054 / 0.056 mm). Where the planning
grid is coarser along the daily image's rotation axis, the cubic is blended there with the cubic
B-spline (``AXIAL_VARIANCE_FRACTION``). An inverse-compositional variant (the planning features'
gradient as the Jacobian, made once) stalled where the CBCT differs from the CT (abdomen 0.26–0.87 mm).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt import geometry
from igrt.image_grid import cubic, index_to_lps_matrix, lps_to_index
from igrt.registration.metric_blocks import apply_transform, pearson, region_samples, slope

#: Converged when a kept step moves no sample farther than this (mm): below the 0.01 mm the bench
#: resolves; the correlation's optimum is flat at this scale (interpolation's noise).
TOLERANCE_MM = 5e-3
#: Damping (relative to the normal matrix's diagonal) at the start, and the most it grows to before the
#: level stops (no step raises the correlation).
DAMPING_START = 1e-4
DAMPING_MAX = 1.0
#: A step is first tried lengthened (or shortened) to the sum of the series it starts when it is at least
#: this fraction of the last kept step (same direction) or −this (an overshoot that alternates). Measured:
#: the real abdomen's factor-2 level crept 52 steps alternating at −0.92; with weak correlation (TG-119's
#: soft box, 0.39) the steps shrink by 0.75 each.
ACCELERATE_RATIO = 0.3


#: Along the daily image's axial axis (its third: the cone-beam's rotation axis), the daily image's
#: interpolant smooths by this fraction of the variance the planning samples' boxes have beyond its
#: voxels', (P² − W²)/12, P the planning spacing along that axis, W the daily grid's
#: (:func:`axial_smoothing`). Why: a planning CT coarser than the working grid holds nothing finer than its
#: voxels, so what the daily image has finer is noise to the correlation, and Keys' kernel passes a voxel's
#: noise whole at a voxel but 0.64 of its variance half-way: the correlation prefers some sub-voxel offsets
#: of the samples, which pulls the match (test: 3 mm samples on a 1.5 mm noisy grid, 0.14 mm / 0.64° → 0.10
#: / 0.51° with this blend; the B-spline's noise gain varies 0.46–0.50 with the offset). Measured at the
#: real abdomen's result (3 mm CT, 1.5 mm working grid), the daily image blurred along one axis: the
#: correlation rises along z and y (abdo_04 0.786 → 0.796 at σ 1 mm) and falls along x. Bench
#: (bench/run_anatomy_bench.py, 19 cases, auto; median / worst mm, median / worst °): without, abdomen
#: 0.087 / 0.294, 0.055 / 0.118; pelvis 0.046 / 0.065, 0.027 / 0.037; TG-119 0.054 / 0.056, 0.026 / 0.032.
#: With ½ along z 0.082 / 0.297, 0.047 / 0.117; 0.045 / 0.061, 0.026 / 0.033; 0.054 / 0.057, 0.026 / 0.032
#: (the abdomen's per case °: 0.055 0.058 0.047 0.036 0.117 0.023 0.045 0.048). The fraction is the bench's
#: choice among these: all of it along z 0.077 / 0.303 mm, 0.045° (abdo_05's error grows, 0.294 → 0.303 mm,
#: in z); along all three axes 0.053 / 0.361 mm, 0.039° and TG-119 0.067 / 0.076 mm; along y and z 0.055 /
#: 0.332 mm, 0.039°, TG-119 0.057 / 0.064 mm (smoothing along y moves abdo_05's and TG-119's y by −0.02 to
#: −0.04 mm); ½ along all three 0.071 / 0.329 mm, 0.043°. The planning samples on the 1.5 mm grid instead
#: (the 3 mm CT B-spline-interpolated, up to 200 000 samples): abdomen 0.092 / 0.361 mm, 0.090°, TG-119
#: 0.138 mm (the simulated CBCTs interpolate the planning CT linearly: they match it best at its voxel
#: centres).
AXIAL_VARIANCE_FRACTION = 0.5


def axial_smoothing(fixed: sitk.Image, moving: sitk.Image) -> tuple[float, float, float]:
    """The ``image_grid.cubic`` smoothing (x, y, z fractions of its B-spline) of the daily image ``moving``
    matched against the planning samples on ``fixed``'s grid: along its third axis only,
    s = 3 · ``AXIAL_VARIANCE_FRACTION`` · (P² − W²) / (12 W²) in [0, 1] (s/3 voxel² is what s adds), P the
    planning spacing along that axis (mm; its axes' spacings weighted by cos² to it), W the daily one."""
    axis = np.reshape(moving.GetDirection(), (3, 3))[:, 2]
    cos2 = (axis @ np.reshape(fixed.GetDirection(), (3, 3))) ** 2  # to each of the planning axes
    planning2 = float(cos2 @ np.square(fixed.GetSpacing()))
    daily2 = float(moving.GetSpacing()[2]) ** 2
    s = 3.0 * AXIAL_VARIANCE_FRACTION * (planning2 - daily2) / (12.0 * daily2)
    return 0.0, 0.0, float(np.clip(s, 0.0, 1.0))


def _corrected(transform: sitk.Euler3DTransform, omega, t, y0) -> sitk.Euler3DTransform:
    """``transform`` followed by the correction y → R(ω)(y − y₀) + y₀ + t (daily LPS mm).

    T(x) = R(x − c) + c + s; the corrected transform has the matrix Rδ·R and, about the same centre c,
    the translation Rδ(c + s − y₀) + y₀ + t − c.
    """
    angle = float(np.degrees(np.linalg.norm(omega)))
    r_delta = geometry.axis_angle_rotation(omega, angle) if angle > 0 else np.eye(3)
    r = np.array(transform.GetMatrix()).reshape(3, 3)
    c = np.array(transform.GetCenter())
    s = np.array(transform.GetTranslation())
    out = sitk.Euler3DTransform(transform)
    out.SetMatrix(tuple(float(v) for v in (r_delta @ r).ravel()))
    out.SetTranslation(tuple(float(v) for v in r_delta @ (c + s - y0) + y0 + np.asarray(t) - c))
    return out


def optimise(
    fixed: sitk.Image,
    moving: sitk.Image,
    mask: sitk.Image,
    transform: sitk.Euler3DTransform,
    count: int,
    iterations: int,
    rotations: bool = True,
    on_iteration=None,
    tolerance_mm: float = TOLERANCE_MM,
) -> str:
    """Maximise the correlation of ``fixed`` and ``moving`` over ``mask``'s voxels from ``transform``
    (planning → daily points), which is updated in place. Returns why it stopped.

    Parameters
    ----------
    fixed, moving, mask
        The planning features, the prepared daily image and the region's samples on ``fixed``'s grid.
    count
        Samples used at most (a regular subset of the mask's voxels).
    iterations
        Most steps kept.
    rotations
        False: the translation only (the rotation stays as it is).
    on_iteration
        Called with (iteration, correlation) after each kept step.
    tolerance_mm
        Converged when a kept step moves no sample farther than this.
    """
    x, f = region_samples(fixed, mask, count)
    if len(x) < 10:
        return "Gauss-Newton: too few samples"
    n_motion = 6 if rotations else 3
    extent = float(np.max(np.ptp(x, axis=0))) / 2  # lever arm of a rotation (mm)
    max_step = float(max(moving.GetSpacing()))  # the linear model holds for about a voxel of the daily grid

    smoothing = axial_smoothing(fixed, moving)
    arr = sitk.GetArrayViewFromImage(moving)  # read in place: ``moving`` outlives this call
    # ∂m/∂y = A⁻ᵀ ∂m/∂i for i = A⁻¹(y − o), A = direction · spacing: gradient rows gᵢ · A⁻¹.
    to_lps = np.linalg.inv(index_to_lps_matrix(moving)[:3, :3])

    def correlation_at(tr):
        """(mapped samples, inside, correlation, daily values, gradients) at ``tr``: the gradient with the
        values (it costs 60 % more than they do), since a step tried is mostly a step kept, whose next
        linearisation needs it."""
        y = apply_transform(tr, x)
        m, g = cubic(arr, lps_to_index(moving, y), gradient=True, smoothing=smoothing)
        ok = np.isfinite(m)
        return y, ok, (pearson(f[ok], m[ok]) if ok.sum() > 10 else -np.inf), m, g

    y, ok, rho, m_all, g_all = correlation_at(transform)
    damping = DAMPING_START
    previous = None  # the last kept step's motion (ω × lever arm, t), mm
    for it in range(iterations):
        yo, fo, m, g = y[ok], f[ok], m_all[ok], g_all[ok] @ to_lps
        y0 = yo.mean(axis=0)
        a = slope(fo, m)
        columns = ([a * np.cross(yo - y0, g)] if rotations else []) + [a * g]
        design = np.column_stack([*columns, m[:, None], np.ones((len(m), 1))])
        residual = fo - a * m - (fo.mean() - a * m.mean())
        norms = np.linalg.norm(design, axis=0)
        norms[norms == 0] = 1.0
        design = design / norms
        normal = np.einsum("ij,ik->jk", design, design)  # no BLAS: see metric_blocks.slope
        rhs = np.einsum("ij,i->j", design, residual)
        while True:
            lhs = normal + damping * np.diag(np.diag(normal))
            try:
                p = (np.linalg.solve(lhs, rhs) / norms)[:n_motion]
            except np.linalg.LinAlgError:
                return f"Gauss-Newton: singular normal equations after {it} iterations"
            omega, t = (p[:3], p[3:]) if rotations else (np.zeros(3), p)
            motion = np.concatenate([omega * extent, t])
            candidates = [1.0]
            if previous is not None:
                # Where successive steps keep a steady ratio r (linear convergence: 0 < r; an overshoot
                # that alternates: r < 0), the steps sum to 1 / (1 − r) of this one: try that first.
                # Steps that grow (r ≥ 1) start no convergent series: taken as they are.
                r = float(motion @ previous / max(previous @ previous, 1e-300))
                if ACCELERATE_RATIO < abs(r) < 1.0:
                    candidates.insert(0, min(1.0 / (1.0 - r), 4.0))
            for scale in candidates:
                size = scale * float(np.linalg.norm(t) + np.linalg.norm(omega) * extent)
                cap = min(1.0, max_step / size) if size > 0 else 1.0
                trial = _corrected(transform, omega * scale * cap, t * scale * cap, y0)
                y_t, ok_t, rho_t, m_t, g_t = correlation_at(trial)
                if rho_t >= rho:
                    break
            if rho_t >= rho:
                size *= cap
                break
            damping *= 10.0
            if damping > DAMPING_MAX or size < tolerance_mm:
                return f"Gauss-Newton: no step raises the correlation after {it} iterations"
        transform.SetParameters(trial.GetParameters())
        y, ok, rho, m_all, g_all = y_t, ok_t, rho_t, m_t, g_t
        previous = motion
        damping = max(damping / 10.0, DAMPING_START)
        if on_iteration is not None:
            on_iteration(it, rho)
        if size < tolerance_mm:
            return f"Gauss-Newton: converged (step below {tolerance_mm:g} mm) after {it + 1} iterations"
    return f"Gauss-Newton: {iterations} iterations done"
