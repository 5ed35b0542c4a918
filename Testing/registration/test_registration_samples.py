"""Which planning voxels the bone match samples: the bone band grown by about 3 mm, the same every time."""

import numpy as np
import SimpleITK as sitk

from igrt.registration.rigid import Region, _region_samples


def _planning(shape_zyx=(40, 60, 70), spacing=(1.5, 1.5, 2.5)):
    a = np.zeros(shape_zyx, np.float32)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing(spacing)
    return img


def test_bone_band_is_grown_by_three_millimetres():
    planning = _planning()
    a = sitk.GetArrayFromImage(planning)
    a[20, 30, 35] = 1200.0  # one bone voxel (z, y, x)
    img = sitk.GetImageFromArray(a)
    img.CopyInformation(planning)
    region = Region(np.zeros(3), np.full(3, 500.0), intensity_range=(200.0, 3000.0))
    samples = _region_samples(img, region)
    z, y, x = np.nonzero(samples)
    # 3 mm is 2 voxels of 1.5 mm (x, y) and 1 voxel of 2.5 mm (z), on each side of the bone voxel.
    assert (x.min(), x.max(), y.min(), y.max(), z.min(), z.max()) == (33, 37, 28, 32, 19, 21)
    assert samples[20, 30, 35] and not samples[20, 30, 38]


def test_samples_are_the_same_on_every_call():
    # The grown mask was once read through a NumPy view of a temporary image after its buffer was
    # freed: the samples then changed from call to call with whatever was allocated in between.
    planning = _planning((49, 84, 95))
    a = np.where(np.random.default_rng(0).random((49, 84, 95)) > 0.995, 1200.0, 0.0).astype(np.float32)
    img = sitk.GetImageFromArray(a)
    img.CopyInformation(planning)
    region = Region(np.zeros(3), np.full(3, 500.0), intensity_range=(200.0, 3000.0))
    first = _region_samples(img, region)
    for _ in range(10):
        clutter = [np.ones(a.shape, np.uint8) for _ in range(3)]
        np.testing.assert_array_equal(_region_samples(img, region), first)
        del clutter


def test_the_target_mask_is_grown_by_ten_millimetres_as_on_its_whole_grid():
    """The soft-tissue region's mask: the target grown by 10 mm (5 voxels of 2 mm). It is dilated on a
    crop around the target; the result, put back on the whole grid, must be the whole grid's dilation,
    also where the target lies 3 voxels from the image's face (the crop is clamped there)."""
    from igrt.registration.match import MatchOptions, _regions

    arr = np.zeros((40, 50, 60), np.uint8)
    arr[10:20, 30:38, 3:12] = 1  # x from voxel 3: 6 mm from the face, closer than the 10 mm growth
    mask = sitk.GetImageFromArray(arr)
    mask.SetSpacing((2.0, 2.0, 2.0))
    mask.SetOrigin((-50.0, 20.0, 7.0))
    _, soft = _regions(None, MatchOptions(soft_mask=mask), np.zeros(3))
    whole = sitk.BinaryDilate(mask, [5, 5, 5])
    back = sitk.Resample(soft.mask, whole, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(whole))
    assert int(sitk.GetArrayViewFromImage(whole).sum()) > 4 * int(arr.sum())


def test_samples_stay_the_daily_interpolants_reach_off_the_field_of_views_axial_ends():
    """A 40³ daily grid of 1.25 mm from 0: its field of view (8 mm margin) holds the slices 7 … 32 (8.75 …
    40 mm), so a point is inside when its nearest slice is: z in [8.125, 40.625). Planning samples every
    3 mm: inside at 9 … 39 mm; kept, 2 working voxels (3 mm) either way inside too: 12 … 36 mm (the
    samples' mask, ``WorkingImages.sample_fov``: slices 9 … 30, 11.25 … 37.5 mm)."""
    from igrt.registration.working_images import WorkingImages

    daily = sitk.Image([40, 40, 40], sitk.sitkFloat32)
    daily.SetSpacing([1.25] * 3)
    fixed = sitk.Image([16, 16, 16], sitk.sitkFloat32)
    fixed.SetSpacing([3.0] * 3)
    working = WorkingImages(fixed, daily, 1.5, 6.0, 30.0)
    kept = sitk.Resample(working.sample_fov, fixed, sitk.Euler3DTransform(), sitk.sitkNearestNeighbor)
    inside = sitk.GetArrayViewFromImage(kept) > 0
    slices = 3.0 * np.flatnonzero(inside.any(axis=(1, 2)))
    assert (slices.min(), slices.max(), len(slices)) == (12.0, 36.0, 9)
    plain = sitk.Resample(working.fov, fixed, sitk.Euler3DTransform(), sitk.sitkNearestNeighbor)
    z = 3.0 * np.flatnonzero(sitk.GetArrayViewFromImage(plain).any(axis=(1, 2)))
    assert (z.min(), z.max()) == (9.0, 39.0)
    # Across the axis nothing is taken off: the middle slice keeps the disk of the field of view.
    assert inside[8].sum() == sitk.GetArrayViewFromImage(plain)[8].sum() > 0
