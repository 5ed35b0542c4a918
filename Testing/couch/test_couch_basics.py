"""Hand-worked 6-DOF couch corrections (docs/CONVENTIONS.md, IEC 61217 table-top axes), one per sign.

Derivations: the couch moves by C = M⁻¹. IEC patient (L, S, A) = (x, z, −y) of LPS; table top from IEC
patient: HFS I, HFP diag(−1,1,−1), FFS diag(−1,−1,1), FFP diag(1,−1,−1).
"""

import numpy as np
import pytest

from igrt import geometry
from igrt.couch.correction import full_couch_correction, table_top_from_lps
from igrt.errors import IGRTInputError

ISO = np.array([12.0, -30.0, 250.0])


@pytest.mark.parametrize(
    ("orientation", "lateral"),
    # Patient displaced 5 mm to their left: couch moves 5 mm towards the patient's right.
    # HFS: patient right = observer's left = −Xt. HFP/FFS: the patient's right is on the observer's right: +Xt.
    [("HFS", -5.0), ("HFP", +5.0), ("FFS", +5.0), ("FFP", -5.0)],
)
def test_lateral_sign_per_orientation(orientation, lateral):
    c = full_couch_correction(geometry.rigid_matrix(translation=(5, 0, 0)), ISO, orientation)
    assert c["lateral_mm"] == pytest.approx(lateral)
    assert c["longitudinal_mm"] == pytest.approx(0) and c["vertical_mm"] == pytest.approx(0)
    assert c["sense"] == "couch moves"


def test_superior_and_anterior_displacement_hfs():
    # 4 mm superior (LPS +z): the couch moves 4 mm away from the gantry (−Yt).
    # 3 mm anterior (LPS −y): the couch moves 3 mm down (−Zt).
    c = full_couch_correction(geometry.rigid_matrix(translation=(0, -3, 4)), ISO, "HFS")
    assert (c["lateral_mm"], c["longitudinal_mm"], c["vertical_mm"]) == pytest.approx((0, -4, -3))
    c = full_couch_correction(geometry.rigid_matrix(translation=(0, -3, 4)), ISO, "FFS")
    assert (c["longitudinal_mm"], c["vertical_mm"]) == pytest.approx((4, -3))


@pytest.mark.parametrize(
    ("axis_lps", "key"),
    # HFS: Zt (up) = anterior = LPS −y; Xt = LPS +x (pitch); Yt = LPS +z (roll).
    [((0, -1, 0), "rotation_deg"), ((1, 0, 0), "pitch_deg"), ((0, 0, 1), "roll_deg")],
)
def test_rotation_axes_hfs(axis_lps, key):
    # Anatomy rotated +2° (right-handed) about the axis, about the isocenter: the couch turns −2° about it.
    m = geometry.rigid_about_point(geometry.axis_angle_rotation(axis_lps, 2.0), ISO)
    c = full_couch_correction(m, ISO, "HFS")
    for k in ("rotation_deg", "pitch_deg", "roll_deg"):
        assert c[k] == pytest.approx(-2.0 if k == key else 0.0, abs=1e-9)
    assert np.allclose([c["lateral_mm"], c["longitudinal_mm"], c["vertical_mm"]], 0, atol=1e-9)


def test_full_correction_restores_anatomy():
    rng = np.random.default_rng(7)
    for orientation in ("HFS", "HFP", "FFS", "FFP"):
        r = geometry.rotation_xyz_deg(*rng.uniform(-4, 4, 3))
        m = geometry.rigid_about_point(r, ISO, rng.uniform(-10, 10, 3))
        c = full_couch_correction(m, ISO, orientation)
        p = table_top_from_lps(orientation)
        rz, rx, ry = (np.radians(c[k]) for k in ("rotation_deg", "pitch_deg", "roll_deg"))
        r_tt = (
            geometry.axis_angle_rotation((0, 0, 1), np.degrees(rz))
            @ geometry.axis_angle_rotation((1, 0, 0), np.degrees(rx))
            @ geometry.axis_angle_rotation((0, 1, 0), np.degrees(ry))
        )
        move_lps = p.T @ [c["lateral_mm"], c["longitudinal_mm"], c["vertical_mm"]]
        couch = geometry.rigid_about_point(p.T @ r_tt @ p, ISO, move_lps)
        pts = ISO + rng.uniform(-80, 80, (20, 3))
        np.testing.assert_allclose(geometry.apply(couch @ m, pts), pts, atol=1e-9)


