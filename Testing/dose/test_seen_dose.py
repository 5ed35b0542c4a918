"""The dose seen by the planned anatomy (static dose cloud: a planned point p receives the planned dose at
M·p), on the dose grid for another DVH engine, and the dose-impact document built from another engine's
curves. Hand-worked: a dose rising 0.1 Gy/mm along LPS x, anatomy displaced +5 mm in x → +0.5 Gy
everywhere it stays on the grid; a dose equal to x, the anatomy turned 90° about z → the dose −y."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from dose_fixtures import linear_x_dose, make_dose

from igrt import geometry
from igrt.dose.corrections import AnatomyPlacement
from igrt.dose.dvh import dose_at_points, dvh_curve
from igrt.dose.model import Structure, StructureSet
from igrt.dose.sampling import sample_structure
from igrt.dose.seen_dose import dose_seen_by_planned_anatomy
from igrt.dose.workflow import CORE_ENGINE, check_for_curves, compute_impact, impact_from_curves
from igrt.errors import IGRTInputError


def _placement(matrix):
    return AnatomyPlacement(np.asarray(matrix, float), "test", "none", "patient is displaced by the matrix")


def test_identity_gives_the_planned_dose_voxel_for_voxel():
    dose = linear_x_dose(0.1)
    seen = dose_seen_by_planned_anatomy(dose, np.eye(4))
    np.testing.assert_allclose(seen.array(), dose.array(), rtol=0, atol=1e-9)
    assert seen.image.GetOrigin() == dose.image.GetOrigin() and seen.units == dose.units


def test_displaced_5_mm_left_sees_half_a_gray_more_and_zero_beyond_the_grid():
    dose = linear_x_dose(0.1)  # 10 + 0.1·x Gy, voxel centres x = −40 … 40 mm
    placed = dose_seen_by_planned_anatomy(dose, geometry.rigid_matrix(translation=(5.0, 0.0, 0.0)))
    seen = placed.array()  # a view of placed.image: keep placed alive
    x = -40.0 + np.arange(81)
    stays = x + 5.0 <= 40.0  # M·p still on the grid
    np.testing.assert_allclose(seen[:, :, stays], dose.array()[:, :, stays] + 0.5, atol=1e-5)
    assert np.all(seen[:, :, ~stays] == 0.0)  # moved off the grid (x ≥ 36): 0 Gy, as the core's fraction DVH


def test_turned_90_degrees_about_z_sees_the_dose_at_the_turned_point():
    """Dose = 50 + x; Rz(90°) takes p = (x, y, z) to (−y, x, z): the planned point sees 50 − y."""
    n = 21
    x = np.arange(n) - 10.0
    dose = make_dose(np.broadcast_to(50.0 + x, (n, n, n)).astype(np.float32), (-10.0,) * 3, (1.0,) * 3)
    seen = dose_seen_by_planned_anatomy(dose, geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 90)))
    y = (np.arange(n) - 10.0)[None, :, None]
    np.testing.assert_allclose(seen.array(), np.broadcast_to(50.0 - y, (n, n, n)), atol=1e-4)


def _cube():
    """A 20 mm cube mask (x, y, z ∈ [−10, 10) mm) on a 1 mm grid, voxel centres −9.5 … 9.5."""
    mask = sitk.Image(20, 20, 20, sitk.sitkUInt8) + 1
    mask.SetOrigin((-9.5, -9.5, -9.5))
    return StructureSet([Structure("cube", mask=mask, color=(255, 0, 0))], path="memory")


def test_curves_of_the_seen_dose_give_the_core_document():
    """Another engine's curves (here: curves of D and of the seen dose on the core's samples) through
    impact_from_curves give the core's metrics, with the same keys: the grid rule (seen dose) and the
    point rule (compute_impact) are one rule."""
    dose = linear_x_dose(0.1, origin=(-40.5, -30.5, -30.5))
    structures = _cube()
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 2.0), (0, 0, 0), (5.0, 0.0, 0.0))
    core = compute_impact(dose, structures, [_placement(m)], spacing_mm=0.5)
    points = sample_structure(structures.structures[0], 0.5).points
    step = 0.01
    curves = [
        {
            "name": "cube",
            "color": (255, 0, 0),
            "volume_cc": 8.0,
            "planned": dvh_curve(dose_at_points(dose, points)[0], step),
            "fraction": dvh_curve(dose_at_points(dose_seen_by_planned_anatomy(dose, m), points)[0], step),
        }
    ]
    other = impact_from_curves(check_for_curves(dose, structures, _placement(m)), curves, "another engine")
    (a,), (b,) = core["structures"], other["structures"]
    assert core["dvh_engine"] == CORE_ENGINE and a["dvh_engine"] == {
        "planned": CORE_ENGINE,
        "fraction": CORE_ENGINE,
    }
    assert other["dvh_engine"] == "another engine" and b["dvh_engine"]["fraction"] == "another engine"
    assert set(b["planned"]) == set(a["planned"]) and other["approximation"] == core["approximation"]
    assert b["delta"]["mean_gy"] == pytest.approx(0.5, abs=1e-3)  # 5 mm × 0.1 Gy/mm
    # a curve resolves the samples' dose levels (0.1 Gy/mm × 0.5 mm apart), the core's metrics place each
    # level at its volume's middle: within half a level plus a curve step
    tol = 0.1 * 0.5 / 2 + step
    for role in ("planned", "fraction"):
        for key in ("mean_gy", "D98_gy", "D95_gy", "D50_gy", "D2_gy"):
            assert b[role][key] == pytest.approx(a[role][key], abs=tol), (role, key)
    assert other["dvh_step_gy"] == pytest.approx(step)
    assert b["covered_fraction"] == a["covered_fraction"] == 1.0 and other["warnings"] == core["warnings"]


def test_the_checks_before_another_engine_name_what_lies_or_moves_outside_the_dose_grid():
    """The cube x ∈ [−10, 10) on a dose grid whose last voxel centre is x = 4.5 (face at 5 mm): 75 % of it
    inside; displaced 5 mm left, the inside part beyond x = 0 moves outside (0 Gy taken there)."""
    dose = linear_x_dose(0.1, n=(45, 61, 61), origin=(-39.5, -30.5, -30.5))  # x centres −39.5 … 4.5
    checked = check_for_curves(dose, _cube(), _placement(geometry.rigid_matrix(translation=(5.0, 0, 0))))
    assert [s.name for s in checked.inside] == ["cube"] and checked.covered["cube"] == pytest.approx(0.75)
    assert any("only 75.0 % inside the dose grid" in w for w in checked.warnings)
    # of the 15 inside voxel columns (x = −9.5 … 4.5) only x + 5 ≤ 5 stays after +5 mm: 10, so 1/3 moves out
    assert any("33.3 % of 'cube' moves outside the dose grid" in w for w in checked.warnings)
    core = compute_impact(
        dose, _cube(), [_placement(geometry.rigid_matrix(translation=(5.0, 0, 0)))], spacing_mm=1.0
    )
    assert sorted(core["warnings"]) == sorted(checked.warnings)  # the same words as the core's own run
    far = _placement(geometry.rigid_matrix(translation=(0, 0, 0)))
    with pytest.raises(IGRTInputError, match="lies outside the dose grid"):
        check_for_curves(linear_x_dose(0.1, origin=(100.0, 0, 0)), _cube(), far, names=["cube"])
