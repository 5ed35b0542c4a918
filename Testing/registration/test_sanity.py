"""The daily image is a picture of today's patient: a mirrored daily image and the planning image given
as the daily image are refused, a near copy is escalated (issue 10, items 2 and 3; igrt.registration.sanity).

A mirrored daily image is what a wrong header makes: the voxels flipped along an image axis, the
geometry kept. The block phantom (Testing/conftest.py) is asymmetric, as a patient is.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import move_patient
from igrt import geometry
from igrt.couch.workflow import couch_shift
from igrt.errors import IGRTInputError
from igrt.registration.match import MatchFailedError, MatchOptions, run_match
from igrt.volume import Volume


def _iso(img):
    return np.array(img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.GetSize()]))


def _match(planning, daily, d_iso=None, name="daily.mha"):
    iso = _iso(planning)
    opts = MatchOptions(
        planning_isocenter_lps=iso,
        daily_isocenter_lps=iso if d_iso is None else d_iso,
        clip_box_mm=(180, 150, 140),
    )
    return run_match(Volume(planning, "planning.mha"), Volume(daily, name), opts)


def _flipped(image, axis):
    out = sitk.Flip(image, [a == axis for a in range(3)])
    out.CopyInformation(image)
    return out


@pytest.fixture(scope="module")
def displaced(block_phantom):
    """A daily image of the patient displaced by 1.5° / −1° / 2° and (3, −2, 1.5) mm, with CBCT-like noise."""
    m = geometry.rigid_about_point(
        geometry.rotation_xyz_deg(1.5, -1.0, 2.0), _iso(block_phantom), (3, -2, 1.5)
    )
    return m, move_patient(block_phantom, m, hu_scale=0.95, hu_offset=20, noise=15)


def test_correct_daily_image_is_accepted_and_its_mirror_test_recorded(block_phantom, displaced):
    m, daily = displaced
    res = _match(block_phantom, daily)
    np.testing.assert_allclose(res.translation_mm, geometry.displacement_at(m, _iso(block_phantom)), atol=0.2)
    test = res.quality["mirror_test"]
    assert test["as_given"] > max(test["mirrored"]) + 0.1, test
    assert "near_identical_to_planning" not in res.quality


@pytest.mark.parametrize("own_frame", [False, True], ids=["same-frame", "cbct-own-frame"])
def test_left_right_mirrored_daily_image_is_refused(block_phantom, displaced, own_frame):
    _, daily = displaced
    mirrored = _flipped(daily, 0)
    d_iso = None
    if own_frame:  # a CBCT in its own frame, its isocenter at its centre (0, 0, 0)
        mirrored.SetOrigin(tuple(np.asarray(mirrored.GetOrigin()) - _iso(block_phantom)))
        d_iso = np.zeros(3)
    with pytest.raises(IGRTInputError, match="mirrored left–right") as err:
        _match(block_phantom, mirrored, d_iso)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("axis", [1, 2], ids=["front-back", "head-foot"])
def test_other_mirrors_never_give_a_result(block_phantom, displaced, axis):
    """A flip along another axis shows the anatomy upside down or head to foot: refused."""
    _, daily = displaced
    with pytest.raises((IGRTInputError, MatchFailedError), match="mirrored|registration failed"):
        _match(block_phantom, _flipped(daily, axis))


def test_planning_image_given_as_the_daily_image_is_refused(block_phantom, tmp_path):
    planning = Volume(block_phantom, str(tmp_path / "ct.mha"), series_uid="1.2.3.4")
    opts = MatchOptions(planning_isocenter_lps=_iso(block_phantom), daily_isocenter_lps=_iso(block_phantom))
    copies = {
        "the same file": Volume(sitk.Image(block_phantom), str(tmp_path / "." / "ct.mha")),
        "the same DICOM series": Volume(
            move_patient(block_phantom, np.eye(4), noise=10), "b", series_uid="1.2.3.4"
        ),
        "the same voxels": Volume(sitk.Image(block_phantom), str(tmp_path / "copy.nrrd")),
    }
    for words, daily in copies.items():
        with pytest.raises(IGRTInputError, match=f"the daily image is the planning image \\({words}"):
            run_match(planning, daily, opts)


def test_near_copy_is_escalated_loudly(block_phantom):
    """The planning image with noise (a digital phantom test, or a re-exported copy): a warning, and the
    couch shift escalates whatever its numbers."""
    res = _match(block_phantom, move_patient(block_phantom, np.eye(4), noise=8))
    assert res.quality["near_identical_to_planning"] >= 0.98
    assert any("nearly identical to the planning image" in w for w in res.warnings)
    shift = couch_shift(res.to_dict())
    assert shift["couch"]["verdict"] == "escalate"
    assert any(
        "planning image selected" in r or "nearly identical" in r for r in shift["couch"]["verdict_reasons"]
    )
    # A daily image moved by 3 mm (a real set-up error, or a known-shift test) is not a near copy.
    moved = _match(
        block_phantom, move_patient(block_phantom, geometry.rigid_matrix(translation=(3, 0, 0)), noise=8)
    )
    assert "near_identical_to_planning" not in moved.quality


def test_a_mirror_is_refused_only_when_its_own_match_is_plausible(block_phantom, displaced):
    """Two poor matches say nothing about a mirror (a real abdomen CBCT with wrong isocenters scored 0.082
    mirrored against 0.070 as given and was refused as "mirrored front–back"): the mirrored image must also
    clear the match's own correlation floor before the daily image is called mirrored."""
    from igrt.registration import sanity
    from igrt.registration.match import MIN_CORRELATION
    from igrt.registration.rigid import Region, RegistrationSettings, euler_from_matrix, register_rigid

    _, daily = displaced
    mirrored = _flipped(daily, 0)
    iso = _iso(block_phantom)
    region = Region(iso, np.array([180.0, 150.0, 140.0]), intensity_range=(200.0, 3000.0))
    start = euler_from_matrix(np.eye(4), iso)
    settings = RegistrationSettings()
    as_given = register_rigid(block_phantom, mirrored, region, start, settings, search=True)
    # The mirror of the mirrored image is the patient: it matches far better, above the floor: refused.
    with pytest.raises(IGRTInputError, match="mirrored left–right"):
        sanity.confirm_mirror(
            block_phantom, mirrored, region, start, as_given, settings, [0], MIN_CORRELATION
        )
    # The same comparison with a floor no correlation reaches: not evidence of a mirror.
    checked = sanity.confirm_mirror(block_phantom, mirrored, region, start, as_given, settings, [0], 1.01)
    conf = checked["mirror_confirmation"]
    assert conf["mirrored"]["left–right"] > as_given.metric_after + 0.1
    # The lead is far beyond its noise: refused on it when the floor allows (above).
    assert conf["lead"]["left–right"] > sanity.LEAD_Z * conf["lead_standard_error"]["left–right"] > 0
    assert conf["settled_before_the_finest_level"] == []  # a leading mirror is matched to the end


