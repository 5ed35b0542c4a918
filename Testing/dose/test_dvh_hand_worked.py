"""DVH metrics and the dose impact of a setup error on hand-worked cases (linear dose, box structures).

Dose = 10 Gy + 0.1 Gy/mm · x (LPS x): trilinear interpolation reproduces it exactly, so the mean dose of
a structure is the dose at its centroid and a rigid move changes the mean by slope × the centroid's x move.
"""

from __future__ import annotations

import numpy as np
import pytest
from dose_fixtures import FOR_UID, box_contours, linear_x_dose, make_dose

from igrt import geometry
from igrt.couch.workflow import couch_shift
from igrt.dose.corrections import placement_from_document
from igrt.dose.dvh import dvh_curve, dvh_metrics, dvh_step_gy
from igrt.dose.model import Structure, StructureSet
from igrt.dose.workflow import compute_dvh, compute_impact
from igrt.errors import IGRTInputError

SLOPE = 0.1  # Gy/mm


def _cube_set(center=(0.0, 0.0, 0.0), half=10.0, name="cube"):
    cx, cy, cz = center
    planes = np.arange(cz - half, cz + half + 1e-9, 2.5)
    box = Structure(
        name,
        contours=box_contours(cx - half, cx + half, cy - half, cy + half, planes),
        slab_mm=2.5,
        frame_of_reference_uid=FOR_UID,
    )
    return StructureSet([box], path="memory", frame_of_reference_uid=FOR_UID)


def _result(matrix, iso=(0.0, 0.0, 0.0)):
    return {
        "schema_version": "1.0",
        "kind": "igrt.match",
        "matrix_lps": np.asarray(matrix, float).tolist(),
        "planning_isocenter_lps": list(iso),
        "orientation": "HFS",
    }


def _capped_cube_x_cdf(x, half=10.0, slab=2.5):
    """Volume (mm³) of the capped cube below x (mm). The body holds 4·half² per mm of x; a cone cap's
    section at scale s is 2·half·s wide in y and lies at |x| ≤ half·s, its height per ds is slab/2, so the
    two caps hold slab·half·(1 − x²/half²) per mm of x."""
    body = 4 * half**2 * (x + half)
    caps = slab * half * ((x + half) - (x**3 + half**3) / (3 * half**2))
    return body + caps


def test_metrics_of_a_uniform_spread_of_doses():
    """Dose 10 + 0.1·x over a 20 mm cube (planes z = −10 … 10, slab 2.5) closed by a cone cap at each end.

    Density in x: 400 mm³/mm from the body plus 25·(1 − x²/100) from the two caps, so V = 8000 + 333.3 mm³,
    the mean and D50 are 10 Gy (symmetric), and D_p = 10 + 0.1·x_p where the volume below x_p is
    (1 − p/100)·V (a cubic, solved here). Sampled at h = 0.25 mm each cap has 5 midpoint sub-planes, so its
    volume is A·(slab/2)·(1/3 − 1/(12·5²)): 8000 + 2·400·1.25·0.33 = 8330 mm³ exactly; the doses differ
    from the continuous ones by the caps' discretisation (< 1e-3 Gy).
    """
    doc = compute_dvh(linear_x_dose(SLOPE), _cube_set(), v_doses_gy=[10.0, 10.5])
    (row,) = doc["structures"]
    m = row["metrics"]
    assert row["volume_cc"] == pytest.approx(8.33, rel=1e-9)
    volume = _capped_cube_x_cdf(10.0)
    assert volume == pytest.approx(8000 + 2 * 400 * 2.5 / 6)
    for p in (98, 95, 2):
        xs = np.linspace(-10, 10, 200001)
        x_p = np.interp((1 - p / 100) * volume, _capped_cube_x_cdf(xs), xs)
        assert m[f"D{p}_gy"] == pytest.approx(10 + SLOPE * x_p, abs=1e-3), p
    assert m["D98_gy"] == pytest.approx(9.0416, abs=1e-3)  # by hand: 400δ + 2.5δ² − δ³/12 = 166.7, δ = 0.4156
    assert m["mean_gy"] == pytest.approx(10.0, abs=1e-5)
    assert m["D50_gy"] == pytest.approx(10.0, abs=1e-5)
    # the hottest 0.03 cc lies inside the top sample column (0.1 cc at h = 0.25 mm): resolved to h·slope/2
    assert row["sample_spacing_mm"] == 0.25
    assert m["D0.03cc_gy"] == pytest.approx(11 - 0.1 * 30 / 400, abs=0.25 * SLOPE / 2)
    assert m["min_gy"] == pytest.approx(9.0, abs=0.02) and m["max_gy"] == pytest.approx(11.0, abs=0.02)
    assert m["V10Gy_pct"] == pytest.approx(50.0, abs=0.01)
    assert m["V10Gy_cc"] == pytest.approx(8.33 / 2, abs=1e-3)
    above_5 = volume - _capped_cube_x_cdf(5.0)  # x > 5 mm: 2125 − 72.9 mm³ = 24.62 %
    assert m["V10.5Gy_pct"] == pytest.approx(100 * above_5 / volume, abs=0.02)
    curve = row["dvh"]
    assert curve["volume_pct"][0] == 100.0 and curve["volume_pct"][-1] == 0.0
    assert np.all(np.diff(curve["volume_pct"]) <= 0)
    k = curve["dose_gy"].index(10.0)
    assert curve["volume_pct"][k] == pytest.approx(50.0, abs=0.01)


