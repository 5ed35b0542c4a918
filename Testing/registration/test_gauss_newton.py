"""The Gauss–Newton levels of the rigid match (igrt.registration.gauss_newton): known-transform round
trips on a smooth synthetic volume, the composition rule worked by hand, and that the match uses it."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from igrt.registration import gauss_newton
from igrt.registration.rigid import Region, RegistrationSettings, register_rigid

CENTRE = (45.0, 45.0, 45.0)


def _blobs(n: int = 60, spacing: float = 1.5, seed: int = 0) -> sitk.Image:
    """A smooth volume of 40 Gaussian blobs (3–8 mm) on an n³ grid at ``spacing`` mm."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:n, 0:n, 0:n] * spacing
    arr = np.zeros((n, n, n))
    for _ in range(40):
        c, s = rng.uniform(20, 70, 3), rng.uniform(3, 8)
        arr += rng.uniform(-1, 1) * np.exp(
            -((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) / (2 * s * s)
        )
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing([spacing] * 3)
    return img


def _moved(img: sitk.Image, truth: sitk.Transform, scale=2.0, offset=5.0) -> sitk.Image:
    """The daily image: planning point x's anatomy at truth(x), on another HU scale."""
    return (
        sitk.Resample(img, img, truth.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32) * scale + offset
    )


def _inner_mask(img: sitk.Image, border: int = 10) -> sitk.Image:
    n = img.GetSize()[0]
    mask = sitk.GetImageFromArray(np.pad(np.ones((n - 2 * border,) * 3, np.uint8), border))
    mask.CopyInformation(img)
    return mask


def _euler(rotation_rad=(0.0, 0.0, 0.0), translation_mm=(0.0, 0.0, 0.0)) -> sitk.Euler3DTransform:
    t = sitk.Euler3DTransform()
    t.SetCenter(CENTRE)
    t.SetRotation(*rotation_rad)
    t.SetTranslation(translation_mm)
    return t


def _errors_mm_deg(found: sitk.Transform, truth: sitk.Transform, point=CENTRE):
    moved = np.subtract(found.TransformPoint(point), truth.TransformPoint(point))
    r = np.array(found.GetMatrix()).reshape(3, 3) @ np.array(truth.GetMatrix()).reshape(3, 3).T
    angle = np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))
    return float(np.linalg.norm(moved)), float(angle)


def test_recovers_a_known_rigid_transform_on_another_hu_scale():
    img = _blobs()
    truth = _euler((0.01, -0.02, 0.015), (0.8, -0.5, 0.3))  # 0.57°, -1.15°, 0.86°; 1 mm
    found = _euler()
    stop = gauss_newton.optimise(img, _moved(img, truth), _inner_mask(img), found, 20000, 50)
    mm, deg = _errors_mm_deg(found, truth)
    assert stop.startswith("Gauss-Newton: converged")
    # Started 1.0 mm / 1.5° off; linear interpolation of the moved copy leaves ~0.01 mm, 0.013°.
    assert mm < 0.03 and deg < 0.03


def test_translation_only_keeps_the_rotation_and_finds_the_shift():
    img = _blobs(seed=1)
    truth = _euler(translation_mm=(1.2, -0.7, 0.4))
    found = _euler(rotation_rad=(0.0, 0.0, 0.0))
    gauss_newton.optimise(img, _moved(img, truth), _inner_mask(img), found, 20000, 50, rotations=False)
    assert found.GetParameters()[:3] == (0.0, 0.0, 0.0)
    assert np.allclose(found.GetTranslation(), (1.2, -0.7, 0.4), atol=0.02)


def test_at_the_optimum_it_does_not_move():
    img = _blobs(seed=2)
    found = _euler()
    gauss_newton.optimise(img, img, _inner_mask(img), found, 20000, 50)
    assert np.allclose(found.GetParameters(), 0.0, atol=1e-6)


def test_correction_is_composed_after_the_transform():
    """T: translate by (10, 0, 0). The correction: 90° about z through y0 = (10, 0, 0), then + (0, 0, 1).
    x = (1, 0, 0) → T: (11, 0, 0) → about y0: (10, 1, 0) → (10, 1, 1)."""
    t = sitk.Euler3DTransform()
    t.SetCenter((0.0, 0.0, 0.0))
    t.SetTranslation((10.0, 0.0, 0.0))
    out = gauss_newton._corrected(
        t, np.array([0, 0, np.pi / 2]), np.array([0, 0, 1.0]), np.array([10.0, 0, 0])
    )
    assert np.allclose(out.TransformPoint((1.0, 0.0, 0.0)), (10.0, 1.0, 1.0), atol=1e-12)
    assert np.allclose(out.GetCenter(), (0.0, 0.0, 0.0))


@pytest.mark.parametrize("gn", [True, False])
def test_the_match_polishes_with_gauss_newton_unless_switched_off(gn):
    img = _blobs(seed=3)
    truth = _euler((0.0, 0.01, 0.0), (1.0, 0.5, -0.5))
    settings = RegistrationSettings(high_pass_mm=0.0, search_mm=0.0, spacing_mm=1.5, gauss_newton=gn)
    region = Region(np.array(CENTRE), np.array([60.0, 60.0, 60.0]))
    out = register_rigid(img, _moved(img, truth), region, _euler(), settings)
    assert out.stop_reason.startswith("Gauss-Newton") == gn
    mm, deg = _errors_mm_deg(out.transform, truth)
    assert mm < 0.05 and deg < 0.03