def test_unknown_orientation_refused():
    with pytest.raises(IGRTInputError):
        table_top_from_lps("SUPINE")


def test_3dof_target_and_residual_by_hand():
    # Anatomy turned +2° about the vertical (HFS: anterior = LPS −y) about the isocenter, no shift.
    # A 3-DOF couch cannot turn: correcting at a target 100 mm superior of the isocenter moves the couch
    # so that target is exact; the isocenter then keeps 2·100·sin(1°) = 3.490 mm of error.
    m = geometry.rigid_about_point(geometry.axis_angle_rotation((0, -1, 0), 2.0), ISO)
    from igrt.couch.correction import couch_correction

    target = ISO + [0, 0, 100]
    c = couch_correction(m, ISO, "HFS", "3dof", target_lps=target)
    assert c["residual_at_target_mm"] == pytest.approx(0, abs=1e-9)
    assert c["residual_at_isocenter_mm"] == pytest.approx(200 * np.sin(np.radians(1)), abs=1e-9)
    # The target moved to x = 100·sin(−2°)… in LPS; the couch brings it back: +3.490 mm LPS x = +lateral (HFS).
    assert c["lateral_mm"] == pytest.approx(100 * np.sin(np.radians(2)), abs=1e-9)
    assert c["rotation_deg"] == 0 and c["uncorrected_rotation_deg"]["rotation_deg"] == pytest.approx(-2)


def test_rotation_limit_clamps_and_reports():
    from igrt.couch.correction import couch_correction

    m = geometry.rigid_about_point(geometry.axis_angle_rotation((1, 0, 0), 4.0), ISO, (1, 2, 3))
    c = couch_correction(m, ISO, "HFS", "6dof", max_rotation_deg=3.0)
    assert c["pitch_deg"] == pytest.approx(-3.0)
    assert c["uncorrected_rotation_deg"]["pitch_deg"] == pytest.approx(-1.0)
    assert c["residual_at_isocenter_mm"] == pytest.approx(0, abs=1e-9)
    c4 = couch_correction(m, ISO, "HFS", "4dof")
    assert c4["pitch_deg"] == 0 and c4["uncorrected_rotation_deg"]["pitch_deg"] == pytest.approx(-4.0)


def test_limited_dof_error_zero_at_target_random():
    from igrt.couch.correction import couch_correction

    rng = np.random.default_rng(11)
    for _ in range(50):
        m = geometry.rigid_about_point(
            geometry.rotation_xyz_deg(*rng.uniform(-5, 5, 3)), ISO, rng.uniform(-15, 15, 3)
        )
        target = ISO + rng.uniform(-50, 50, 3)
        for couch in ("6dof", "4dof", "3dof"):
            c = couch_correction(m, ISO, "FFP", couch, max_rotation_deg=2.0, target_lps=target)
            after = np.asarray(c["couch_matrix_lps"]) @ m
            assert np.linalg.norm(geometry.displacement_at(after, target)) < 1e-6
            measured = np.linalg.norm(geometry.displacement_at(after, ISO))
            assert c["residual_at_isocenter_mm"] == pytest.approx(measured, abs=1e-9)


def test_nonsense_limits_refused():
    from igrt.couch.correction import couch_correction

    with pytest.raises(IGRTInputError):
        couch_correction(np.eye(4), ISO, "HFS", "6dof", max_rotation_deg=-1)
    with pytest.raises(IGRTInputError):
        couch_correction(np.eye(4), ISO, "HFS", "5dof")
