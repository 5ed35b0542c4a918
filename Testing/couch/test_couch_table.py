"""The committed table of hand-worked couch corrections (Testing/data/couch/hand_worked.json).

The expected numbers and their derivations are written in the data file, worked from the IEC 61217
axes by hand; here we only rebuild each displacement and compare ``couch_correction`` with them.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from igrt import geometry
from igrt.couch.correction import ORIENTATIONS, couch_correction, table_top_from_lps

TABLE = json.loads((Path(__file__).parents[1] / "data" / "couch" / "hand_worked.json").read_text())
ISO = np.asarray(TABLE["isocenter_lps"], float)


def _displacement(case):
    r = np.eye(3)
    for step in case["rotations"]:
        r = geometry.axis_angle_rotation(step["axis_lps"], step["deg"]) @ r  # first listed, first applied
    return geometry.rigid_about_point(r, ISO, case["translation_at_isocenter_lps"])


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_hand_worked_case(case):
    target = None if "target_offset_lps" not in case else ISO + case["target_offset_lps"]
    c = couch_correction(
        _displacement(case), ISO, case["orientation"], case["couch"], case.get("max_rotation_deg"), target
    )
    exp = case["expected"]
    for key in (
        "lateral_mm",
        "longitudinal_mm",
        "vertical_mm",
        "rotation_deg",
        "pitch_deg",
        "roll_deg",
        "residual_at_isocenter_mm",
        "residual_at_target_mm",
    ):
        if key in exp:
            assert c[key] == pytest.approx(exp[key], abs=1e-6), key
    if "uncorrected_rotation_deg" in exp:
        assert c["uncorrected_rotation_deg"]["rotation_deg"] == pytest.approx(exp["uncorrected_rotation_deg"])
    if "uncorrected_pitch_deg" in exp:
        assert c["uncorrected_rotation_deg"]["pitch_deg"] == pytest.approx(exp["uncorrected_pitch_deg"])
    if "uncorrected_roll_deg" in exp:
        assert c["uncorrected_rotation_deg"]["roll_deg"] == pytest.approx(exp["uncorrected_roll_deg"])
    assert c["sense"] == "couch moves"


def test_table_covers_every_orientation_and_couch():
    names = {(c["orientation"], c["couch"]) for c in TABLE["cases"]}
    assert {o for o, _ in names} == set(ORIENTATIONS)
    assert {k for _, k in names} == {"6dof", "4dof", "3dof"}
    assert any("max_rotation_deg" in c for c in TABLE["cases"])
    kinds = ("pure translation", "pure couch rotation", "pitch and roll", "combined")
    have = {c["name"] for c in TABLE["cases"]}
    assert {f"{o} {k}" for o in ORIENTATIONS for k in kinds} <= have
    assert all(c["derivation"].strip() for c in TABLE["cases"])


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_table_top_axes_by_hand(orientation):
    # Each IEC 61217 table-top axis (Xt right of the observer at the couch foot facing the gantry, Yt
    # towards the gantry, Zt up) as the LPS direction derived by hand in the table: a table-top
    # component is the LPS vector dotted with that axis.
    axes = TABLE["table_top_axes_lps"][orientation]
    p = table_top_from_lps(orientation)
    for row, name in enumerate(("Xt", "Yt", "Zt")):
        np.testing.assert_array_equal(p[row], axes[name], err_msg=f"{orientation} {name}")
    assert np.cross(axes["Xt"], axes["Yt"]).tolist() == axes["Zt"]  # right-handed


angles = st.floats(-8, 8, allow_nan=False)
shifts = st.floats(-25, 25, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(angles, angles, angles),
    st.tuples(shifts, shifts, shifts),
    st.sampled_from(["HFS", "HFP", "FFS", "FFP"]),
)
def test_full_correction_restores_the_anatomy(rot, shift, orientation):
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(*rot), ISO, shift)
    c = couch_correction(m, ISO, orientation, "6dof")
    pts = ISO + np.random.default_rng(0).uniform(-100, 100, (10, 3))
    after = np.asarray(c["couch_matrix_lps"]) @ m
    assert np.abs(geometry.apply(after, pts) - pts).max() <= 1e-6


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(angles, angles, angles),
    st.tuples(shifts, shifts, shifts),
    st.sampled_from(["4dof", "3dof"]),
    st.tuples(shifts, shifts, shifts),
    st.floats(0, 5),
)
def test_limited_couch_exact_at_target_and_honest_residual(rot, shift, couch, offset, limit):
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(*rot), ISO, shift)
    target = ISO + np.asarray(offset)
    c = couch_correction(m, ISO, "HFS", couch, limit, target)
    after = np.asarray(c["couch_matrix_lps"]) @ m
    assert np.linalg.norm(geometry.displacement_at(after, target)) <= 1e-6
    assert c["residual_at_isocenter_mm"] == pytest.approx(
        np.linalg.norm(geometry.displacement_at(after, ISO)), abs=1e-9
    )
