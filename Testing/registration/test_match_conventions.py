"""Known-transform tests of the daily match direction and sense (docs/CONVENTIONS.md), hand-worked expectations."""

import numpy as np
import pytest

from conftest import move_patient
from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.registration.match import MatchFailedError, MatchOptions, run_match
from igrt.volume import Volume

ISO = None


def _iso(img):
    return np.array(img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.GetSize()])) + [
        4,
        -6,
        3,
    ]


def _match(planning, daily, method="auto", **kw):
    iso = _iso(planning)
    opts = MatchOptions(
        method=method,
        planning_isocenter_lps=iso,
        daily_isocenter_lps=iso,
        clip_box_mm=(180, 150, 140),
        soft_box_mm=(120, 110, 110),
        **kw,
    )
    return run_match(Volume(planning, "planning"), Volume(daily, "daily"), opts)


def test_patient_moved_5mm_left_gives_plus_x(block_phantom):
    # The patient lies 5 mm further to their left in the daily image: LPS +x, i.e. (+5, 0, 0).
    m = geometry.rigid_matrix(translation=(5, 0, 0))
    daily = move_patient(block_phantom, m, hu_scale=0.9, hu_offset=40, noise=15)
    res = _match(block_phantom, daily)
    np.testing.assert_allclose(res.translation_mm, [5, 0, 0], atol=0.15)
    np.testing.assert_allclose(res.rotation_deg, [0, 0, 0], atol=0.1)
    d = res.to_dict()
    assert d["schema_version"] and d["couch"]["sense"] == "couch moves"
    # HFS: the couch moves 5 mm towards the patient's right = IEC table-top -X (lateral).
    assert d["couch"]["lateral_mm"] == pytest.approx(-5, abs=0.15)


def test_two_degree_rotation_about_isocenter(block_phantom):
    # 2° right-handed about LPS z (superior) about the isocenter: rotation (0, 0, 2), zero translation there.
    iso = _iso(block_phantom)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 2), iso)
    daily = move_patient(block_phantom, m, noise=10)
    res = _match(block_phantom, daily, method="bone")
    np.testing.assert_allclose(res.rotation_deg, [0, 0, 2], atol=0.05)
    np.testing.assert_allclose(res.translation_mm, [0, 0, 0], atol=0.15)


def test_combined_6dof_round_trip(block_phantom):
    iso = _iso(block_phantom)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(-1.5, 2.5, 1.0), iso, (-8, 12, 6))
    res = _match(block_phantom, move_patient(block_phantom, m, hu_scale=1.1, noise=10))
    np.testing.assert_allclose(geometry.apply(res.matrix_lps, iso), geometry.apply(m, iso), atol=0.3)
    np.testing.assert_allclose(res.matrix_lps[:3, :3], m[:3, :3], atol=2e-3)


def test_capture_range_20mm_5deg(block_phantom):
    iso = _iso(block_phantom)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(3, -3, 5), iso, (20, -12, 10))
    res = _match(block_phantom, move_patient(block_phantom, m, noise=10))
    np.testing.assert_allclose(geometry.apply(res.matrix_lps, iso), geometry.apply(m, iso), atol=0.4)


def test_clearly_failed_match_is_refused(block_phantom):
    # A daily image of noise only: the match must not be reported.
    rng = np.random.default_rng(0)
    import SimpleITK as sitk

    noise = sitk.GetImageFromArray(
        rng.normal(0, 300, sitk.GetArrayViewFromImage(block_phantom).shape).astype(np.float32)
    )
    noise.CopyInformation(block_phantom)
    with pytest.raises(MatchFailedError):
        _match(block_phantom, noise)


def test_unknown_method_refused(block_phantom):
    with pytest.raises(IGRTInputError):
        _match(block_phantom, block_phantom, method="magic")