def test_a_clearly_trailing_mirror_is_settled_before_the_finest_level(block_phantom, displaced, monkeypatch):
    """The asymmetric patient's correct image, its mirror confirmed (forced): after the coarse levels the
    mirror trails by far more than LEAD_Z standard errors, so the finest level (which cannot win back
    2 × LEAD_Z) is not run; accepted, the right answer."""
    from igrt.registration import sanity

    m, daily = displaced
    monkeypatch.setattr(sanity, "SUSPECT_MARGIN", -np.inf)
    res = _match(block_phantom, daily)
    np.testing.assert_allclose(res.translation_mm, geometry.displacement_at(m, _iso(block_phantom)), atol=0.2)
    conf = res.quality["mirror_confirmation"]
    assert "left–right" in conf["settled_before_the_finest_level"]
    assert conf["lead"]["left–right"] < -sanity.LEAD_Z * conf["lead_standard_error"]["left–right"]


def test_the_mirror_lead_and_its_standard_error_by_hand():
    """``metric_blocks.correlation`` of the six sums is Pearson's r; the blocks are the coordinates' terciles;
    an outcome against itself leads by 0 ± 0; a hypothesis whose daily image is noise in one corner
    block only trails, and the jackknife sees that the difference lives in one block."""
    from types import SimpleNamespace

    from igrt.registration import metric_blocks, sanity

    rng = np.random.default_rng(3)
    f, m = rng.normal(size=500), rng.normal(size=500)
    m += f
    sums = np.array([len(f), f.sum(), m.sum(), (f * f).sum(), (m * m).sum(), (f * m).sum()])
    assert metric_blocks.correlation(sums) == pytest.approx(np.corrcoef(f, m)[0, 1], abs=1e-12)
    # Points on a 3 × 3 × 3 lattice: one point per block, numbered x slowest.
    x = np.array([(i, j, k) for i in range(3) for j in range(3) for k in range(3)], float)
    edges = metric_blocks.block_edges(x)
    np.testing.assert_array_equal(metric_blocks.block_labels(x, edges), np.arange(27))

    img = sitk.GetImageFromArray(rng.normal(size=(12, 12, 12)).astype(np.float32))
    mask = sitk.Image(img.GetSize(), sitk.sitkUInt8) + 1
    mask.CopyInformation(img)
    same = SimpleNamespace(final_images=(img, img, mask), transform=sitk.Euler3DTransform())
    assert sanity.mirror_lead(same, same) == (0.0, 0.0)
    spoilt = sitk.GetArrayFromImage(img)
    spoilt[:4, :4, :4] = rng.normal(size=(4, 4, 4))  # the block of the lowest terciles
    other = sitk.GetImageFromArray(spoilt)
    worse = SimpleNamespace(final_images=(img, other, mask), transform=sitk.Euler3DTransform())
    lead, se = sanity.mirror_lead(same, worse)
    # r = 1 − 64·(1 − 0)/1728 approximately: 1/27 of the samples decorrelated.
    assert lead == pytest.approx(-1 / 27, abs=0.01)
    # Without that block the two agree (d = 0), without any other they differ by ≈ −1/26, d̄ = −1/27:
    # √(26/27 · (26 · (1/26 − 1/27)² + (1/27)²)) = 1/27 ≈ 0.037.
    assert se == pytest.approx(1 / 27, abs=0.006)


