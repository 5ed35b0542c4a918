"""The daily match on simulated cone-beam CTs (RTK: truncation, noise, scatter, HU error) with known transforms."""

import numpy as np
import pytest

from igrt import geometry
from igrt.io.volumes import read_volume
from igrt.registration.match import MatchOptions, run_match
from igrt.synth.cases import tiny_case


def _errors(result, truth, iso):
    e = np.linalg.norm(geometry.apply(result.matrix_lps, iso) - geometry.apply(truth, iso))
    dr = result.matrix_lps[:3, :3] @ truth[:3, :3].T
    return e, np.degrees(np.arccos(np.clip((np.trace(dr) - 1) / 2, -1, 1)))


@pytest.mark.parametrize(
    ("translation", "rotation"),
    # The capture range the issue asks for: ±20 mm and ±5° from the isocenter alignment, every axis at once.
    [((20, -20, 20), (5, -5, 5)), ((-20, 15, -20), (-5, 5, -5))],
)
def test_capture_range_on_cbct(translation, rotation):
    iso = np.asarray(tiny_case().planning_isocenter_lps)
    truth = geometry.rigid_about_point(geometry.rotation_xyz_deg(*rotation), iso, translation)
    case = tiny_case(truth)
    planning, daily = read_volume(case.planning_path), read_volume(case.daily_path)
    options = MatchOptions(planning_isocenter_lps=iso, daily_isocenter_lps=case.daily_isocenter_lps)
    result = run_match(planning, daily, options)
    e, a = _errors(result, truth, iso)
    # The tiny case has 2.5 mm voxels: within a third of a voxel and half a degree.
    assert e < 0.8 and a < 0.6, (e, a)
    assert result.quality["similarity_after"] > result.quality["similarity_before"]
