"""``igrt shift`` end to end: the shift JSON contract (docs/CONVENTIONS.md §4), decubitus, targets, tolerances, bad input.

Expected numbers are worked by hand in the comments from the IEC 61217 table-top axes (docs/CONVENTIONS.md;
decubitus axes in igrt/couch/correction.py and Testing/data/couch/hand_worked.json).
"""

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from igrt import geometry
from igrt.cli.main import main
from igrt.result import SCHEMA_VERSION, write_json

ISO = [10.0, -40.0, 200.0]
COUCH_KEYS = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")


def _result(tmp_path, matrix, orientation="HFS", **extra):
    m = np.asarray(matrix, float)
    data = {
        "schema_version": SCHEMA_VERSION,
        "kind": "igrt.match",
        "matrix_lps": m.tolist(),
        "planning_isocenter_lps": ISO,
        "daily_isocenter_lps": ISO,
        "orientation": orientation,
        "translation_mm": geometry.displacement_at(m, ISO).tolist(),
        "rotation_deg": geometry.angles_xyz_deg(m[:3, :3]).tolist(),
        "inputs": {"planning": {"patient_id": "P1"}, "daily": {"patient_id": "P1"}},
        **extra,
    }
    path = tmp_path / "result.json"
    write_json(path, data)
    return path


def _run(tmp_path, capsys, *args, out_name="shift.json"):
    out = tmp_path / out_name
    code = main(["shift", *map(str, args), "--out", str(out)])
    err = capsys.readouterr().err
    return code, err, out


def _ok(tmp_path, capsys, *args, **kw):
    code, err, out = _run(tmp_path, capsys, *args, **kw)
    assert code == 0, err
    return json.loads(out.read_text())


def test_shift_json_contract(tmp_path, capsys):
    # Patient 3 mm left, 2 mm anterior, 4 mm superior (LPS +3, −2, +4); HFS: the couch moves 3 mm to the
    # patient's right (−Xt), 4 mm inferior (−Yt, away from the gantry) and 2 mm down (−Zt, posterior).
    path = _result(tmp_path, geometry.rigid_matrix(translation=(3, -2, 4)))
    doc = _ok(tmp_path, capsys, path, "--couch", "6dof")
    assert doc["schema_version"] == "1.0" and doc["kind"] == "igrt.shift"
    c = doc["couch"]
    assert [c[k] for k in COUCH_KEYS] == pytest.approx([-3, -4, -2, 0, 0, 0])
    assert c["sense"] == "couch moves" and c["verdict"] == "apply shift"  # 4 mm > 2 mm (TG-142)
    assert set(c["residuals"]) >= {"at_isocenter_mm", "at_target_mm", "max_over_target_mm"}
    assert c["residuals"]["at_isocenter_mm"] == pytest.approx(0, abs=1e-9)
    assert c["residuals"]["max_over_target_mm"] is None
    assert doc["inputs"]["couch"] == "6dof" and doc["inputs"]["result_path"] == str(path)
    assert doc["inputs"]["orientation_used"] == "HFS" and doc["inputs"]["orientation_source"] == "result"
    assert doc["result"]["matrix_lps"] == geometry.rigid_matrix(translation=(3, -2, 4)).tolist()
    assert doc["tolerance"]["translation_mm"] == {
        "lateral_mm": 2.0,
        "longitudinal_mm": 2.0,
        "vertical_mm": 2.0,
    }


@pytest.mark.parametrize(
    ("orientation", "expected"),
    # Couch moves LPS (−3, +2, −4) (see above). HFDL: Xt = anterior (−y), Yt = superior, Zt = right (−x)
    # → (−2, −4, +3). HFDR: Xt = posterior, Yt = superior, Zt = left → (+2, −4, −3). FFDL: Xt = posterior,
    # Yt = inferior, Zt = right → (+2, +4, +3). FFDR: Xt = anterior, Yt = inferior, Zt = left → (−2, +4, −3).
    [
        ("HFDL", (-2, -4, 3)),
        ("HFDR", (2, -4, -3)),
        ("FFDL", (2, 4, 3)),
        ("FFDR", (-2, 4, -3)),
    ],
)
def test_decubitus_through_the_cli(tmp_path, capsys, orientation, expected):
    path = _result(tmp_path, geometry.rigid_matrix(translation=(3, -2, 4)))
    c = _ok(tmp_path, capsys, path, "--orientation", orientation.lower())["couch"]
    assert (c["lateral_mm"], c["longitudinal_mm"], c["vertical_mm"]) == pytest.approx(expected)
    assert c["orientation"] == orientation


def test_orientation_in_result_is_used_and_unknown_is_assumed_hfs(tmp_path, capsys):
    path = _result(tmp_path, geometry.rigid_matrix(translation=(5, 0, 0)), orientation="FFP")
    assert _ok(tmp_path, capsys, path)["couch"]["lateral_mm"] == pytest.approx(-5)  # FFP: Xt = left
    path = _result(tmp_path, geometry.rigid_matrix(translation=(5, 0, 0)), orientation=None)
    doc = _ok(tmp_path, capsys, path)
    assert doc["couch"]["lateral_mm"] == pytest.approx(-5) and "assumed HFS" in doc["warnings"][0]


