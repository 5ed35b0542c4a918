"""``igrt shift`` / ``export-reg`` / ``import-reg``: hand-worked couch numbers, verdicts, bad input."""

import json

import numpy as np
import pytest

from igrt import geometry
from igrt.cli.main import main
from igrt.couch.tolerance import display_rows, evaluate
from igrt.result import SCHEMA_VERSION, write_json

ISO = [10.0, -40.0, 200.0]


def _result(tmp_path, matrix, orientation="HFS", name="result.json", **extra):
    m = np.asarray(matrix, float)
    data = {
        "schema_version": SCHEMA_VERSION,
        "matrix_lps": m.tolist(),
        "planning_isocenter_lps": ISO,
        "daily_isocenter_lps": ISO,
        "orientation": orientation,
        "translation_mm": geometry.displacement_at(m, ISO).tolist(),
        "rotation_deg": geometry.angles_xyz_deg(m[:3, :3]).tolist(),
        "inputs": {},
        **extra,
    }
    write_json(tmp_path / name, data)
    return tmp_path / name


def _shift(tmp_path, capsys, *args):
    out = tmp_path / "shift.json"
    code = main(["shift", *map(str, args), "--out", str(out)])
    return code, capsys.readouterr().err, out


def test_patient_5mm_left_hfs(tmp_path, capsys):
    # Displaced 5 mm to the patient's left (LPS +x); HFS: the couch moves 5 mm to the patient's right,
    # which is IEC table-top −X: lateral −5 "couch moves". 5 mm > 2 mm (TG-142): "apply shift".
    code, err, out = _shift(tmp_path, capsys, _result(tmp_path, geometry.rigid_matrix(translation=(5, 0, 0))))
    assert code == 0, err
    c = json.loads(out.read_text())["couch"]
    assert c["lateral_mm"] == pytest.approx(-5) and c["sense"] == "couch moves"
    assert c["longitudinal_mm"] == pytest.approx(0) and c["vertical_mm"] == pytest.approx(0)
    assert c["verdict"] == "apply shift" and c["residuals"]["at_isocenter_mm"] == pytest.approx(0, abs=1e-9)
    assert "couch moves" in err


def test_orientation_override_and_target(tmp_path, capsys):
    # Same displacement, FFS given on the command line: the patient's right is the observer's right: +5.
    code, _, out = _shift(
        tmp_path,
        capsys,
        _result(tmp_path, geometry.rigid_matrix(translation=(5, 0, 0))),
        "--orientation",
        "FFS",
    )
    assert code == 0 and json.loads(out.read_text())["couch"]["lateral_mm"] == pytest.approx(5)
    # 2° about the vertical axis (anterior = LPS −y, HFS), 3-DOF couch, target 100 mm superior:
    # the target is exact, the isocenter keeps 2·100·sin(1°) = 3.490 mm.
    m = geometry.rigid_about_point(geometry.axis_angle_rotation((0, -1, 0), 2.0), ISO)
    target = ",".join(str(v) for v in np.add(ISO, [0, 0, 100]))
    code, _, out = _shift(tmp_path, capsys, _result(tmp_path, m), "--couch", "3dof", "--target", target)
    c = json.loads(out.read_text())["couch"]
    assert c["residuals"]["at_target_mm"] == pytest.approx(0, abs=1e-9)
    assert c["residuals"]["at_isocenter_mm"] == pytest.approx(200 * np.sin(np.radians(1)), abs=1e-9)
    assert c["verdict"] == "escalate"  # 2° left uncorrected by a 3-DOF couch (> 1° tolerance)


@pytest.mark.parametrize(
    ("translation", "sbrt", "verdict"),
    [
        ((1.5, 0, 0), False, "within tolerance"),
        ((1.5, 0, 0), True, "apply shift"),
        ((0, 0, 25), False, "escalate"),
    ],
)
def test_verdicts(translation, sbrt, verdict):
    from igrt.couch.correction import couch_correction

    c = couch_correction(geometry.rigid_matrix(translation=translation), ISO, "HFS")
    assert evaluate(c, "SRS/SBRT (1 mm, 0.5°)" if sbrt else None)["verdict"] == verdict


