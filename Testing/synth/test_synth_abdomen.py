"""The real abdomen-pelvis CT as a planning CT: read in LPS with the identity direction, its targets and
the bowel-gas change of a treatment day."""

import numpy as np
import pytest
import SimpleITK as sitk

from igrt.synth.abdomen import ORGANS, load_abdomen_ct, organ_ellipsoid_lps
from igrt.synth.gas import GAS_HU, change_gas


@pytest.fixture(scope="module")
def abdomen(shared_data):
    path = shared_data / "totalseg_abdomen_ct" / "ct.nii.gz"
    return sitk.ReadImage(str(path), sitk.sitkFloat32), load_abdomen_ct(path)


def test_flipped_to_identity_direction_with_the_same_voxel_at_every_point(abdomen):
    raw, ct = abdomen
    assert np.allclose(np.reshape(ct.GetDirection(), (3, 3)), np.eye(3))
    assert ct.GetSize() == (122, 101, 112)
    # SOURCE.md: direction diag(-1, -1, 1), so the first voxel of the raw file is the new image's last in
    # x and y: the same physical point holds the same HU.
    rng = np.random.default_rng(0)
    for idx in rng.integers(0, (122, 101, 112), size=(20, 3)):
        p = raw.TransformIndexToPhysicalPoint([int(v) for v in idx])
        j = ct.TransformPhysicalPointToIndex(p)
        assert ct.GetPixel(j) == pytest.approx(max(raw.GetPixel([int(v) for v in idx]), -1024.0))
    assert ct.GetOrigin()[0] == pytest.approx(raw.GetOrigin()[0] - 121 * 3.0)


def test_targets_hold_their_organs(abdomen):
    _, ct = abdomen
    arr = sitk.GetArrayViewFromImage(ct)

    def median_hu(name):
        c, _ = organ_ellipsoid_lps(name)
        i = ct.TransformPhysicalPointToIndex(tuple(c))
        return float(np.median(arr[i[2] - 1 : i[2] + 2, i[1] - 1 : i[1] + 2, i[0] - 1 : i[0] + 2]))

    assert -10 < median_hu("bladder") < 30  # urine
    assert 15 < median_hu("kidney_left") < 60  # renal parenchyma
    assert median_hu("lumbar_vertebra") > 120  # trabecular bone
    assert set(ORGANS) == {"kidney_left", "kidney_right", "bladder", "lumbar_vertebra"}


def test_gas_changes_only_inside_its_sphere_and_repeats(abdomen):
    _, ct = abdomen
    center, radius = organ_ellipsoid_lps("kidney_left")[0], 90.0
    out = change_gas(ct, center, radius, seed=7)
    a, b = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(out)
    from igrt.synth.organ_motion import voxel_points_lps

    far = np.linalg.norm(voxel_points_lps(ct) - center, axis=-1) > radius
    assert np.array_equal(a[far], b[far])
    changed = a != b
    assert (changed & (a < GAS_HU)).sum() > 500  # gas filled with bowel content
    assert (changed & (b < GAS_HU)).sum() > 500  # new gas where there was tissue
    assert np.array_equal(sitk.GetArrayFromImage(change_gas(ct, center, radius, seed=7)), b)
