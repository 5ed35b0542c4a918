"""The known-transform generator: the ground truth of the benchmark must itself be right.

The geometric tests put small dense blobs in a planning CT, simulate a CBCT of the patient moved by a
known M, and find the blobs where docs/CONVENTIONS.md says they must be: d = M(q) − planning_iso (CBCT frame,
isocenter at 0). Gaussian blobs are used because their centroid survives sampling exactly, so any
error measured is the simulator's (a voxelised sphere alone is off by ~0.1 mm).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.synth import cases
from igrt.synth.cbct import CBCTSettings, simulate_cbct
from igrt.synth.phantom import landmark_lps, make_pelvis_phantom
from igrt.synth.recipes import BENCH_SPECS, DEMO_SPEC

SIGMA = 3.0
NOISELESS = CBCTSettings(
    size=(80, 80, 64),
    spacing=(2.0, 2.0, 2.0),
    n_projections=120,
    detector_size=(100, 100),
    detector_spacing=(3.0, 3.0),
    volume_spacing=1.5,
    i0=0,
    scatter_fraction=0,
    hu_scale=1.0,
    hu_offset=0.0,
)


def _coords(img):
    a = sitk.GetArrayViewFromImage(img)
    o, s = np.array(img.GetOrigin()), np.array(img.GetSpacing())
    k = np.indices(a.shape, dtype=float)
    return o[0] + k[2] * s[0], o[1] + k[1] * s[1], o[2] + k[0] * s[2]


@pytest.fixture(scope="module")
def blob_planning():
    """Water ellipse (off-centre grid origin) with four Gaussian blobs around an off-grid isocenter."""
    img = sitk.Image((120, 110, 60), sitk.sitkFloat32)
    img.SetSpacing((2.0, 2.0, 2.5))
    img.SetOrigin((-130.0, -160.0, 180.0))
    x, y, z = _coords(img)
    c = np.array(img.TransformContinuousIndexToPhysicalPoint([59.5, 54.5, 29.5]))
    a = np.where(((x - c[0]) / 100) ** 2 + ((y - c[1]) / 80) ** 2 < 1, 0.0, -1000.0)
    iso = c + np.array([3.3, -4.7, 2.9])
    pts = [iso + np.array(v) for v in [(0, 0, 0), (40, 10, -20), (-35, -25, 25), (10, 45, 15)]]
    background = sitk.GetImageFromArray(a.astype(np.float32))
    background.CopyInformation(img)
    for p in pts:
        a += 2000 * np.exp(-((x - p[0]) ** 2 + (y - p[1]) ** 2 + (z - p[2]) ** 2) / (2 * SIGMA**2))
    out = sitk.GetImageFromArray(a.astype(np.float32))
    out.CopyInformation(img)
    return out, iso, pts, background


def _centroid(img, guess, radius=4 * SIGMA + 2):
    """Centroid above a local linear background (fitted in a shell: cupping is smooth), re-centred."""
    a = sitk.GetArrayFromImage(img)
    x, y, z = _coords(img)
    d = np.asarray(guess, float)
    for _ in range(4):
        r2 = (x - d[0]) ** 2 + (y - d[1]) ** 2 + (z - d[2]) ** 2
        inner, shell = r2 < radius**2, (r2 >= radius**2) & (r2 < (radius + 6) ** 2)
        basis = np.stack([np.ones(shell.sum()), x[shell], y[shell], z[shell]], axis=1)
        coef = np.linalg.lstsq(basis, a[shell], rcond=None)[0]
        bg = coef[0] + coef[1] * x[inner] + coef[2] * y[inner] + coef[3] * z[inner]
        w = np.clip(a[inner] - bg, 0, None)
        d = np.array([(w * x[inner]).sum(), (w * y[inner]).sum(), (w * z[inner]).sum()]) / w.sum()
    return d


def _blob_errors(blob_planning, m, settings=NOISELESS):
    plan, iso, pts, _ = blob_planning
    cb = simulate_cbct(plan, m, iso, settings)
    assert cb.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    np.testing.assert_allclose(
        cb.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in cb.GetSize()]), 0
    )
    expected = [geometry.apply(m, p) - iso for p in pts]
    return np.array([_centroid(cb, e) - e for e in expected])


def test_cbct_hand_worked_translation_sense(blob_planning):
    # Patient moved 10 mm to their left (+x LPS): the blob 20 mm superior of the isocenter must appear
    # in the CBCT (isocenter at 0) at (+10, 0, +20) — left and superior, not mirrored.
    plan, iso, pts, _ = blob_planning
    cb = simulate_cbct(plan, geometry.rigid_matrix(translation=(10, 0, 0)), iso, NOISELESS)
    found = _centroid(cb, pts[0] - iso + (10, 0, 0))
    np.testing.assert_allclose(found, [10.0, 0.0, 0.0], atol=0.3)


def test_cbct_translation_puts_blobs_where_expected(blob_planning):
    err = _blob_errors(blob_planning, geometry.rigid_matrix(translation=(7.3, -4.1, 5.6)))
    assert np.abs(err).max() < 0.3, err  # measured ≈ 0.02 mm


def test_cbct_rotation_puts_blobs_where_expected(blob_planning):
    _, iso, _, _ = blob_planning
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(2.5, -3.0, 4.0), iso, (3.0, -2.0, 6.0))
    err = _blob_errors(blob_planning, m, dataclasses.replace(NOISELESS, size=(81, 79, 63)))  # odd sizes too
    assert np.abs(err).max() < 0.3, err  # measured ≈ 0.04 mm


def test_cbct_with_noise_stays_unbiased(blob_planning):
    _, iso, _, _ = blob_planning
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(-2.0, 1.0, -3.0), iso, (-6.0, 9.0, -4.0))
    noisy = dataclasses.replace(NOISELESS, i0=5e4, seed=5)
    err = _blob_errors(blob_planning, m, noisy)
    assert np.abs(err).max() < 0.3, err  # measured ≈ 0.07 mm (the centroid's own noise)


def test_cbct_with_scatter_truncation_and_hu_error_stays_unbiased(blob_planning):
    # A 12 cm field on a 20 cm body (truncated), scatter cupping, a wrong HU scale: the blobs still sit at
    # M(q) − iso. Scatter's cupping is not a plane, so the blobs are isolated by subtracting the same
    # acquisition without them.
    plan, iso, pts, background = blob_planning
    s = dataclasses.replace(
        NOISELESS, detector_size=(60, 100), scatter_fraction=0.3, hu_scale=0.9, hu_offset=-40.0
    )
    assert s.fov_radius() < 61
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(1.5, 2.5, -2.0), iso, (5.0, -8.0, 7.0))
    diff = simulate_cbct(plan, m, iso, s) - simulate_cbct(background, m, iso, s)
    expected = [geometry.apply(m, p) - iso for p in pts]
    err = np.array([_centroid(diff, e) - e for e in expected])
    assert np.abs(err).max() < 0.3, err  # measured ≈ 0.16 mm


def test_cbct_is_deterministic_and_seeded(blob_planning):
    plan, iso, _, _ = blob_planning
    s = dataclasses.replace(NOISELESS, i0=1e4, n_projections=36, size=(32, 32, 32))
    a = sitk.GetArrayFromImage(simulate_cbct(plan, np.eye(4), iso, s))
    b = sitk.GetArrayFromImage(simulate_cbct(plan, np.eye(4), iso, s))
    c = sitk.GetArrayFromImage(simulate_cbct(plan, np.eye(4), iso, dataclasses.replace(s, seed=1)))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1.0


def test_phantom_frame_and_anatomy():
    img = make_pelvis_phantom((128, 128, 60), (3.9, 3.9, 5.0), seed=3)
    assert img.GetPixelID() == sitk.sitkFloat32 and img.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    np.testing.assert_allclose(img.TransformContinuousIndexToPhysicalPoint([63.5, 63.5, 29.5]), (0, -50, 300))

    def hu(name):
        return img.GetPixel(img.TransformPhysicalPointToIndex(landmark_lps(name).tolist()))

    assert hu("femoral_head_left") > 150 and hu("femoral_head_right") > 150  # trabecular bone
    assert hu("rectum_gas") < -500
    assert -60 < hu("bladder") < 60 and -60 < hu("prostate") < 90
    assert img.GetPixel(0, 0, 0) < -950  # air outside the body
    # HFS: the femoral head on the patient's left is at larger LPS x (PS3.3 C.7.6.2.1.1).
    assert landmark_lps("femoral_head_left")[0] > landmark_lps("femoral_head_right")[0]
    again = make_pelvis_phantom((128, 128, 60), (3.9, 3.9, 5.0), seed=3)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(img), sitk.GetArrayViewFromImage(again))


def test_tg119_geometry(shared_data):
    from igrt.synth.tg119 import load_tg119_ct, load_tg119_structures

    path = shared_data / "tg119_ct" / "TG119.mat"
    ct = load_tg119_ct(path)
    assert ct.GetSize() == (167, 167, 129) and ct.GetSpacing() == (3.0, 3.0, 2.5)
    assert ct.GetOrigin() == (-250.0, -250.0, -160.0)  # ImagePositionPatient of the first voxel
    body = load_tg119_structures(path)["BODY"]
    b = sitk.GetArrayViewFromImage(body).astype(bool)
    a = sitk.GetArrayViewFromImage(ct)
    # The structure indices (column-major, y-x-z cube) land on the phantom: the axis order is right.
    assert (a[b] > -300).mean() > 0.98 and (a[~b] > -300).mean() < 0.01
    x, y, z = _coords(ct)
    # The TG-119 block of solid-water slabs is 30 cm wide (left-right) and 15 cm thick (antero-posterior).
    assert x[b].max() - x[b].min() == pytest.approx(300, abs=9)
    assert y[b].max() - y[b].min() == pytest.approx(150, abs=9)
    # Head-first supine: the couch lies under the phantom, i.e. posterior (+y), never anterior.
    couch = ~ndimage.binary_dilation(b, iterations=2) & (a > -960) & (a < -100)
    assert couch.sum() > 500 and (y[couch] > y[b].mean() + 60).mean() > 0.99


def test_tiny_case_builds_caches_and_is_deterministic(tmp_path):
    one = cases.tiny_case(root=tmp_path / "a")
    two = cases.tiny_case(root=tmp_path / "b")
    assert one.planning_path.is_file() and one.daily_path.is_file() and one.truth_path.is_file()
    for f in ("planning_path", "daily_path"):
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(sitk.ReadImage(str(getattr(one, f)))),
            sitk.GetArrayFromImage(sitk.ReadImage(str(getattr(two, f)))),
        )
    np.testing.assert_allclose(one.matrix_lps, two.matrix_lps)
    # Round trip: the second call reads the cache and changes nothing.
    mtime = one.daily_path.stat().st_mtime_ns
    again = cases.tiny_case(root=tmp_path / "a")
    assert again.daily_path == one.daily_path and again.daily_path.stat().st_mtime_ns == mtime
    truth = json.loads(one.truth_path.read_text())
    np.testing.assert_allclose(truth["matrix_lps"], one.matrix_lps)
    iso = np.array(one.planning_isocenter_lps)
    np.testing.assert_allclose(iso, landmark_lps("prostate", scale=0.55))
    np.testing.assert_allclose(truth["translation_mm"], [4.0, -3.0, 5.0], atol=1e-9)
    np.testing.assert_allclose(truth["rotation_deg"], [1.5, -1.0, 2.0], atol=1e-9)
    assert not [p for p in (tmp_path / "a").rglob(".tmp-*")]
    daily = sitk.ReadImage(str(one.daily_path))
    np.testing.assert_allclose(daily.TransformContinuousIndexToPhysicalPoint([31.5] * 3), 0, atol=1e-9)


def test_tiny_case_with_given_matrix(tmp_path):
    m = geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 1), (2, 0, 0))
    case = cases.tiny_case(m, root=tmp_path)
    np.testing.assert_allclose(case.matrix_lps, m)
    with pytest.raises(IGRTInputError):
        cases.tiny_case(np.diag([1, 1, 2, 1]), root=tmp_path)


def test_bench_cases_cover_the_range():
    names = cases.bench_case_names()
    assert len(names) >= 10 and len(set(names)) == len(names) and "demo" not in names
    t = np.array([s.translation_mm for s in BENCH_SPECS])
    r = np.array([s.rotation_deg for s in BENCH_SPECS])
    assert np.abs(t).max() <= 15 and np.abs(r).max() <= 3
    assert (np.abs(t) > 2).any(axis=0).all() and (np.abs(r) > 0.5).any(axis=0).all()  # all 6 DOF
    assert sum(s.source == "tg119" for s in BENCH_SPECS) >= 2
    assert any(s.ct_size == (512, 512, 120) and s.cbct.size == (270, 270, 200) for s in BENCH_SPECS)
    with pytest.raises(IGRTInputError):
        cases.get_case("no-such-case")
    assert DEMO_SPEC.name == "demo"
