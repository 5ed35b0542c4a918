"""Marker pairing and point-based rigid registration: hand-worked cases."""

import json

import numpy as np
import pytest

from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.markers.pairing import match_markers, pair_markers, predicted_tre, rigid_from_points

MARKERS = np.array([[12.0, -30.0, 210.0], [38.0, -25.0, 215.0], [20.0, -5.0, 190.0], [15.0, -40.0, 185.0]])


def _moved(m, pts):
    return geometry.apply(m, pts)


def test_three_markers_known_rotation():
    # Three markers, displaced by 10° about LPS z through (20, -20, 200) and shifted (2, -1, 3) mm there.
    p = MARKERS[:3]
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 10), (20, -20, 200), (2, -1, 3))
    est = rigid_from_points(p, _moved(m, p))
    np.testing.assert_allclose(est, m, atol=1e-9)
    np.testing.assert_allclose(geometry.angles_xyz_deg(est[:3, :3]), [0, 0, 10], atol=1e-9)


def test_reflection_is_never_returned():
    # Nearly coplanar markers (z within ±0.2 mm) and their mirror image through z = 0: the best orthogonal
    # fit is the reflection (det −1); the guarded fit is a proper rotation with residuals ≤ 2·0.2 mm.
    p = np.array([[0, 0, 0.2], [40, 0, -0.2], [0, 30, -0.2], [40, 30, 0.2]], float)
    q = p * [1, 1, -1]
    est = rigid_from_points(p, q)
    assert np.linalg.det(est[:3, :3]) == pytest.approx(1.0)
    assert np.abs(_moved(est, p) - q).max() <= 0.4 + 1e-9


def test_predicted_tre_by_hand():
    # Four coplanar markers at (±20, 0, 0), (0, ±20, 0); FLE 1 mm. At the centroid TRE = FLE/√N = 0.5.
    # 10 mm along the normal: d² = 100 from each in-plane axis, f² = 20²/2 = 200 for each, 0 for the normal:
    # TRE² = 1/4 · (1 + (0.5 + 0.5)/3) = 1/3.
    p = np.array([[20, 0, 0], [-20, 0, 0], [0, 20, 0], [0, -20, 0]], float)
    assert predicted_tre(p, 1.0, (0, 0, 0)) == pytest.approx(0.5)
    assert predicted_tre(p, 1.0, (0, 0, 10)) == pytest.approx(np.sqrt(1 / 3))


def test_pairing_shuffled_with_an_extra_marker():
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(2, -1, 3), MARKERS.mean(axis=0), (5, -3, 4))
    daily = _moved(m, MARKERS)[[2, 0, 3, 1]]
    daily = np.vstack([daily, [60.0, 10.0, 150.0]])  # a calcification far from the markers
    pairing = pair_markers(MARKERS, daily)
    assert pairing.daily_index == [1, 3, 0, 2]
    assert any("unpaired" in w for w in pairing.warnings)
    assert pairing.cost_mm < 1e-6


def test_pairing_with_a_missing_marker():
    m = geometry.rigid_matrix(translation=(3, 0, 0))
    daily = _moved(m, MARKERS)[[3, 0, 1]]  # marker 3 not found
    pairing = pair_markers(MARKERS, daily)
    assert pairing.daily_index == [1, 2, -1, 0]
    assert any("not found" in w for w in pairing.warnings)


def test_migration_flagged_and_match_without_it():
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(1, 2, -1), MARKERS.mean(axis=0), (4, 2, -3))
    daily = _moved(m, MARKERS)
    daily[2] += [0, 4.0, 0]  # marker 3 migrated by 4 mm
    result = match_markers(MARKERS, daily, target=MARKERS.mean(axis=0))
    assert result.suspects == [2] and "exclude" in result.warnings[0]
    assert result.leave_one_out_mm[2] == pytest.approx(4.0, abs=0.5)
    keep = [0, 1, 3]
    again = match_markers(MARKERS[keep], daily[keep], target=MARKERS.mean(axis=0))
    iso = MARKERS.mean(axis=0)
    assert np.linalg.norm(geometry.apply(again.matrix_lps, iso) - geometry.apply(m, iso)) < 1e-6
    assert not again.warnings


def test_bad_marker_sets_refused():
    with pytest.raises(IGRTInputError):
        rigid_from_points(MARKERS[:2], MARKERS[:2])
    line = np.array([[0, 0, 0], [10, 0, 0], [20, 0, 0]], float)
    with pytest.raises(IGRTInputError):
        rigid_from_points(line, line + 1)
    with pytest.raises(IGRTInputError):
        pair_markers(MARKERS[:2], MARKERS)


def _write_markers(path, pts):
    import json

    path.write_text(
        json.dumps({"markers": [{"position_lps": list(map(float, p)), "confidence": 1.0} for p in pts]})
    )
    return path


