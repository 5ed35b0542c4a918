"""The images as the metric sees them, prepared once per match and shared between its stages."""

import numpy as np
import pytest
import SimpleITK as sitk

from igrt import geometry
from igrt.io.volumes import read_volume
from igrt.registration import sanity
from igrt.registration.match import BONE_HU
from igrt.registration.rigid import (
    Region,
    RegistrationSettings,
    coarse_grids,
    coarse_search_key,
    coarse_translation_search,
    euler_from_matrix,
    masked_ncc_maps,
    stage_images,
    working_images_for,
)
from igrt.synth.cases import tiny_case

BONE_BOX = (180.0, 160.0, 140.0)
SOFT_BOX = (40.0, 40.0, 40.0)  # the tiny daily image is 160 mm wide: box + 2 × 30 mm fits inside


def _working():
    case = tiny_case()
    planning, daily = read_volume(case.planning_path).image, read_volume(case.daily_path).image
    iso = np.asarray(case.planning_isocenter_lps, float)
    to_daily = geometry.daily_frame_shift(iso, case.daily_isocenter_lps)
    return to_daily, iso, (lambda: working_images_for(planning, daily, RegistrationSettings()))


def _values_at(image: sitk.Image, like: sitk.Image) -> np.ndarray:
    """``image`` sampled at ``like``'s voxel centres (nearest: the grids coincide where this is used)."""
    out = sitk.Resample(image, like, sitk.Transform(), sitk.sitkNearestNeighbor, np.nan, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def test_a_later_stage_crops_what_the_first_prepared():
    to_daily, iso, new = _working()
    iso = geometry.apply(to_daily, iso)  # the boxes are centred on the daily isocenter
    working = new()
    big = working.moving(iso, BONE_BOX)
    small = working.moving(iso, SOFT_BOX)
    # The soft box lies inside the bone box: its image is a sub-grid of the prepared one, same values.
    index = np.array(big.TransformPhysicalPointToContinuousIndex(small.GetOrigin()))
    np.testing.assert_allclose(index, np.round(index), atol=1e-6)
    assert small.GetSpacing() == big.GetSpacing()
    assert np.prod(small.GetSize()) < np.prod(big.GetSize())
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(small), _values_at(big, small))


