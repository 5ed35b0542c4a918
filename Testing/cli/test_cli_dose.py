"""``igrt dvh`` and ``igrt dose-impact`` end to end on written RTDOSE/RTSTRUCT files: the JSON contracts of
issue 11, the hand-worked +5 mm case through the command line, and hostile input (exit 2, one line, nothing
written).

Dose = 10 Gy + 0.1 Gy/mm · x on a 1 mm grid (x −40…40, y −30…30, z −30…30 mm); the cube is x, y ∈ ±10 mm
on planes z = −10 … 10 mm: its mean is 10 Gy, and 10.5 Gy once displaced 5 mm to the patient's left.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from dose_fixtures import FOR_UID, box_contours, write_rtdose, write_rtstruct

from igrt import geometry
from igrt.cli.main import main
from igrt.result import SCHEMA_VERSION, write_json

METRICS = ("min_gy", "mean_gy", "max_gy", "D98_gy", "D95_gy", "D50_gy", "D2_gy", "D0.03cc_gy")


@pytest.fixture
def case(tmp_path):
    x = -40.0 + np.arange(81)
    gy = np.broadcast_to(10.0 + 0.1 * x, (61, 61, 81))
    dose = write_rtdose(tmp_path / "RD.dcm", gy, (-40.0, -30.0, -30.0), (1.0, 1.0, 1.0))
    planes = np.arange(-10.0, 10.1, 2.5)
    rs = write_rtstruct(
        tmp_path / "RS.dcm",
        [("Cube", box_contours(-10, 10, -10, 10, planes)), ("Far", box_contours(200, 210, 0, 10, planes))],
    )
    return tmp_path, dose, rs


def _result(path, shift_x):
    m = geometry.rigid_matrix(translation=(shift_x, 0.0, 0.0))
    write_json(
        path,
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "igrt.match",
            "matrix_lps": m.tolist(),
            "planning_isocenter_lps": [0.0, 0.0, 0.0],
            "orientation": "HFS",
            "inputs": {"planning": {"frame_of_reference_uid": FOR_UID}},
        },
    )
    return path


def test_dvh_contract(case, capsys):
    tmp, dose, rs = case
    out = tmp / "dvh.json"
    assert main(["dvh", str(dose), str(rs), "--structure", "Cube", "--v-dose", "10", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == "1.0" and doc["kind"] == "igrt.dvh"
    (s,) = doc["structures"]
    assert set(s) >= {"name", "volume_cc", "metrics", "dvh"} and s["name"] == "Cube"
    assert s["volume_cc"] == pytest.approx(8.33)  # 8000 mm³ and two cone caps (test_dvh_hand_worked)
    assert set(METRICS) <= set(s["metrics"]) and s["metrics"]["mean_gy"] == pytest.approx(10.0, abs=1e-4)
    assert s["metrics"]["V10Gy_pct"] == pytest.approx(50.0, abs=0.01)
    assert s["dvh"]["volume_pct"][0] == 100.0 and s["dvh"]["volume_pct"][-1] == 0.0
    assert len(s["dvh"]["dose_gy"]) == len(s["dvh"]["volume_pct"])
    assert "Cube" in capsys.readouterr().err
    # every structure by default: the one outside the dose grid is named, not silently dropped
    assert main(["dvh", str(dose), str(rs), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [s["name"] for s in doc["structures"]] == ["Cube"] and doc["outside_dose_grid"] == ["Far"]


def test_dose_impact_contract_result_and_shift(case):
    tmp, dose, rs = case
    result = _result(tmp / "result.json", 5.0)
    out = tmp / "impact.json"
    args = ["--dose", str(dose), "--structures", str(rs), "--structure", "Cube", "--out", str(out)]
    assert main(["dose-impact", str(result), *args]) == 0
    doc = json.loads(out.read_text())
    (s,) = doc["structures"]
    assert set(s) >= {"name", "planned", "fraction", "delta"} and set(METRICS) <= set(s["delta"])
    assert s["delta"]["mean_gy"] == pytest.approx(0.5, abs=1e-5)  # 5 mm × 0.1 Gy/mm
    assert "static dose cloud" in doc["approximation"]
    shift = tmp / "shift.json"
    assert main(["shift", str(result), "--couch", "3dof", "--out", str(shift)]) == 0
    assert main(["dose-impact", str(shift), *args]) == 0  # a pure translation: 3 DOF correct it all
    doc = json.loads(out.read_text())
    assert doc["structures"][0]["delta"]["mean_gy"] == pytest.approx(0.0, abs=1e-6)
    assert doc["placements"][0]["correction"] == "couch 3dof"
    more = [str(_result(tmp / f"fx{i}.json", s)) for i, s in enumerate((2.0, -4.0))]
    assert main(["dose-impact", *more, "--fractions", "2", *args]) == 0
    doc = json.loads(out.read_text())
    assert doc["fractions"] == 2 and doc["structures"][0]["delta"]["mean_gy"] == pytest.approx(-0.1, abs=1e-5)


def _bad_cases(tmp, dose, rs):
    gy = np.full((5, 6, 7), 2.0)
    unscaled = write_rtdose(tmp / "unscaled.dcm", gy, (0, 0, 0), (1, 1, 1), scaling=None)
    other_frame = write_rtdose(tmp / "other.dcm", gy, (0, 0, 0), (1, 1, 1), for_uid=FOR_UID + ".7")
    nan = np.ones((5, 6, 7), np.float32)
    nan[1, 1, 1] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(nan), str(tmp / "nan.nrrd"))
    crossing = np.array([[0, 0, 0], [10, 10, 0], [10, 0, 0], [0, 6, 0]], float)
    bad_rs = write_rtstruct(tmp / "bad_rs.dcm", [("Bowtie", [crossing, crossing + [0, 0, 2.5]])])
    junk = tmp / "junk.json"
    junk.write_text('{"kind": "igrt.match", "matrix_lps": [[1, 0], [0, 1]]}')
    r1, r2 = _result(tmp / "r1.json", 1.0), _result(tmp / "r2.json", 2.0)
    imp = ["--dose", str(dose), "--structures", str(rs)]
    return {
        "RTDOSE without scaling": ["dvh", str(unscaled), str(rs)],
        "different frames": ["dvh", str(other_frame), str(rs)],
        "NaN dose": ["dvh", str(tmp / "nan.nrrd"), str(rs)],
        "outside the grid": ["dvh", str(dose), str(rs), "--structure", "Far"],
        "no such structure": ["dvh", str(dose), str(rs), "--structure", "PTV"],
        "self-intersecting contour": ["dvh", str(dose), str(bad_rs)],
        "missing dose": ["dvh", str(tmp / "none.dcm"), str(rs)],
        "two doses without --sum": ["dvh", str(dose), str(dose), str(rs)],
        "negative Vx": ["dvh", str(dose), str(rs), "--v-dose", "-1"],
        "broken result": ["dose-impact", str(junk), *imp],
        "fractions mismatch": ["dose-impact", str(r1), str(r2), "--fractions", "3", *imp],
        "zero fractions": ["dose-impact", str(r1), "--fractions", "0", *imp],
        "dose as result": ["dose-impact", str(dose), *imp],
    }


def test_hostile_input_exit_2_one_line_nothing_written(case, capsys):
    tmp, dose, rs = case
    for what, argv in _bad_cases(tmp, dose, rs).items():
        out = tmp / "out" / "never.json"
        capsys.readouterr()
        assert main([*argv, "--out", str(out)]) == 2, what
        err = capsys.readouterr().err.strip()
        assert err.startswith("igrt: error:") and "\n" not in err, (what, err)
        assert not out.exists() and not (tmp / "out").exists(), what


def test_dose_impact_of_a_study_patient_folder(case):
    """A study patient's fractions (as ``igrt study run`` writes them): +3, 0, −6 mm to the patient's left,
    each corrected by a 3-DOF couch. As treated (shift.json): every translation corrected, the course is the
    plan; uncorrected (result.json): the course mean moves by 0.1·(3 + 0 − 6)/3 = −0.1 Gy."""
    from igrt.couch.workflow import couch_shift
    from igrt.result import load_result

    tmp, dose, rs = case
    patient = tmp / "study" / "fractions" / "P1"
    for i, x in enumerate((3.0, 0.0, -6.0), start=1):
        folder = patient / f"fx{i:02d}"
        folder.mkdir(parents=True)
        result = _result(folder / "result.json", x)
        write_json(folder / "shift.json", couch_shift(load_result(result), couch="3dof"))
    out = tmp / "impact.json"
    args = ["--dose", str(dose), "--structures", str(rs), "--structure", "Cube", "--out", str(out)]
    assert main(["dose-impact", str(patient), "--fractions", "3", *args]) == 0
    doc = json.loads(out.read_text())
    assert doc["fractions"] == 3 and len(doc["per_fraction"]) == 3
    assert doc["structures"][0]["delta"]["mean_gy"] == pytest.approx(0.0, abs=1e-6)
    assert main(["dose-impact", str(patient), "--uncorrected", *args]) == 0
    assert json.loads(out.read_text())["structures"][0]["delta"]["mean_gy"] == pytest.approx(-0.1, abs=1e-5)
    (patient / "fx02" / "shift.json").unlink()
    (patient / "fx02" / "failure.json").write_text('{"reason": "no overlap"}')
    assert main(["dose-impact", str(patient), *args]) == 2  # a failed fraction is not silently left out