def test_fiducials_match_cli(tmp_path, capsys):
    import json

    from igrt.cli.main import main

    iso = MARKERS.mean(axis=0)
    m = geometry.rigid_about_point(
        geometry.rotation_xyz_deg(0, 0, 2), iso, (5, 0, 0)
    )  # 5 mm left, 2° about z
    daily = geometry.apply(m, MARKERS)[[1, 3, 0, 2]]
    # The daily markers come from a CBCT in its own frame with the isocenter at (0, 0, 0).
    _write_markers(tmp_path / "p.json", MARKERS)
    _write_markers(tmp_path / "d.json", daily - iso)
    out = tmp_path / "r.json"
    iso_arg = ",".join(map(str, iso))
    code = main(
        [
            "fiducials",
            "match",
            str(tmp_path / "p.json"),
            str(tmp_path / "d.json"),
            "--isocenter",
            iso_arg,
            "--daily-isocenter",
            "0,0,0",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    r = json.loads(out.read_text())
    np.testing.assert_allclose(r["translation_mm"], [5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(r["rotation_deg"], [0, 0, 2], atol=1e-6)
    # Couch (HFS): C = M⁻¹, C(iso) − iso = −R⁻¹·t = −(5·cos2°, −5·sin2°, 0) in LPS: lateral (x) −4.99695,
    # vertical (−y) −0.17450, and the 2° about LPS z (Yt for HFS) is a roll of −2°.
    assert r["method"] == "fiducial"
    assert r["couch"]["lateral_mm"] == pytest.approx(-5 * np.cos(np.radians(2)), abs=1e-6)
    assert r["couch"]["vertical_mm"] == pytest.approx(-5 * np.sin(np.radians(2)), abs=1e-6)
    assert r["couch"]["roll_deg"] == pytest.approx(-2, abs=1e-6)
    assert r["quality"]["fre_mm"] < 1e-6


def test_fiducials_match_cli_refuses_too_few_and_collinear(tmp_path, capsys):
    from igrt.cli.main import main

    _write_markers(tmp_path / "two.json", MARKERS[:2])
    _write_markers(tmp_path / "line.json", [[0, 0, 0], [10, 0, 0], [20, 0, 0]])
    for a, b in (("two.json", "two.json"), ("line.json", "line.json")):
        out = tmp_path / "r.json"
        assert main(["fiducials", "match", str(tmp_path / a), str(tmp_path / b), "--out", str(out)]) == 2
        assert capsys.readouterr().err.startswith("igrt: error:") and not out.exists()


def test_migrated_marker_flagged_and_match_without_it(tmp_path, capsys):
    """Marker 3 moved 4 mm inside the patient: flagged, and the fit without it recovers the true shift."""
    import json

    from igrt.cli.main import main
    from igrt.markers.match import marker_result_from_points

    iso = MARKERS.mean(axis=0)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(1, -1, 2), iso, (3, -2, 4))
    daily = geometry.apply(m, MARKERS)
    daily[2] += (0.0, 0.0, 4.0)  # migration along S–I after the planning CT
    r = marker_result_from_points(MARKERS, daily, isocenter=iso)
    q = r["quality"]
    assert q["suspected_migration"] == [2]
    assert any("planning marker 3 may have migrated" in w for w in r["warnings"])
    alt = q["without_suspect"]
    assert alt["excluded"] == 2
    np.testing.assert_allclose(alt["translation_mm"], [3, -2, 4], atol=1e-4)
    # With the marker in, the fit is pulled away by a fraction of the 4 mm.
    assert np.linalg.norm(np.subtract(r["translation_mm"], [3, -2, 4])) > 0.3
    _write_markers(tmp_path / "p.json", MARKERS)
    _write_markers(tmp_path / "d.json", daily)
    out = tmp_path / "r.json"
    iso_arg = ",".join(map(str, iso))
    argv = ["fiducials", "match", str(tmp_path / "p.json"), str(tmp_path / "d.json"), "--isocenter", iso_arg]
    assert main([*argv, "--out", str(out)]) == 0
    assert "rerun with --exclude 3" in capsys.readouterr().err
    assert main([*argv, "--exclude", "3", "--out", str(out)]) == 0
    r2 = json.loads(out.read_text())
    np.testing.assert_allclose(r2["translation_mm"], [3, -2, 4], atol=1e-6)
    assert r2["quality"]["excluded"] == [2] and r2["quality"]["suspected_migration"] == []
    assert main([*argv, "--exclude", "9", "--out", str(tmp_path / "bad.json")]) == 2
    assert not (tmp_path / "bad.json").exists()
    capsys.readouterr()


def test_migration_thresholds_are_configurable(tmp_path, capsys):
    """The same 4 mm migration (distance changes up to 2.59 mm): silent above a 3 mm warning level,
    'exclude it' below a 2 mm exclusion level; nonsense thresholds are refused."""
    from igrt.cli.main import main

    iso = MARKERS.mean(axis=0)
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(1, -1, 2), iso, (3, -2, 4))
    daily = geometry.apply(m, MARKERS)
    daily[2] += (0.0, 0.0, 4.0)
    _write_markers(tmp_path / "p.json", MARKERS)
    _write_markers(tmp_path / "d.json", daily)
    out = tmp_path / "r.json"
    argv = ["fiducials", "match", str(tmp_path / "p.json"), str(tmp_path / "d.json"), "--out", str(out)]
    assert main([*argv, "--migration-warn", "3", "--migration-exclude", "5"]) == 0
    assert json.loads(out.read_text())["quality"]["suspected_migration"] == []
    assert main([*argv, "--migration-warn", "1", "--migration-exclude", "2"]) == 0
    r = json.loads(out.read_text())
    assert r["quality"]["suspected_migration"] == [2]
    assert any("exclude it and match again" in w for w in r["warnings"])
    assert main([*argv, "--migration-warn", "3", "--migration-exclude", "2"]) == 2
    capsys.readouterr()