def test_sharing_changes_the_high_pass_only_near_the_crop_faces():
    to_daily, iso, new = _working()
    iso = geometry.apply(to_daily, iso)
    shared = new()
    shared.moving(iso, BONE_BOX)
    from_shared = sitk.GetArrayFromImage(shared.moving(iso, SOFT_BOX))
    alone = new().moving(iso, SOFT_BOX)
    on_same_grid = _values_at(alone, shared.moving(iso, SOFT_BOX))
    # Inside the soft box itself (30 mm = 2.5 sigma from the faces of its own crop) the two high-passes
    # average the same anatomy up to the Gaussian's far tail.
    inner = shared.moving(iso, SOFT_BOX)
    lo = np.array(inner.TransformPhysicalPointToContinuousIndex(tuple(iso - np.array(SOFT_BOX) / 2))).astype(
        int
    )
    hi = np.array(inner.TransformPhysicalPointToContinuousIndex(tuple(iso + np.array(SOFT_BOX) / 2))).astype(
        int
    )
    lo, hi = np.maximum(lo, 0), np.minimum(hi, inner.GetSize())
    region = (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    a, b = from_shared[region], on_same_grid[region]
    ok = np.isfinite(b) & (b != 0)
    assert ok.sum() > 1000
    spread = np.std(a[ok])
    assert np.percentile(np.abs(a[ok] - b[ok]), 99) < 0.05 * spread


def test_planning_features_are_remade_only_when_the_transform_moved():
    to_daily, iso, new = _working()
    working = new()
    fixed = working.fixed(iso, BONE_BOX)

    def shifted(mm):
        return euler_from_matrix(to_daily @ geometry.rigid_matrix(translation=(mm, 0, 0)), iso)

    first = sitk.GetArrayFromImage(working.features(fixed, shifted(0.0)))
    # Less than half a working voxel (0.75 mm): the features made at 0 mm are reused as they are.
    reused = sitk.GetArrayFromImage(working.features(fixed, shifted(0.3)))
    np.testing.assert_array_equal(reused, first)
    # 6 mm: the field-of-view mask moved, the features are remade exactly as a fresh preparation makes them.
    remade = sitk.GetArrayFromImage(working.features(fixed, shifted(6.0)))
    fresh = sitk.GetArrayFromImage(new().features(fixed, shifted(6.0)))
    np.testing.assert_array_equal(remade, fresh)
    assert np.abs(remade - first).max() > 1.0


def test_daily_working_spacing_is_the_working_spacing_whatever_the_ct():
    from igrt.registration.working_images import WorkingImages, resample_to_spacing

    def spacing(planning_spacing, daily_spacing=(1.25, 1.25, 1.25)):
        planning = sitk.Image([8, 8, 8], sitk.sitkFloat32)
        planning.SetSpacing(planning_spacing)
        daily = sitk.Image([16, 16, 16], sitk.sitkFloat32)
        daily.SetSpacing(daily_spacing)
        working = WorkingImages(planning, daily, 1.5, 12.0, 30.0)
        return resample_to_spacing(daily, working.daily_spacing_mm).GetSpacing()

    assert spacing((3.0, 3.0, 3.0)) == (1.5, 1.5, 1.5)  # a coarse CT: the daily image is not coarsened to it
    assert spacing((0.9765625, 0.9765625, 2.5)) == (1.5, 1.5, 1.5)
    assert spacing((3.0, 3.0, 3.0), (1.0, 1.0, 2.0)) == (1.5, 1.5, 2.0)  # never finer than its own


def test_sub_voxel_shift_against_a_3mm_ct_is_found_to_a_tenth_of_a_mm():
    """The same analytic phantom, its edges blurred as a scanner's (σ 1 mm), sampled at 3 mm (planning)
    and at 1.25 mm moved by (1.4, −1.1, 0.7) mm (daily, its grid shifted with it: no resampling). With
    the daily image coarsened to the CT's 3 mm the match is 0.19 mm off (SimpleITK's descent 0.18); at
    1.5 mm 0.016 mm (0.033); 0.021 with gauss_newton's axial smoothing (0.051 before the samples
    were kept its reach off the field of view's axial ends, which this box reaches). Hard edges point-sampled at 3 mm are aliased, known only to the voxel: the
    correlation's optimum then lies 0.14 mm off whatever the optimiser (SimpleITK stopped 0.04 off)."""
    from conftest import make_block_phantom
    from igrt.registration.match import MatchOptions, run_match
    from igrt.volume import Volume

    origin, shift = np.array((-105.0, -140.0, 220.0)), np.array((1.4, -1.1, 0.7))
    planning = make_block_phantom(
        size=(75, 60, 55), spacing=(3.0, 3.0, 3.0), origin=tuple(origin), edge_mm=1.0
    )
    daily = make_block_phantom(
        size=(180, 144, 132), spacing=(1.25, 1.25, 1.25), origin=tuple(origin + shift), edge_mm=1.0
    )
    iso = tuple(planning.TransformContinuousIndexToPhysicalPoint([37, 30, 27]))
    options = MatchOptions(method="bone", planning_isocenter_lps=iso, daily_isocenter_lps=iso)
    result = run_match(Volume(planning, "planning"), Volume(daily, "daily"), options)
    assert np.linalg.norm(result.translation_mm - shift) < 0.05


def test_a_mirror_by_the_header_puts_every_voxel_at_its_mirror_point():
    """Mirrored across x = 10 mm (LPS): voxel (i, j, k) keeps its value and lies at (20 − x, y, z)."""
    from igrt.registration.working_images import mirrored_header

    img = sitk.GetImageFromArray(np.arange(4 * 5 * 6, dtype=np.float32).reshape(6, 5, 4))
    img.SetSpacing((1.0, 2.0, 3.0))
    img.SetOrigin((-3.0, 4.0, 5.0))
    out = mirrored_header(img, (1.0, 0.0, 0.0), (10.0, 0.0, 0.0))
    for index in ((0, 0, 0), (3, 4, 5), (1, 2, 3)):
        x, y, z = img.TransformIndexToPhysicalPoint(index)
        np.testing.assert_allclose(out.TransformIndexToPhysicalPoint(index), (20.0 - x, y, z))
        assert out[index] == img[index]
    assert np.linalg.det(np.reshape(out.GetDirection(), (3, 3))) == -1.0
    # The same image as a resampled mirror, where both are defined (no interpolation: whole voxels).
    t = sitk.AffineTransform(3)
    t.SetMatrix((-1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    t.SetCenter((10.0, 0.0, 0.0))
    grid = sitk.Image(img)
    grid.SetOrigin((20.0, 4.0, 5.0))  # the mirrored extent x = 20 … 23 mm, on a right-handed grid
    resampled = sitk.Resample(img, grid, t, sitk.sitkNearestNeighbor, -1.0)
    by_header = sitk.Resample(out, grid, sitk.Transform(), sitk.sitkNearestNeighbor, -1.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(by_header), sitk.GetArrayFromImage(resampled))
    assert (sitk.GetArrayFromImage(resampled) >= 0).all()


def test_the_bone_stage_takes_the_mirror_tests_images_and_coarse_map():
    """What the mirror test made at the start (stage images, the as-given coarse map in float32) is what
    the stage's own coarse search would make: the same objects, the same map to 1e-5, the same shift."""
    to_daily, iso, new = _working()
    working = new()
    start = euler_from_matrix(to_daily, iso)
    region = Region(iso, np.array(BONE_BOX), intensity_range=BONE_HU)
    sanity.mirror_scores(working, region, start, 24.0)
    first, again = stage_images(working, region, start), stage_images(working, region, start)
    assert all(a is b for a, b in zip(first, again, strict=True))
    fixed, moving, mask, _, _ = first
    features = working.features(fixed, start)
    known = working.kept(coarse_search_key(features, moving, mask, start, 24.0))
    assert known is not None and working.kept(coarse_search_key(features, moving, mask, start, 20.0)) is None
    farr, warr, garr, valid, pads, _ = coarse_grids(features, moving, mask, start, 24.0)
    (own,) = masked_ncc_maps(farr, warr, [(garr, valid)], pads)
    finite = np.isfinite(own)
    np.testing.assert_array_equal(np.isfinite(known[0]), finite)
    np.testing.assert_allclose(known[0][finite], own[finite], atol=1e-5)
    shift = coarse_translation_search(features, moving, mask, start, 24.0, known=known)
    np.testing.assert_array_equal(shift, coarse_translation_search(features, moving, mask, start, 24.0))
    assert np.abs(shift).max() >= 4.0  # the tiny case is displaced by ~7 mm: the search moved


def test_features_are_reused_only_through_the_same_field_of_view():
    """Features are keyed by the field of view's voxels (a mirror hypothesis's at the start is often the
    image's): the same voxels in another image give the kept features, a hole of a few voxels at the
    centre gives new ones, equal to a high-pass made from scratch."""
    from igrt.registration.working_images import high_pass, on_grid

    to_daily, iso, new = _working()
    working = new()
    start = euler_from_matrix(to_daily, iso)
    fixed = working.fixed(iso, np.array(BONE_BOX))
    first = working.features(fixed, start)
    wide = working._wide_around(fixed)
    fov = sitk.Resample(working.fov, wide, start, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    assert working._features_for(wide, fixed, sitk.Image(fov) + 0) is first  # a copy, same voxels
    arr = sitk.GetArrayFromImage(fov)
    c = np.array(arr.shape) // 2
    assert arr[tuple(c)] == 1
    arr[c[0] - 1 : c[0] + 2, c[1] - 1 : c[1] + 2, c[2] - 1 : c[2] + 2] = 0
    holed = sitk.GetImageFromArray(arr)
    holed.CopyInformation(fov)
    other = working._features_for(wide, fixed, holed)
    assert other is not first
    keep = working.kept(("keep", id(wide), id(fixed)))  # the tiny case's rectal gas, found once per crop
    assert keep is not None
    expected = high_pass(wide, working.sigma, holed, fixed, on_grid(wide, fixed), keep)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(other), sitk.GetArrayViewFromImage(expected))
    assert not np.array_equal(sitk.GetArrayViewFromImage(other), sitk.GetArrayViewFromImage(first))


def test_a_mirror_hypothesis_takes_the_images_pyramid_level_mirrored_by_its_header():
    """The mirror hypothesis's daily level is the image's level mirrored by its header (no smoothing of
    its own): on the grid and to float32 rounding the level a fresh pyramid of the mirror image makes."""
    from igrt.registration.rigid import _distance_to_mask, _level_images

    to_daily, iso, new = _working()
    working = new()
    start = euler_from_matrix(to_daily, iso)
    region = Region(iso, np.array(BONE_BOX), intensity_range=BONE_HU)
    centre = start.TransformPoint(tuple(float(v) for v in iso))
    fixed, moving, mask, _, _ = stage_images(working, region, start)
    features = working.features(fixed, start)
    distance = _distance_to_mask(mask)
    given = _level_images(features, moving, mask, distance, 4, 2.0, working)[1]
    mirror = working.mirrored((1.0, 0.0, 0.0), centre)
    m_fixed, m_moving, m_mask, _, _ = stage_images(mirror, region, start)
    m_features = mirror.features(m_fixed, start)
    m_distance = _distance_to_mask(m_mask)
    reused = _level_images(m_features, m_moving, m_mask, m_distance, 4, 2.0, mirror)[1]
    fresh = _level_images(m_features, m_moving, m_mask, m_distance, 4, 2.0)[1]
    # Reused: the image's level's voxels, under the mirrored header.
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(reused), sitk.GetArrayViewFromImage(given))
    assert np.linalg.det(np.reshape(reused.GetDirection(), (3, 3))) < 0  # a mirrored (left-handed) grid
    assert reused.GetSize() == fresh.GetSize()
    np.testing.assert_allclose(reused.GetSpacing(), fresh.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(reused.GetOrigin(), fresh.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(reused.GetDirection(), fresh.GetDirection(), atol=1e-9)
    arr_fresh = sitk.GetArrayViewFromImage(fresh)
    scale = float(np.abs(arr_fresh).max())
    assert scale > 10.0  # a high-passed CT level, not an empty image
    np.testing.assert_allclose(sitk.GetArrayViewFromImage(reused), arr_fresh, rtol=0, atol=1e-5 * scale)
    # Asked again, the mirror hypothesis gets the same object (made once per image and level).
    assert _level_images(m_features, m_moving, m_mask, m_distance, 4, 2.0, mirror)[1] is reused


def test_the_local_mean_gaussian_is_the_sampled_gaussian_and_zero_outside():
    """An impulse gives the sampled, normalised Gaussian (σ 2 voxels) to 1e-9; at the array's face (x = 0)
    only the half inside is kept: Σ = ½ + g(0)/2 with g(0) = 1 / Σₖ exp(−k²/8), nothing folded back in."""
    from igrt.registration.working_images import gaussian_zero_padded

    one = np.zeros((2, 30, 31, 32))
    one[0, 15, 15, 16] = 1.0
    one[1, 15, 15, 0] = 1.0
    out = gaussian_zero_padded(one, [2.0, 2.0, 2.0])
    z, y, x = np.mgrid[0:30, 0:31, 0:32]
    ref = np.exp(-((x - 16) ** 2 + (y - 15) ** 2 + (z - 15) ** 2) / 8.0)
    np.testing.assert_allclose(out[0], ref / ref.sum(), atol=1e-9)
    g0 = 1.0 / np.sum(np.exp(-(np.arange(-20, 21) ** 2) / 8.0))
    assert out[1].sum() == pytest.approx(0.5 + g0 / 2, abs=1e-9)
    assert abs(out[1][:, :, -1]).max() < 1e-9  # the far face: nothing wrapped around
