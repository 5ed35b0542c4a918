"""Property tests (hypothesis) of the couch correction over all eight patient positions, and of the
tolerance verdicts and display profiles (which must never change the computed motion).

The couch motion is rebuilt here from the reported numbers only (table-top translation and the three
angles, R = Rz·Rx·Ry right-handed about Zt, Xt, Yt; DICOM PS3.3 C.8.8.14.12) with this file's own
rotation helper, so the test checks what a therapist would type into the couch, not an internal matrix.
"""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from igrt import geometry
from igrt.couch import tolerance
from igrt.couch.correction import ORIENTATIONS, couch_correction, table_top_from_lps
from igrt.couch.shift import residual_max_mm

ISO = np.array([-23.0, 41.0, -117.0])
KEYS = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")


def _couch_from_numbers(c, orientation):
    """The couch motion in LPS from the six reported numbers alone."""
    p = table_top_from_lps(orientation)
    r_tt = (
        geometry.axis_angle_rotation((0, 0, 1), c["rotation_deg"])
        @ geometry.axis_angle_rotation((1, 0, 0), c["pitch_deg"])
        @ geometry.axis_angle_rotation((0, 1, 0), c["roll_deg"])
    )
    move = p.T @ [c["lateral_mm"], c["longitudinal_mm"], c["vertical_mm"]]
    return geometry.rigid_about_point(p.T @ r_tt @ p, ISO, move)


angles = st.floats(-10, 10, allow_nan=False)
shifts = st.floats(-30, 30, allow_nan=False)
offsets = st.floats(-120, 120, allow_nan=False)
displacements = st.tuples(st.tuples(angles, angles, angles), st.tuples(shifts, shifts, shifts))


def _matrix(displacement):
    rot, shift = displacement
    return geometry.rigid_about_point(geometry.rotation_xyz_deg(*rot), ISO, shift)


@settings(max_examples=150, deadline=None)
@given(displacements, st.sampled_from(ORIENTATIONS))
def test_6dof_restores_the_planned_anatomy(displacement, orientation):
    m = _matrix(displacement)
    c = couch_correction(m, ISO, orientation, "6dof")
    after = _couch_from_numbers(c, orientation) @ m
    pts = ISO + np.random.default_rng(1).uniform(-150, 150, (25, 3))
    assert np.abs(geometry.apply(after, pts) - pts).max() <= 1e-6
    assert c["residual_at_isocenter_mm"] <= 1e-6 and c["residual_at_target_mm"] <= 1e-6
    assert all(abs(v) <= 1e-9 for v in c["uncorrected_rotation_deg"].values())


@settings(max_examples=150, deadline=None)
@given(
    displacements,
    st.sampled_from(ORIENTATIONS),
    st.sampled_from(["6dof", "4dof", "3dof"]),
    st.one_of(st.none(), st.floats(0, 6)),
    st.one_of(st.none(), st.tuples(offsets, offsets, offsets)),
)
def test_limited_couch_exact_at_target_and_honest_residuals(displacement, orientation, couch, limit, offset):
    m = _matrix(displacement)
    target = None if offset is None else ISO + np.asarray(offset)
    c = couch_correction(m, ISO, orientation, couch, limit, target)
    after = _couch_from_numbers(c, orientation) @ m
    exact_at = ISO if target is None else target
    assert np.linalg.norm(geometry.displacement_at(after, exact_at)) <= 1e-6
    measured_iso = np.linalg.norm(geometry.displacement_at(after, ISO))
    assert c["residual_at_isocenter_mm"] == pytest.approx(measured_iso, abs=1e-6)
    assert c["residual_at_target_mm"] <= 1e-6
    # The couch obeys its model and limit, and says what it left.
    if couch != "6dof":
        assert c["pitch_deg"] == 0 and c["roll_deg"] == 0
    if couch == "3dof":
        assert c["rotation_deg"] == 0
    if limit is not None:
        assert all(abs(c[k]) <= limit + 1e-12 for k in KEYS[3:])
    # The largest residual over some structure points, as reported, is the one measured.
    pts = exact_at + np.random.default_rng(2).uniform(-40, 40, (12, 3))
    worst = max(np.linalg.norm(geometry.displacement_at(after, q)) for q in pts)
    assert residual_max_mm(c["couch_matrix_lps"], m, pts) == pytest.approx(worst, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    displacements,
    st.sampled_from(ORIENTATIONS),
    st.sampled_from(tolerance.display_profile_names() + ["iec", "patient", "varian"]),
    st.sampled_from(tolerance.tolerance_profile_names()),
)
def test_profiles_and_verdicts_never_change_the_motion(displacement, orientation, display, tol):
    c = couch_correction(_matrix(displacement), ISO, orientation, "4dof", 3.0)
    before = copy.deepcopy(c)
    verdict = tolerance.evaluate(c, tol)
    rows = tolerance.display_rows(c, display)
    assert c == before
    sign = -1.0 if tolerance.resolve_display_profile(display) == "Patient displacement" else 1.0
    assert [sign * r[1] for r in rows] == pytest.approx([c[k] for k in KEYS], abs=0)
    assert verdict["verdict"] in ("within tolerance", "apply shift", "escalate")


def test_per_axis_levels_and_nonsense_refused():
    from igrt.errors import IGRTInputError

    c = couch_correction(geometry.rigid_matrix(translation=(0, 0, 3)), ISO, "HFS")  # longitudinal −3 mm
    assert c["longitudinal_mm"] == pytest.approx(-3)
    loose_long = {"lateral_mm": 1.0, "longitudinal_mm": 5.0, "vertical_mm": 1.0}
    assert tolerance.evaluate(c, {"translation_mm": loose_long})["verdict"] == "within tolerance"
    assert tolerance.evaluate(c, {"translation_mm": [5, 1, 1]})["verdict"] == "apply shift"
    detail = tolerance.evaluate(c, {"translation_mm": [5, 1, 1]})
    assert [a["status"] for a in detail["axes"][:3]] == [
        "within tolerance",
        "beyond tolerance",
        "within tolerance",
    ]
    for bad in (
        {"translation_mm": 0},
        {"translation_mm": -1},
        {"translation_mm": float("nan")},
        {"translation_mm": [1, 2]},
        {"translation_mm": {"lateral_mm": 1}},
        {"escalate_mm": 1.0},  # below the 2 mm tolerance
        {"rotation_deg": True},
        {"colour": 1},
        {"base": "nope"},
    ):
        with pytest.raises(IGRTInputError):
            tolerance.evaluate(c, bad)
    with pytest.raises(IGRTInputError):
        tolerance.display_rows(c, "upside down")


def test_uncorrectable_rotation_and_target_residual_escalate():
    # 0.8° about the vertical (HFS Zt = LPS −y), 3 mm longitudinal: a 3-DOF couch leaves 0.8° (< 1°):
    # apply shift. 1.5° left: escalate (the couch cannot bring it within tolerance).
    for deg, verdict in ((0.8, "apply shift"), (1.5, "escalate")):
        m = geometry.rigid_about_point(geometry.axis_angle_rotation((0, -1, 0), deg), ISO, (0, 0, 3))
        assert tolerance.evaluate(couch_correction(m, ISO, "HFS", "3dof"))["verdict"] == verdict
    m = geometry.rigid_about_point(geometry.axis_angle_rotation((0, -1, 0), 0.8), ISO, (0, 0, 3))
    c = couch_correction(m, ISO, "HFS", "3dof")
    out = tolerance.evaluate({**c, "residual_max_over_target_mm": 2.5})
    assert out["verdict"] == "escalate" and "target structure" in out["reasons"][0]
