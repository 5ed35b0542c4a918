"""Gold-marker detection on CT: sub-voxel centroids of partial-volume markers, no bone taken for a marker."""

import json

import numpy as np
import SimpleITK as sitk

from conftest import block_with_markers
from igrt.markers.detect import detect_markers

# Three gold cylinders (1 mm × 3 mm, axis along z, 8000 HU) at non-integer voxel positions.
CENTERS_INDEX = ((100.3, 84.6, 50.2), (112.7, 78.2, 44.9), (90.5, 95.1, 58.4))


def _ct_with_markers():
    return block_with_markers(CENTERS_INDEX, size=(200, 170, 100), origin=(-100.0, -140.0, 220.0))


def test_markers_found_at_their_centroids():
    img, truth = _ct_with_markers()
    found = detect_markers(img)
    assert len(found) == 3  # the bone (1200 HU) and the dense sphere (900 HU) are not markers
    for t in truth:
        err = min(np.linalg.norm(p - t) for p, _ in found)
        assert err < 0.3, err
    assert all(0 < c <= 1 for _, c in found)


def test_search_box_and_cli(tmp_path, capsys):
    from igrt.cli.main import main

    img, truth = _ct_with_markers()
    found = detect_markers(img, roi_center_lps=truth[0], roi_size_mm=(10, 10, 10))
    assert len(found) == 1 and np.linalg.norm(found[0][0] - truth[0]) < 0.3
    sitk.WriteImage(img, str(tmp_path / "ct.mha"))
    out = tmp_path / "markers.json"
    assert main(["fiducials", "detect", str(tmp_path / "ct.mha"), "--out", str(out)]) == 0
    markers = json.loads(out.read_text())["markers"]
    assert len(markers) == 3 and {"position_lps", "confidence"} <= set(markers[0])
    capsys.readouterr()


def test_generated_cbct_markers_found_and_matched(tmp_path, capsys):
    """Simulated CBCT (streaks, noise, scatter) and planning CT of the tiny marker case: detect every
    marker (coil, cylinders, sphere) near its true centre, then the marker match recovers the known shift."""
    from igrt import geometry
    from igrt.cli.main import main
    from igrt.synth.cases import tiny_marker_case

    case = tiny_marker_case()
    files = {}
    for key, path in (("planning_lps", case.planning_path), ("daily_lps", case.daily_path)):
        found = detect_markers(sitk.ReadImage(str(path)))
        truth = np.array([m[key] for m in case.markers])
        pos = np.array([p for p, _ in found])
        assert len(found) == len(truth) == 4  # no false marker, none missed
        err = np.linalg.norm(truth[:, None] - pos[None], axis=2).min(axis=1)
        assert err.max() < 0.5, (key, err)
        out = tmp_path / f"{key}.json"
        assert main(["fiducials", "detect", str(path), "--out", str(out)]) == 0
        files[key] = out
    iso = ",".join(map(str, case.planning_isocenter_lps))
    result = tmp_path / "result.json"
    argv = ["fiducials", "match", str(files["planning_lps"]), str(files["daily_lps"]), "--isocenter", iso]
    assert main([*argv, "--daily-isocenter", "0,0,0", "--out", str(result)]) == 0
    r = json.loads(result.read_text())
    true_t = geometry.displacement_at(case.matrix_lps, case.planning_isocenter_lps)
    assert np.linalg.norm(np.subtract(r["translation_mm"], true_t)) < 0.5
    true_r = geometry.angles_xyz_deg(case.matrix_lps[:3, :3])
    assert np.abs(np.subtract(r["rotation_deg"], true_r)).max() < 1.0
    assert r["quality"]["suspected_migration"] == []
    capsys.readouterr()