def test_a_symmetric_patient_is_not_called_mirrored(block_phantom, monkeypatch):
    """A left–right symmetric patient (the synthetic pelvis is nearly so: its correct CBCTs' mirrors matched
    as well, 0.719 against 0.708 on soft_02): its mirror is confirmed (forced here) and not refused, as
    its lead is within its own noise; the match is right."""
    from igrt.registration import sanity

    a = sitk.GetArrayFromImage(block_phantom)
    symmetric = sitk.GetImageFromArray(np.maximum(a, a[:, :, ::-1]))
    symmetric.CopyInformation(block_phantom)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0.5, -1.0, 1.0), _iso(symmetric), (2, -1, 1))
    daily = move_patient(symmetric, m, hu_scale=0.95, hu_offset=20, noise=15)
    monkeypatch.setattr(sanity, "SUSPECT_MARGIN", -np.inf)  # confirm every mirror
    res = _match(symmetric, daily)
    np.testing.assert_allclose(res.translation_mm, geometry.displacement_at(m, _iso(symmetric)), atol=0.2)
    conf = res.quality["mirror_confirmation"]
    lead, se = conf["lead"]["left–right"], conf["lead_standard_error"]["left–right"]
    assert abs(lead) < 0.05 and se > 0, conf
    assert lead <= max(sanity.CONFIRM_MARGIN, sanity.LEAD_Z * se)