def test_steps_taken_along_their_series_change_the_path_not_the_answer(monkeypatch):
    """A daily image that is the moved planning image plus as much again of other anatomy (correlation
    0.77 at the optimum): the steps' series extrapolated (``ACCELERATE_RATIO``) or not, the same optimum
    to the convergence tolerance (0.005 mm; 1e-3 rad), in fewer steps with it (8 against 11 here)."""
    img = _blobs(seed=4)
    truth = _euler((0.01, -0.02, 0.015), (0.8, -0.5, 0.3))
    daily = _moved(img, truth) + 2.0 * _blobs(seed=8)  # on the CBCT's HU scale: 2× + 5
    found, steps = {}, {}
    for ratio in (gauss_newton.ACCELERATE_RATIO, 1.0):  # 1.0: never extrapolated
        monkeypatch.setattr(gauss_newton, "ACCELERATE_RATIO", ratio)
        t, kept = _euler(), []
        gauss_newton.optimise(
            img, daily, _inner_mask(img), t, 20000, 100, True, lambda i, r, k=kept: k.append(r)
        )
        found[ratio], steps[ratio] = np.array(t.GetParameters()), len(kept)
    np.testing.assert_allclose(found[0.3][:3], found[1.0][:3], atol=1e-3)
    np.testing.assert_allclose(found[0.3][3:], found[1.0][3:], atol=gauss_newton.TOLERANCE_MM)
    assert steps[0.3] < steps[1.0]


def _grid(spacing, direction=None) -> sitk.Image:
    img = sitk.Image([8, 8, 8], sitk.sitkFloat32)
    img.SetSpacing(spacing)
    if direction is not None:
        img.SetDirection(direction)
    return img


def test_axial_smoothing_takes_half_the_planning_slices_extra_variance():
    """s = 3 · ½ · (P² − W²) / (12 W²): P = 3, W = 1.5 mm → 1.5 · 6.75 / 27 = 0.375; P = 2.5 → 0.222;
    a planning grid no coarser than the daily one → 0; P = 6 → 1.875, at most 1."""
    daily = _grid([1.5, 1.5, 1.5])
    assert gauss_newton.axial_smoothing(_grid([3.0, 3.0, 3.0]), daily) == (0.0, 0.0, 0.375)
    assert gauss_newton.axial_smoothing(_grid([1.953, 1.953, 3.0]), daily) == (0.0, 0.0, 0.375)
    assert gauss_newton.axial_smoothing(_grid([3.0, 3.0, 2.5]), daily)[2] == pytest.approx(4 / 18)
    assert gauss_newton.axial_smoothing(_grid([3.0, 3.0, 1.0]), daily)[2] == 0.0
    assert gauss_newton.axial_smoothing(_grid([1.0, 1.0, 6.0]), daily)[2] == 1.0


def test_axial_smoothing_follows_the_daily_images_third_axis():
    """A daily grid whose third axis is LPS x: the planning spacing along x (3 mm) is what counts."""
    daily = _grid([1.5, 1.5, 1.5], (0, 0, 1, 0, 1, 0, 1, 0, 0))
    assert gauss_newton.axial_smoothing(_grid([3.0, 1.0, 1.0]), daily)[2] == 0.375
    assert gauss_newton.axial_smoothing(_grid([1.0, 1.0, 3.0]), daily)[2] == 0.0


def test_axial_smoothing_lessens_the_pull_of_interpolated_noise(monkeypatch):
    """Planning samples every 3 mm along z on a 1.5 mm daily grid with white noise (0.05 against the
    moved image's std 0.28): Keys' kernel passes a voxel's noise whole at a voxel and 0.64 of its
    variance half-way, so the correlation prefers some sub-voxel offsets of the samples and pulls the
    match (0.14 mm, 0.64°, the same for every noise draw); with the rule's blend 0.10 mm, 0.51°."""
    img = _blobs()
    coarse = sitk.Resample(
        img, [60, 60, 30], sitk.Transform(), sitk.sitkLinear, img.GetOrigin(), [1.5, 1.5, 3.0],
        img.GetDirection(), 0.0, sitk.sitkFloat32,
    )  # fmt: skip
    mask = sitk.Resample(_inner_mask(img), coarse, sitk.Transform(), sitk.sitkNearestNeighbor)
    truth = _euler((0.01, -0.02, 0.015), (0.8, -0.5, 0.3))
    noise = sitk.GetImageFromArray(np.random.default_rng(0).normal(0, 0.05, (60, 60, 60)).astype(np.float32))
    noise.CopyInformation(img)
    daily = _moved(img, truth) + noise
    errors = {}
    for fraction in (0.0, gauss_newton.AXIAL_VARIANCE_FRACTION):
        monkeypatch.setattr(gauss_newton, "AXIAL_VARIANCE_FRACTION", fraction)
        found = _euler()
        gauss_newton.optimise(coarse, daily, mask, found, 20000, 50)
        errors[fraction] = _errors_mm_deg(found, truth)
    (mm0, deg0), (mm, deg) = errors[0.0], errors[0.5]
    assert 0.12 < mm0 < 0.16 and 0.6 < deg0 < 0.7
    assert mm < 0.8 * mm0 and deg < 0.85 * deg0