def test_profiles_never_change_the_motion(tmp_path, capsys):
    m = geometry.rigid_about_point(geometry.axis_angle_rotation((1, 2, 3), 2.5), ISO, (1.5, -2.5, 3.5))
    path = _result(tmp_path, m, orientation="HFDR")
    docs = {
        p: _ok(tmp_path, capsys, path, "--profile", p, out_name=f"{p}.json")
        for p in ("iec", "patient", "varian")
    }
    couch = docs["iec"]["couch"]
    for p, doc in docs.items():
        assert doc["couch"] == couch, p  # the computed motion is byte-for-byte the same
        assert doc["tolerance"] == docs["iec"]["tolerance"]
    values = [couch[k] for k in COUCH_KEYS]
    assert [r["value"] for r in docs["iec"]["display"]["rows"]] == values
    assert [r["value"] for r in docs["patient"]["display"]["rows"]] == [-v + 0.0 for v in values]
    assert [r["value"] for r in docs["varian"]["display"]["rows"]] == values
    assert [r["label"] for r in docs["varian"]["display"]["rows"]] == [
        "Lat",
        "Lng",
        "Vrt",
        "Rtn",
        "Pitch",
        "Roll",
    ]
    assert {r["sense"] for r in docs["patient"]["display"]["rows"]} == {"patient is displaced"}
    assert {r["sense"] for r in docs["varian"]["display"]["rows"]} == {"couch moves"}


def test_target_points_largest_residual_by_hand(
    tmp_path,
    capsys,
):
    # HFS; anatomy turned 2° about the vertical (Zt = anterior = LPS −y) through the isocenter. A 3-DOF
    # couch corrects nothing rotational; exact at the isocenter, no translation. A point at distance d
    # from the vertical axis through the isocenter is off by 2·d·sin(1°): the points at 100 mm superior,
    # 50 mm inferior and 30 mm left give the largest at d = 100: 3.4905 mm. The point 80 mm anterior
    # lies on the axis: 0.
    m = geometry.rigid_about_point(geometry.axis_angle_rotation((0, -1, 0), 2.0), ISO)
    pts = np.add(ISO, [[0, 0, 100], [0, 0, -50], [30, 0, 0], [0, -80, 0]])
    (tmp_path / "pts.csv").write_text("# x,y,z LPS mm\n" + "\n".join(",".join(map(str, p)) for p in pts))
    doc = _ok(
        tmp_path, capsys, _result(tmp_path, m), "--couch", "3dof", "--target-points", tmp_path / "pts.csv"
    )
    r = doc["couch"]["residuals"]
    assert r["max_over_target_mm"] == pytest.approx(200 * math.sin(math.radians(1)), abs=1e-9)
    assert r["target_point_count"] == 4 and r["at_isocenter_mm"] == pytest.approx(0, abs=1e-9)
    assert doc["couch"]["verdict"] == "escalate"  # 2° cannot be corrected by a 3-DOF couch (1° tolerance)
    (tmp_path / "pts.json").write_text(json.dumps(pts.tolist()))
    doc2 = _ok(
        tmp_path, capsys, _result(tmp_path, m), "--couch", "3dof", "--target-points", tmp_path / "pts.json"
    )
    assert doc2["couch"]["residuals"] == r


def test_target_mask_centroid_and_boundary(tmp_path, capsys):
    # Label box: voxels i 2..4, j 1..3, k 0..2 of a 1 mm grid at origin (0, −50, 150) (LPS, identity
    # direction): centers x ∈ {2, 3, 4}, y ∈ {−49, −48, −47}, z ∈ {150, 151, 152}; centroid (3, −48, 151).
    img = sitk.Image(8, 8, 8, sitk.sitkUInt8)
    img.SetOrigin((0.0, -50.0, 150.0))
    arr = sitk.GetArrayFromImage(img)
    arr[0:3, 1:4, 2:5] = 1
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(img)
    sitk.WriteImage(mask, str(tmp_path / "target.nrrd"))
    # 3-DOF, anatomy turned 2° about the vertical through the isocenter (10, −40, 200): exact at the centroid.
    m = geometry.rigid_about_point(geometry.axis_angle_rotation((0, -1, 0), 2.0), ISO)
    doc = _ok(
        tmp_path, capsys, _result(tmp_path, m), "--couch", "3dof", "--target-mask", tmp_path / "target.nrrd"
    )
    assert doc["target_lps"] == pytest.approx([3, -48, 151])
    r = doc["couch"]["residuals"]
    assert r["at_target_mm"] == pytest.approx(0, abs=1e-9)
    # 27 voxels, 1 interior: 26 boundary points; the largest residual is at the corner farthest from the
    # centroid in the plane normal to the axis (x, z): |(±1, ±1)| = √2 → 2·√2·sin(1°).
    assert r["target_point_count"] == 26
    assert r["max_over_target_mm"] == pytest.approx(2 * math.sqrt(2) * math.sin(math.radians(1)), abs=1e-9)
    assert r["at_isocenter_mm"] > 1.0  # the isocenter is ~49 mm from the axis through the target: not exact


