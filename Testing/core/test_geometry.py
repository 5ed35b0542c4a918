"""Hand-worked checks of the frame conventions (docs/CONVENTIONS.md). Expected numbers are derived by hand."""

import numpy as np
import pytest

from igrt import geometry


def test_lps_to_ras_point_by_hand():
    # DICOM LPS (10, 20, 30): 10 mm left, 20 mm posterior, 30 mm superior = RAS (-10, -20, 30).
    assert geometry.lps_to_ras_point([10, 20, 30]).tolist() == [-10, -20, 30]
    assert geometry.ras_to_lps_point([-10, -20, 30]).tolist() == [10, 20, 30]


def test_ras_lps_matrix_round_trip_and_meaning():
    # A 5 mm shift to the patient's left is +x in LPS and -x (R is +) in RAS.
    m_lps = geometry.rigid_matrix(translation=(5, 0, 0))
    m_ras = geometry.lps_to_ras_matrix(m_lps)
    assert m_ras[:3, 3].tolist() == [-5, 0, 0]
    rng = np.random.default_rng(3)
    r = geometry.rotation_xyz_deg(*rng.uniform(-10, 10, 3))
    m = geometry.rigid_about_point(r, [3, -40, 120], [1, 2, 3])
    np.testing.assert_allclose(geometry.ras_to_lps_matrix(geometry.lps_to_ras_matrix(m)), m, atol=1e-12)
    p = np.array([12.0, -7.0, 33.0])
    # Same physical motion in either frame: map the point in RAS and convert back.
    np.testing.assert_allclose(
        geometry.ras_to_lps_point(
            geometry.apply(geometry.lps_to_ras_matrix(m), geometry.lps_to_ras_point(p))
        ),
        geometry.apply(m, p),
        atol=1e-12,
    )


def test_rotation_about_z_by_hand():
    # +90° about LPS z (superior, right-handed) takes the +x axis (left) to +y (posterior).
    r = geometry.rotation_xyz_deg(0, 0, 90)
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    # +90° about x takes +y (posterior) to +z (superior).
    np.testing.assert_allclose(geometry.rotation_xyz_deg(90, 0, 0) @ [0, 1, 0], [0, 0, 1], atol=1e-12)


def test_axis_angle_by_hand():
    # +90° about +z takes +x to +y; −90° about the anterior axis (LPS −y) equals +90° about +y: z → x.
    np.testing.assert_allclose(geometry.axis_angle_rotation((0, 0, 2), 90) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(
        geometry.axis_angle_rotation((0, -1, 0), -90) @ [0, 0, 1], [1, 0, 0], atol=1e-12
    )
    np.testing.assert_allclose(geometry.axis_angle_rotation((1, 0, 0), 7), geometry.rotation_xyz_deg(7, 0, 0))


@pytest.mark.parametrize("angles", [(1.0, -2.0, 3.0), (-4.5, 0.5, 0.0), (0.0, 0.0, -7.0)])
def test_angles_round_trip(angles):
    np.testing.assert_allclose(
        geometry.angles_xyz_deg(geometry.rotation_xyz_deg(*angles)), angles, atol=1e-10
    )


def test_rigid_about_point_moves_center_by_translation():
    c = np.array([10.0, -20.0, 150.0])
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(2, 0, 0), c, (1, 2, 3))
    np.testing.assert_allclose(geometry.displacement_at(m, c), [1, 2, 3], atol=1e-12)
    # A point 100 mm superior of c is rotated by 2° about x: y changes by -100·sin(2°).
    p = c + [0, 0, 100]
    expected = c + [1, 2, 3] + [0, -100 * np.sin(np.radians(2)), 100 * np.cos(np.radians(2))]
    np.testing.assert_allclose(geometry.apply(m, p), expected, atol=1e-9)


def test_is_rigid():
    assert geometry.is_rigid(np.eye(4))
    assert not geometry.is_rigid(np.diag([1, 1, -1, 1]))  # reflection
    assert not geometry.is_rigid(np.diag([1.01, 1, 1, 1]))  # scaling


def test_isocenter_pairing_by_hand():
    # Planning isocenter (10, 20, 30); the CBCT's own frame has the treatment isocenter at (0, 0, 0).
    # The patient lies 5 mm to their left (M: +5 in x): the anatomy planned at the isocenter is seen in
    # the CBCT at (10+5, 20, 30) − (10, 20, 30) + (0, 0, 0) = (5, 0, 0).
    m = geometry.rigid_matrix(translation=(5, 0, 0))
    a = geometry.planning_to_daily(m, (10, 20, 30), (0, 0, 0))
    np.testing.assert_allclose(geometry.apply(a, (10, 20, 30)), (5, 0, 0))
    np.testing.assert_allclose(geometry.result_from_planning_to_daily(a, (10, 20, 30), (0, 0, 0)), m)
    # No daily isocenter: the same frame.
    np.testing.assert_allclose(geometry.planning_to_daily(m, (10, 20, 30), None), m)