def test_dvh_step_and_curve_edges():
    assert dvh_step_gy(47.07) == pytest.approx(0.05)
    assert dvh_step_gy(2.0) == pytest.approx(0.002)
    c = dvh_curve(np.array([1.0, 2.0, 3.0, 4.0]), 1.0)
    assert c == {
        "dose_gy": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        "volume_pct": [100.0, 100.0, 75.0, 50.0, 25.0, 0.0],
    }
    m = dvh_metrics(np.full(100, 50.0), 0.1)
    assert {m[k] for k in ("min_gy", "mean_gy", "max_gy", "D98_gy", "D2_gy")} == {50.0}
    assert m["D0.03cc_gy"] is None  # a 0.01 cc structure has no hottest 0.03 cc


def test_anatomy_displaced_5_mm_left_raises_the_mean_by_5_times_the_slope():
    """Issue 11 acceptance: displaced by +5 mm in x (patient's left), the cube's mean rises by 0.5 Gy."""
    placement = placement_from_document(_result(geometry.rigid_matrix(translation=(5.0, 0.0, 0.0))))
    doc = compute_impact(linear_x_dose(SLOPE), _cube_set(), [placement])
    (row,) = doc["structures"]
    assert row["planned"]["mean_gy"] == pytest.approx(10.0, abs=1e-5)
    assert row["fraction"]["mean_gy"] == pytest.approx(10.5, abs=1e-5)
    assert row["delta"]["mean_gy"] == pytest.approx(5 * SLOPE, abs=1e-6)
    assert row["delta"]["D50_gy"] == pytest.approx(0.5, abs=1e-5)
    assert "static dose cloud" in doc["approximation"] and placement.correction == "none"


def test_full_6dof_correction_gives_back_the_plan_and_3dof_leaves_the_rotation():
    """M: 3° about LPS z and (2, −3, 4) mm at the isocenter (0, 0, 0); cube centred 40 mm posterior of it.

    6-DOF: C·M = I, the planned DVH. 3-DOF: the residual is the 3° rotation about the isocenter; the cube
    centroid (0, 40, 0) goes to (−40·sin 3°, 40·cos 3°, 0), so its mean falls by 0.1·40·sin 3° = 0.20934 Gy.
    """
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 3.0), (0, 0, 0), (2.0, -3.0, 4.0))
    dose = linear_x_dose(SLOPE, n=(121, 141, 61), origin=(-60.0, -40.0, -30.0))
    cube = _cube_set(center=(0.0, 40.0, 0.0))
    uncorrected = placement_from_document(_result(m))
    six = placement_from_document(couch_shift(_result(m), couch="6dof"))
    three = placement_from_document(couch_shift(_result(m), couch="3dof"))
    np.testing.assert_allclose(six.matrix_lps, np.eye(4), atol=1e-9)
    doc = compute_impact(dose, cube, [six])
    (row,) = doc["structures"]
    for k, v in row["delta"].items():
        assert v == pytest.approx(0.0, abs=1e-6), k
    doc3 = compute_impact(dose, cube, [three])
    assert doc3["structures"][0]["delta"]["mean_gy"] == pytest.approx(
        -0.1 * 40 * np.sin(np.radians(3)), abs=1e-5
    )
    assert three.correction == "couch 3dof"
    before = compute_impact(dose, cube, [uncorrected])["structures"][0]["delta"]["mean_gy"]
    x_move = geometry.apply(m, [0.0, 40.0, 0.0])[0]  # the centroid's x after M: 2 − 40 sin 3°
    assert before == pytest.approx(SLOPE * x_move, abs=1e-5)


