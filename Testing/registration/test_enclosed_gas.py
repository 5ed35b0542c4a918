"""Gas enclosed in the body is left out of the high-passed features; outside air and the field of view's
edge are not taken for it (igrt.registration.working_images: enclosed_gas_blocks, gas_keep)."""

import numpy as np
import SimpleITK as sitk

from igrt.registration.working_images import enclosed_gas_blocks, gas_keep, high_pass

TISSUE_HU, AIR_HU = 40.0, -1000.0


def _image(arr: np.ndarray, origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing((1.5, 1.5, 1.5))
    img.SetOrigin(origin)
    return img


def _on_grid_of(keep: sitk.Image, image: sitk.Image) -> np.ndarray:
    """The keep weights (given over a box of ``image``'s voxels) on all of ``image``'s voxels: 1 elsewhere."""
    return sitk.GetArrayFromImage(
        sitk.Resample(keep, image, sitk.Transform(), sitk.sitkNearestNeighbor, 1.0, sitk.sitkFloat32)
    )


def _body_with_pocket() -> np.ndarray:
    """40 × 40 × 24 voxels of 1.5 mm (array z, y, x): a tissue prism x, y in [6, 34) through every slice in
    air, with a 9 mm cube of gas (6 voxels) at x, y in [15, 21), z in [9, 15)."""
    arr = np.full((24, 40, 40), AIR_HU)
    arr[:, 6:34, 6:34] = TISSUE_HU
    arr[9:15, 15:21, 15:21] = AIR_HU
    return arr


def test_the_enclosed_pocket_is_found_block_by_block_and_the_outside_air_is_not():
    """Blocks of 3 voxels (4.5 mm): the pocket fills blocks 5–6 in x and y and 3–4 in z, grown by one
    block: x, y blocks 4–7 and z blocks 2–5, 64 blocks, nothing else (the air around the body is open)."""
    img = _image(_body_with_pocket())
    valid = _image(np.ones((24, 40, 40)))
    blocks = enclosed_gas_blocks(img, valid, 4.5)
    assert blocks.GetSize() == (13, 13, 8)
    arr = sitk.GetArrayFromImage(blocks)
    expected = np.zeros_like(arr)
    expected[2:6, 4:8, 4:8] = 1
    np.testing.assert_array_equal(arr, expected)


def test_gas_voxels_get_zero_features_and_outside_air_keeps_its_own():
    img = _image(_body_with_pocket())
    valid = _image(np.ones((24, 40, 40)))
    keep = gas_keep(img, enclosed_gas_blocks(img, valid, 4.5))
    before = sitk.GetArrayFromImage(high_pass(img, 6.0, valid))
    after = sitk.GetArrayFromImage(high_pass(img, 6.0, valid, keep=keep))
    pocket = np.zeros(before.shape, bool)
    pocket[9:15, 15:21, 15:21] = True
    # Without the change the pocket is the strongest feature (−1000 HU less its surroundings' mean).
    assert before[pocket].max() < -500.0
    np.testing.assert_array_equal(after[pocket], 0.0)  # left out: no feature
    # Everything else is as it was, the air around the body too (its edge still carries the outline).
    np.testing.assert_array_equal(after[~pocket], before[~pocket])
    assert before[12, 20, 5] < -100.0  # the air voxel next to the body's side, kept
    assert np.count_nonzero(sitk.GetArrayViewFromImage(keep) == 0) == pocket.sum()  # 216 voxels
    # Found by the high-pass itself from its local mean's blocks (6 mm: 4.5 mm blocks), the same.
    found_here = sitk.GetArrayFromImage(high_pass(img, 6.0, valid, leave_out_gas=True))
    np.testing.assert_array_equal(found_here, after)


def test_the_keep_weights_land_on_a_crop_that_is_not_block_aligned():
    """The features are made on a sub-grid (the box) of the image the blocks come from: a crop starting
    at voxel (4, 5, 7) zeroes exactly the pocket's voxels in it."""
    img = _image(_body_with_pocket(), origin=(-30.0, 12.0, 100.0))
    valid = _image(np.ones((24, 40, 40)), origin=(-30.0, 12.0, 100.0))
    blocks = enclosed_gas_blocks(img, valid, 4.5)
    crop = sitk.RegionOfInterest(img, (30, 28, 12), (4, 5, 7))
    keep = _on_grid_of(gas_keep(crop, blocks), crop)
    expected = np.ones(keep.shape, np.float32)
    expected[9 - 7 : 15 - 7, 15 - 5 : 21 - 5, 15 - 4 : 21 - 4] = 0.0
    np.testing.assert_array_equal(keep, expected)


def test_the_field_of_views_edge_opens_the_body_and_never_closes_it():
    """A daily image: the body (y ≥ 12) is cut by the field of view (a cylinder of radius 16 voxels about
    the centre, slices 3–20); in front of it air, bounded by the body and the field of view's edge, and
    outside the field of view 0 HU (what some CBCTs write there). Neither that air, nor a pocket the edge
    cuts (x 2–7), nor a dark (−600 HU, cupped) centre of the end slices 3–5 is enclosed gas; only the
    pocket in the middle is."""
    arr = np.full((24, 40, 40), AIR_HU)
    arr[:, 12:, :] = TISSUE_HU
    arr[9:15, 24:30, 2:8] = AIR_HU  # cut by the field of view's edge
    arr[9:15, 21:27, 18:24] = AIR_HU  # enclosed
    arr[3:6, 16:31, 12:28] = -600.0  # cupping at the cone's end, well inside the field in its slices
    z, y, x = np.mgrid[0:24, 0:40, 0:40]
    fov = ((x - 19.5) ** 2 + (y - 19.5) ** 2 <= 16**2) & (z >= 3) & (z <= 20)
    arr[~fov] = 0.0
    blocks = enclosed_gas_blocks(_image(arr), _image(fov), 4.5)
    found = np.argwhere(sitk.GetArrayFromImage(blocks) > 0)
    # The middle pocket: x 18–23 → blocks 6–7, y 21–26 → blocks 7–8, z 9–14 → blocks 3–4; grown by one.
    assert found.min(axis=0).tolist() == [2, 6, 5]
    assert found.max(axis=0).tolist() == [5, 9, 8]
    keep = _on_grid_of(gas_keep(_image(arr), blocks), _image(arr))
    assert np.all(keep[9:15, 21:27, 18:24] == 0.0)
    assert np.count_nonzero(keep == 0) == 6 * 6 * 6  # the front air, the cut pocket, the cupping: kept


def test_the_holes_are_those_scipy_fills():
    """``_enclosed`` (SimpleITK's connected components: stock Slicer has no SciPy) against SciPy's
    ``binary_fill_holes`` on a random body of 5 % holes."""
    from scipy import ndimage

    from igrt.registration.working_images import _enclosed

    body = np.random.default_rng(3).random((20, 23, 26)) > 0.05
    body[:, :, :4] = False  # outside air along one side
    expected = ndimage.binary_fill_holes(body) & ~body
    assert expected.sum() > 100
    np.testing.assert_array_equal(_enclosed(~body), expected)
