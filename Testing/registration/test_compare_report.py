"""Comparison pictures: orientation of the views (by hand) and the pieces of the panels."""

import json

import numpy as np
import SimpleITK as sitk

from igrt.registration import compare
from igrt.report import render_html
from igrt.result import atomic_write_text, write_json


def _dot_image(point_lps):
    img = sitk.Image([60, 60, 60], sitk.sitkFloat32)
    img.SetSpacing([2.0, 2.0, 2.0])
    img.SetOrigin([-59.0, -59.0, -59.0])
    arr = np.full((60, 60, 60), -1000.0, np.float32)
    i = np.round(np.array(img.TransformPhysicalPointToContinuousIndex(point_lps))).astype(int)
    arr[i[2] - 1 : i[2] + 2, i[1] - 1 : i[1] + 2, i[0] - 1 : i[0] + 2] = 1000.0
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    return out


def _bright(a):
    return np.array(np.unravel_index(np.nanargmax(a), a.shape))


def test_axial_view_is_radiological():
    # A dot 30 mm to the patient's LEFT (LPS +x) and 20 mm ANTERIOR (LPS -y) of the centre must appear in
    # the axial picture right of centre (radiological) and above centre (anterior up).
    img = _dot_image((30.0, -20.0, 0.0))
    a = compare.resample_slice(img, compare.slice_reference("axial", (0, 0, 0), (100, 100)))
    row, col = _bright(a)
    assert col > 50 + 25 and row < 50 - 15


def test_coronal_and_sagittal_superior_is_up():
    # A dot 30 mm SUPERIOR (LPS +z): upper half of coronal and sagittal pictures.
    img = _dot_image((0.0, 0.0, 30.0))
    for view in ("coronal", "sagittal"):
        a = compare.resample_slice(img, compare.slice_reference(view, (0, 0, 0), (100, 100)))
        row, col = _bright(a)
        assert row < 50 - 25, view
        assert abs(col - 49.5) < 3, view
    # Sagittal: anterior (LPS -y) on the left of the picture.
    img = _dot_image((0.0, -30.0, 0.0))
    a = compare.resample_slice(img, compare.slice_reference("sagittal", (0, 0, 0), (100, 100)))
    assert _bright(a)[1] < 50 - 25


def test_checkerboard_alternates_and_outline():
    p, d = np.zeros((40, 40)), np.ones((40, 40))
    cb = compare.checkerboard(p, d, square_px=10)
    assert cb[0, 0] == 0 and cb[0, 10] == 1 and cb[10, 0] == 1 and cb[10, 10] == 0
    m = np.zeros((10, 10), bool)
    m[2:8, 2:8] = True
    ring = compare.outline(m)
    assert ring.sum() == 20 and not ring[4, 4] and ring[2, 4]


def test_match_intensity_undoes_linear_hu_error():
    rng = np.random.default_rng(0)
    p = rng.normal(0, 300, (50, 50))
    d = 0.8 * p + 50
    np.testing.assert_allclose(compare.match_intensity(d, p), p, atol=1e-6)


def test_atomic_write_leaves_no_temporary(tmp_path):
    write_json(tmp_path / "r.json", {"a": 1})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    atomic_write_text(tmp_path / "r.json", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_report_states_the_sense_of_every_number():
    result = {
        "method": "auto",
        "orientation": "HFS",
        "elapsed_s": 1.0,
        "translation_mm": [5, 0, 0],
        "rotation_deg": [0, 0, 1],
        "couch": {
            "sense": "couch moves",
            "lateral_mm": -5,
            "longitudinal_mm": 0,
            "vertical_mm": 0,
            "rotation_deg": -1,
            "pitch_deg": 0,
            "roll_deg": 0,
        },
        "quality": {"metric": "ncc", "similarity_before": 0.2, "similarity_after": 0.9},
        "stages": [],
    }
    page = render_html(result, {"planning": "panels/planning.png", "daily_after": "panels/daily_after.png"})
    assert "patient is displaced" in page and "couch moves" in page and "toggleFlicker" in page