def test_course_accumulation_averages_the_fractions():
    """Three fractions displaced by +3, 0 and −6 mm in x: the course mean moves by 0.1·(3+0−6)/3 = −0.1 Gy."""
    shifts = [3.0, 0.0, -6.0]
    placements = [
        placement_from_document(_result(geometry.rigid_matrix(translation=(s, 0, 0))), f"fx{i}")
        for i, s in enumerate(shifts)
    ]
    doc = compute_impact(linear_x_dose(SLOPE), _cube_set(), placements, fractions=3)
    assert doc["structures"][0]["delta"]["mean_gy"] == pytest.approx(-0.1, abs=1e-6)
    per = [f["structures"][0]["metrics"]["mean_gy"] for f in doc["per_fraction"]]
    assert per == pytest.approx([10.3, 10.0, 9.4], abs=1e-5)
    with pytest.raises(IGRTInputError, match="--fractions 5 but 3 fraction results"):
        compute_impact(linear_x_dose(SLOPE), _cube_set(), placements, fractions=5)


def test_structure_outside_or_partly_outside_the_dose_grid():
    dose = make_dose(np.full((20, 20, 20), 2.0), origin=(0.0, 0.0, 0.0))  # voxels span −0.5 … 19.5 mm
    far = _cube_set(center=(100.0, 100.0, 100.0), half=5.0, name="far")
    with pytest.raises(IGRTInputError, match="lies outside the dose grid"):
        compute_dvh(dose, far, names=["far"])
    half_in = _cube_set(center=(19.5, 10.0, 10.0), half=5.0, name="edge")  # x 14.5 … 24.5
    doc = compute_dvh(dose, half_in)
    row = doc["structures"][0]
    assert row["covered_fraction"] == pytest.approx(0.5, abs=0.01)
    assert any("50.0 % inside the dose grid" in w for w in doc["warnings"])
    # the whole structure's volume: 10 mm cube, 5-sub-plane cone caps of 100 mm² (h = 0.25): 1000 + 2·100·1.25·0.33
    assert row["volume_cc"] == pytest.approx(1.0825, rel=1e-9)
    with pytest.raises(IGRTInputError, match="no structure 'nope'"):
        compute_dvh(dose, half_in, names=["nope"])


def test_metrics_read_off_another_systems_table(tmp_path):
    """A linear cumulative DVH 100 % at 40 Gy → 0 % at 50 Gy: D_p = 50 − p/10, mean 45; a corrupt row dropped."""
    from igrt.dose.dvh import metrics_from_curve
    from igrt.io.dvh_table import read_dvh_table

    rows = ["PTV_DvhArray Dose (Gy),PTV_DvhArray Value (% of 20.0 cc),"]
    rows += [f"{d:g},{100.0 if d <= 40 else max(0.0, 100 - 10 * (d - 40)):g}" for d in range(0, 52)]
    rows.insert(46, "0.00045,50")  # 45 Gy written wrongly, as in SlicerRT's copy of the Eclipse table
    (tmp_path / "dvh.csv").write_text("\n".join(rows) + "\n")
    table = read_dvh_table(tmp_path / "dvh.csv")
    assert table["PTV"]["volume_cc"] == 20.0 and table["PTV"]["dropped_rows"] == 1
    m = metrics_from_curve(table["PTV"]["dose_gy"], table["PTV"]["volume_pct"], 20.0)
    assert m["mean_gy"] == pytest.approx(45.0)
    assert (m["D98_gy"], m["D50_gy"], m["D2_gy"]) == pytest.approx((40.2, 45.0, 49.8))
    assert (m["min_gy"], m["max_gy"]) == (40.0, 50.0)
    assert m["D0.03cc_gy"] == pytest.approx(50 - 0.15 / 10)  # 0.03 cc of 20 cc = 0.15 %