@pytest.mark.parametrize(
    ("translation", "args", "verdict"),
    [
        ((1.5, 0, 0), [], "within tolerance"),  # 1.5 mm ≤ 2 mm (TG-142)
        ((1.5, 0, 0), ["--sbrt"], "apply shift"),  # 1.5 mm > 1 mm (SRS/SBRT)
        ((1.5, 0, 0), ["--tolerance-mm", "1.2"], "apply shift"),
        ((0, 0, 15), [], "apply shift"),
        ((0, 0, 15), ["--action-mm", "10"], "escalate"),  # beyond the action limit: needs confirmation
        ((0, 0, 25), [], "escalate"),  # beyond 20 mm
    ],
)
def test_verdicts_through_the_cli(tmp_path, capsys, translation, args, verdict):
    path = _result(tmp_path, geometry.rigid_matrix(translation=translation))
    assert _ok(tmp_path, capsys, path, *args)["couch"]["verdict"] == verdict


def test_large_rotation_escalates(tmp_path, capsys):
    # 6° about the vertical: beyond the 5° action limit, even though a 6-DOF couch could turn it back.
    path = _result(tmp_path, geometry.rigid_about_point(geometry.axis_angle_rotation((0, -1, 0), 6.0), ISO))
    c = _ok(tmp_path, capsys, path)["couch"]
    assert c["verdict"] == "escalate" and c["rotation_deg"] == pytest.approx(-6)
    assert any("action limit" in reason for reason in c["verdict_reasons"])


@pytest.mark.parametrize(
    ("data", "args", "words"),
    [
        ({"schema_version": "2.0"}, [], "schema_version"),
        ({"schema_version": None}, [], "schema_version"),
        ({"matrix_lps": np.diag([1.0, 1.0, 1.1, 1.0]).tolist()}, [], "rigid"),
        ({"matrix_lps": [[1, 0], [0, 1]]}, [], "rigid"),
        ({"orientation": "SUPINE"}, [], "orientation"),
        ({}, ["--orientation", "HFX"], "orientation"),
        ({}, ["--max-rotation", "-3"], "max-rotation"),
        ({}, ["--max-rotation", "nan"], "max-rotation"),
        ({}, ["--max-rotation", "400"], "max-rotation"),
        ({}, ["--tolerance-mm", "0"], "tolerance"),
        ({}, ["--tolerance-mm", "-1"], "tolerance"),
        ({}, ["--tolerance-deg", "inf"], "tolerance"),
        ({}, ["--action-mm", "1"], "action limit"),  # below the 2 mm tolerance
        ({}, ["--target", "1,2"], "x,y,z"),
        ({}, ["--couch", "5dof"], "5dof"),
        ({}, ["--target", "1,2,3", "--target-mask", "m.nrrd"], "not both"),
        ({}, ["--target-points", "missing.csv"], "target points"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, data, args, words):
    path = _result(tmp_path, np.eye(4))
    doc = json.loads(path.read_text())
    doc.update(data)
    path.write_text(json.dumps(doc))
    try:
        code, err, out = _run(tmp_path, capsys, path, *args)
    except SystemExit as exc:  # argparse
        code, err, out = exc.code, capsys.readouterr().err, tmp_path / "shift.json"
    assert code == 2
    assert err.count("\n") == 1 and "error" in err and words in err, err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no temporary left behind


def test_unreadable_result(tmp_path, capsys):
    (tmp_path / "result.json").write_text("{not json")
    code, err, out = _run(tmp_path, capsys, tmp_path / "result.json")
    assert code == 2 and err.count("\n") == 1 and not out.exists()


def test_reg_round_trip_keeps_a_decubitus_orientation(tmp_path, capsys):
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(1, -2, 3), ISO, (4, -5, 6))
    path = _result(tmp_path, m, orientation="FFDL")
    assert main(["export-reg", str(path), "--out", str(tmp_path / "reg.dcm")]) == 0
    assert main(["import-reg", str(tmp_path / "reg.dcm"), "--out", str(tmp_path / "back.json")]) == 0
    back = json.loads((tmp_path / "back.json").read_text())
    np.testing.assert_allclose(back["matrix_lps"], m, atol=1e-6)
    assert back["orientation"] == "FFDL"
    # The imported result gives the same couch shift as the original.
    a = _ok(tmp_path, capsys, path, out_name="a.json")["couch"]
    b = _ok(tmp_path, capsys, tmp_path / "back.json", out_name="b.json")["couch"]
    assert [b[k] for k in COUCH_KEYS] == pytest.approx([a[k] for k in COUCH_KEYS], abs=1e-6)


def test_export_reg_refuses_bad_result(tmp_path, capsys):
    path = _result(tmp_path, np.eye(4), schema_version="9.0")
    assert main(["export-reg", str(path), "--out", str(tmp_path / "reg.dcm")]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "reg.dcm").exists()
