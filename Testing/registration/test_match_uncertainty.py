"""The per-match uncertainty: the Gauss–Newton step finds a known residual misregistration, a well-posed
match gets a small bound, an ill-posed region (featureless, too little overlap) gets flagged."""

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import move_patient
from igrt import geometry
from igrt.registration.match import MatchOptions, run_match
from igrt.registration.rigid import euler_from_matrix
from igrt.registration.uncertainty import estimate_uncertainty, quality_uncertainty
from igrt.volume import Volume


def _center(img):
    return np.array(img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.GetSize()]))


def _box_mask(img, center, half_mm):
    """0/1 mask of the voxels within an axis-aligned box (half sizes in mm) around ``center``."""
    size = img.GetSize()
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in size[::-1]), indexing="ij")[::-1], -1)
    pts = idx * np.array(img.GetSpacing()) + np.array(img.GetOrigin())
    inside = np.all(np.abs(pts - center) <= half_mm, axis=-1)
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(img)
    return mask


def _smooth(img):
    return sitk.SmoothingRecursiveGaussian(img, 1.0)  # the estimate needs gradients, like the metric


def test_step_recovers_a_known_residual_offset(block_phantom):
    # The daily image is the patient moved by m; we hand the estimate m plus a 0.4 mm error in x
    # and 0.2 mm in z. One Gauss–Newton step at that transform points back to m: (−0.4, 0, −0.2) mm.
    iso = _center(block_phantom)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(1.0, -0.5, 1.5), iso, (3.0, -2.0, 4.0))
    planning = _smooth(block_phantom)
    daily = move_patient(planning, m)
    off = geometry.rigid_matrix(translation=(0.4, 0.0, 0.2)) @ m
    mask = _box_mask(planning, iso, (70, 55, 60))
    est = estimate_uncertainty(planning, daily, mask, euler_from_matrix(off, iso), iso)
    np.testing.assert_allclose(est.step[3:], [-0.4, 0.0, -0.2], atol=0.08)  # linearised: ~15 % long
    assert np.degrees(np.linalg.norm(est.step[:3])) < 0.05
    # At the true transform the step is (nearly) zero and the bound small: what is left is the linear
    # sampling against the B-spline resampling of the daily image, under a sixth of a 2 mm voxel.
    exact = estimate_uncertainty(planning, daily, mask, euler_from_matrix(m, iso), iso)
    assert np.linalg.norm(exact.step[3:]) < 0.05
    assert exact.translation_mm_95 < 0.3 and exact.rotation_deg_95 < 0.3


def test_featureless_region_is_flagged():
    # Uniform soft tissue (30 HU) seen by two scans: each with its own noise, no structure in common.
    # Nothing constrains the match; the bound must say so.
    rng = np.random.default_rng(3)

    def scan():
        img = sitk.GetImageFromArray(rng.normal(30.0, 10.0, (40, 60, 60)).astype(np.float32))
        img.SetSpacing((2.0, 2.0, 2.0))
        return _smooth(img)

    fixed, daily = scan(), scan()
    c = _center(fixed)
    est = estimate_uncertainty(
        fixed, daily, _box_mask(fixed, c, (40, 40, 25)), euler_from_matrix(np.eye(4), c), c
    )
    q = quality_uncertainty(est, [("soft", 0.0, est, True)], False, 1.0, 1.0)
    assert q["flag"], q
    assert q["translation_mm_95"] is None or q["translation_mm_95"] > 1.0


def test_tiny_overlap_has_no_bound_and_is_flagged(block_phantom):
    iso = _center(block_phantom)
    mask = _box_mask(block_phantom, iso, (3, 3, 3))  # 27 voxels: too few for any estimate
    est = estimate_uncertainty(block_phantom, block_phantom, mask, euler_from_matrix(np.eye(4), iso), iso)
    assert not np.isfinite(est.translation_mm_95)
    q = quality_uncertainty(est, [("bone", 0.0, est, True)], False, 1.0, 1.0)
    assert q["flag"] and q["translation_mm_95"] is None and "too few samples" in q["reasons"][0]


def test_every_match_reports_its_uncertainty_and_a_good_one_is_not_flagged(block_phantom):
    iso = _center(block_phantom) + (4, -6, 3)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0.5, 1.0, -1.0), iso, (5.0, -3.0, 2.0))
    daily = move_patient(block_phantom, m, hu_scale=0.9, hu_offset=40, noise=15)
    opts = MatchOptions(
        method="bone", planning_isocenter_lps=iso, daily_isocenter_lps=iso, clip_box_mm=(180, 150, 140)
    )
    res = run_match(Volume(block_phantom, "planning"), Volume(daily, "daily"), opts)
    u = res.to_dict()["quality"]["uncertainty"]
    err_mm = np.linalg.norm(res.translation_mm - geometry.displacement_at(m, iso))
    err_deg = geometry.rotation_angle_deg(res.matrix_lps @ np.linalg.inv(m))
    assert not u["flag"] and u["reasons"] == []
    assert err_mm <= u["translation_mm_95"] < 0.5
    assert err_deg <= u["rotation_deg_95"] < 0.5
    assert res.stages[0]["uncertainty"] == {k: u[k] for k in ("translation_mm_95", "rotation_deg_95")}
    # A limit below the bound flags the same match.
    tight = run_match(
        Volume(block_phantom, "planning"),
        Volume(daily, "daily"),
        MatchOptions(**{**opts.__dict__, "uncertainty_limit_mm": u["translation_mm_95"] / 2}),
    )
    assert tight.quality["uncertainty"]["flag"]
    assert tight.quality["uncertainty"]["reasons"][0].startswith("the 95% bound on the translation")
    assert tight.translation_mm == pytest.approx(res.translation_mm)
