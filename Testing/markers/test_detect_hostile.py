"""Marker detection on hostile input: a threshold that makes no sense is refused; NaN / infinite voxels
(outside the field of view or not) do not hide the markers (issue 10, items 8 and 9)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import block_with_markers
from igrt.errors import IGRTInputError
from igrt.markers.detect import detect_markers

CENTERS_INDEX = ((40.3, 34.6, 20.2), (52.7, 28.2, 16.9), (30.5, 45.1, 26.4))


@pytest.fixture(scope="module")
def ct():
    return block_with_markers(CENTERS_INDEX, size=(80, 70, 40), origin=(-40.0, -35.0, 220.0))


def assert_found(found, truth):
    assert len(found) == len(truth)
    for t in truth:
        assert min(np.linalg.norm(p - t) for p, _ in found) < 0.3


@pytest.mark.parametrize("threshold", [-500, -1, 0, 50, 99.9, 30001, 1e6, float("nan"), float("inf"), "high"])
def test_senseless_threshold_refused(ct, threshold):
    with pytest.raises(IGRTInputError, match="marker threshold .* makes no sense") as err:
        detect_markers(ct[0], threshold_hu=threshold)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("threshold", [100, 1300, 30000])
def test_thresholds_in_range_accepted(ct, threshold):
    found = detect_markers(ct[0], threshold_hu=threshold)
    assert len(found) == (0 if threshold == 30000 else 3)  # a 30 000 HU contrast: nothing shows it
    assert all(0 < c <= 1 for _, c in found)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("where", ["outside", "inside", "both"])
def test_non_finite_voxels_do_not_hide_the_markers(ct, bad, where):
    img, truth = ct
    arr = sitk.GetArrayFromImage(img)
    if where in ("outside", "both"):
        arr[:, :, :4] = bad  # the rim a reconstruction leaves outside its field of view
    if where in ("inside", "both"):
        arr[10, 20, 60] = bad  # one voxel in the body, away from the markers
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    assert_found(detect_markers(out), truth)