def test_display_profiles_only_relabel_or_negate():
    from igrt.couch.correction import couch_correction

    c = couch_correction(
        geometry.rigid_about_point(geometry.axis_angle_rotation((1, 0, 0), 1.0), ISO, (1, 2, 3)), ISO, "HFP"
    )
    iec = display_rows(c)
    patient = display_rows(c, "Patient displacement")
    vendor = display_rows(c, "Vendor-style names (couch moves)")
    assert [r[1] for r in iec] == [
        c[k]
        for k in ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")
    ]
    assert [r[1] for r in patient] == [-r[1] for r in iec] and patient[0][3] == "patient is displaced"
    assert [r[1] for r in vendor] == [r[1] for r in iec] and vendor[0][0] == "Lat"


@pytest.mark.parametrize(
    ("data", "args"),
    [
        ({"schema_version": "0.1"}, []),
        ({"schema_version": None}, []),
        ({"matrix_lps": np.diag([1.0, 1.0, 1.1, 1.0]).tolist()}, []),
        ({}, ["--orientation", "SUPINE"]),
        ({}, ["--max-rotation", "-3"]),
    ],
)
def test_bad_input_refused(tmp_path, capsys, data, args):
    path = _result(tmp_path, np.eye(4))
    doc = json.loads(path.read_text())
    doc.update(data)
    path.write_text(json.dumps(doc))
    code, err, out = _shift(tmp_path, capsys, path, *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("igrt: error:")
    assert not out.exists()


def test_reg_round_trip_through_the_cli(tmp_path, capsys):
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(1, -2, 3), ISO, (4, -5, 6))
    path = _result(tmp_path, m)
    assert main(["export-reg", str(path), "--out", str(tmp_path / "reg.dcm")]) == 0
    assert main(["import-reg", str(tmp_path / "reg.dcm"), "--out", str(tmp_path / "back.json")]) == 0
    back = json.loads((tmp_path / "back.json").read_text())
    np.testing.assert_allclose(back["matrix_lps"], m, atol=1e-6)
    capsys.readouterr()


def test_an_uncertain_match_says_escalate_beside_the_verdict(tmp_path, capsys):
    # The match flagged itself (its bound above the limit): the shift output and the report say
    # "escalate: match uncertain" with the reason; the couch numbers are unchanged by it.
    reason = "the 95% bound on the translation, 1.40 mm, exceeds 1 mm"
    quality = {
        "similarity_before": 0.5,
        "similarity_after": 0.7,
        "uncertainty": {"translation_mm_95": 1.4, "rotation_deg_95": 0.3, "flag": True, "reasons": [reason]},
    }
    m = geometry.rigid_matrix(translation=(5, 0, 0))
    code, err, out = _shift(tmp_path, capsys, _result(tmp_path, m, quality=quality))
    shift = json.loads(out.read_text())
    assert (
        code == 0
        and shift["match_uncertainty"]["escalate"]
        and shift["couch"]["lateral_mm"] == pytest.approx(-5)
    )
    assert f"escalate: match uncertain: {reason}" in err
    quality["uncertainty"].update(flag=False, reasons=[], translation_mm_95=0.3)
    code, err, out = _shift(tmp_path, capsys, _result(tmp_path, m, quality=quality, name="ok.json"))
    assert code == 0 and not json.loads(out.read_text())["match_uncertainty"]["escalate"]
    assert "escalate" not in err


def test_report_shows_the_escalation():
    from igrt.report import _escalation_html

    flagged = {"quality": {"uncertainty": {"translation_mm_95": None, "rotation_deg_95": None, "flag": True,
                                           "reasons": ["too few samples"]}}}  # fmt: skip
    assert "escalate: match uncertain</b>: too few samples (no bound could be made)" in _escalation_html(
        flagged
    )
    fine = {"quality": {"uncertainty": {"translation_mm_95": 0.2, "rotation_deg_95": 0.1, "flag": False}}}
    assert _escalation_html(fine) == "<p>Match uncertainty: 95% bounds: 0.2 mm at the isocenter, 0.1°</p>"
    assert _escalation_html({"quality": {}}) == ""  # a result from before the estimate existed
