"""The ``igrt match`` command line: the contract (docs/CONVENTIONS.md §4), bad input, and nothing left half-written."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import make_block_phantom, move_patient
from igrt import geometry
from igrt.cli.main import main


def _run(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Planning and daily (patient 5 mm left, 1.5 mm anterior) as MHA files."""
    d = tmp_path_factory.mktemp("pair")
    planning = make_block_phantom()
    daily = move_patient(planning, geometry.rigid_matrix(translation=(5, -1.5, 0)), 0.9, 30, 10)
    sitk.WriteImage(planning, str(d / "planning.mha"))
    sitk.WriteImage(daily, str(d / "daily.nrrd"))
    iso = np.array(planning.TransformContinuousIndexToPhysicalPoint([54.5, 44.5, 31.5]))
    return d, iso


def test_match_writes_the_result_json(pair, tmp_path, capsys):
    d, iso = pair
    out = tmp_path / "result.json"
    iso_arg = ",".join(f"{v:.3f}" for v in iso)
    code, err = _run(
        [
            "match",
            d / "planning.mha",
            d / "daily.nrrd",
            "--isocenter",
            iso_arg,
            "--daily-isocenter",
            iso_arg,
            "--method",
            "bone",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    r = json.loads(out.read_text())
    for key in (
        "schema_version",
        "matrix_lps",
        "translation_mm",
        "rotation_deg",
        "couch",
        "quality",
        "inputs",
        "software",
        "elapsed_s",
    ):
        assert key in r
    np.testing.assert_allclose(r["translation_mm"], [5, -1.5, 0], atol=0.2)
    assert r["couch"]["sense"] == "couch moves"
    # HFS assumed: couch lateral −5 (towards the patient's right), vertical −1.5 (anterior → couch down).
    assert r["couch"]["lateral_mm"] == pytest.approx(-5, abs=0.2)
    assert r["couch"]["vertical_mm"] == pytest.approx(-1.5, abs=0.2)
    assert any("orientation" in w for w in r["warnings"])
    assert "patient is displaced" in err and "couch moves" in err


def _assert_refused(args, capsys, out, code=2):
    got, err = _run(args, capsys)
    assert got == code
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("igrt")]
    assert len(lines) == 1 and len(lines[0]) < 400, err
    assert not out.exists()
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())
    return lines[0]


def test_empty_folder_refused(pair, tmp_path, capsys):
    d, _ = pair
    (tmp_path / "empty").mkdir()
    out = tmp_path / "r.json"
    _assert_refused(["match", d / "planning.mha", tmp_path / "empty", "--out", out], capsys, out)


def test_non_image_file_refused(pair, tmp_path, capsys):
    d, _ = pair
    bad = tmp_path / "notes.mha"
    bad.write_text("this is not an image\n")
    out = tmp_path / "r.json"
    _assert_refused(["match", d / "planning.mha", bad, "--out", out], capsys, out)


def test_daily_that_does_not_overlap_refused(pair, tmp_path, capsys):
    d, iso = pair
    far = sitk.ReadImage(str(d / "daily.nrrd"))
    far.SetOrigin([o + 900.0 for o in far.GetOrigin()])
    sitk.WriteImage(far, str(tmp_path / "far.mha"))
    out = tmp_path / "r.json"
    iso_arg = ",".join(f"{v:.3f}" for v in iso)
    line = _assert_refused(
        [
            "match",
            d / "planning.mha",
            tmp_path / "far.mha",
            "--isocenter",
            iso_arg,
            "--daily-isocenter",
            iso_arg,
            "--out",
            out,
        ],
        capsys,
        out,
    )
    assert "overlap" in line


def _dicom_series(image, folder, **kw):
    from igrt.io.dicom_write import write_image_series

    write_image_series(image, folder, **kw)
    return folder


def test_dicom_bad_inputs_refused(tmp_path, capsys):
    small = make_block_phantom(size=(40, 36, 12))
    good = _dicom_series(small, tmp_path / "good", patient_id="A")
    other = _dicom_series(small, tmp_path / "other", patient_id="B")
    out = tmp_path / "r.json"
    # Different patients.
    line = _assert_refused(["match", good, other, "--out", out], capsys, out)
    assert "patient" in line.lower()
    # Two series mixed in one folder.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, f in enumerate(sorted(good.iterdir())[:4] + sorted(other.iterdir())[:4]):
        (mixed / f"{i}.dcm").write_bytes(f.read_bytes())
    _assert_refused(["match", good, mixed, "--out", out], capsys, out)
    # A truncated DICOM file.
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    files = sorted(good.iterdir())
    for f in files:
        (trunc / f.name).write_bytes(f.read_bytes())
    victim = trunc / files[5].name
    victim.write_bytes(victim.read_bytes()[:1500])
    _assert_refused(["match", good, trunc, "--out", out], capsys, out)


def test_console_script_reports_bad_input(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "igrt.cli",
            "match",
            str(tmp_path / "missing"),
            str(tmp_path / "missing2"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("igrt: error:")
    assert not Path(out).exists()


def test_match_takes_isocenter_and_orientation_from_a_real_rtplan(tmp_path, capsys, shared_data):
    # Pinnacle plan (shared data): isocenter (72.53, -304.34, -9.31) mm LPS, HFS, patient ID 123456
    # (read by hand with pydicom). The phantom is placed around that point; volume files carry no
    # patient ID, so the plan cannot be checked against them and is taken as given.
    plan = shared_data / "pinnacle_breast_rt" / "rtplan.dcm"
    iso = np.array([72.5304715, -304.3445583, -9.3092401])
    planning = make_block_phantom(origin=tuple(iso - [109.0, 89.0, 78.75]))
    truth = geometry.rigid_matrix(translation=(-3, 0, 4))  # 3 mm to the patient's right, 4 mm superior
    sitk.WriteImage(planning, str(tmp_path / "planning.mha"))
    sitk.WriteImage(move_patient(planning, truth, noise=10), str(tmp_path / "daily.mha"))
    out = tmp_path / "r.json"
    code, err = _run(
        ["match", tmp_path / "planning.mha", tmp_path / "daily.mha", "--plan", plan, "--out", out], capsys
    )
    assert code == 0, err
    r = json.loads(out.read_text())
    np.testing.assert_allclose(r["planning_isocenter_lps"], iso, atol=1e-3)
    assert r["orientation"] == "HFS" and r["inputs"]["isocenter_source"] == "plan"
    np.testing.assert_allclose(r["translation_mm"], [-3, 0, 4], atol=0.2)
    # HFS: 3 mm right → couch lateral +3; 4 mm superior → couch longitudinal −4 (away from the gantry).
    assert r["couch"]["lateral_mm"] == pytest.approx(3, abs=0.2)
    assert r["couch"]["longitudinal_mm"] == pytest.approx(-4, abs=0.2)


def test_help_names_every_verb_and_the_real_threshold_default(capsys):
    from igrt.cli.main import build_parser
    from igrt.markers.detect import DEFAULT_THRESHOLD_HU

    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert {"match", "shift", "export-reg", "import-reg", "fiducials", "demo"} <= set(verbs)
    for verb in verbs:
        assert verb in parser.description
    detect = verbs["fiducials"]._subparsers._group_actions[0].choices["detect"]
    threshold = next(a for a in detect._actions if a.dest == "threshold")
    assert f"default {DEFAULT_THRESHOLD_HU:g}" in threshold.help and DEFAULT_THRESHOLD_HU == 1300.0
    assert "1800" not in threshold.help


def test_report_draws_the_planning_structures_given(pair, tmp_path, capsys):
    """`--structures` puts the real planning structures on the report's contour panels (not HU outlines)."""
    d, iso = pair
    planning = sitk.ReadImage(str(d / "planning.mha"))
    labels = sitk.Cast(planning > 1000.0, sitk.sitkUInt8)  # the dense bone cores: label 1
    sitk.WriteImage(labels, str(tmp_path / "structures.nrrd"))
    point = "--isocenter=" + ",".join(f"{v:.4f}" for v in iso)
    args = ["match", d / "planning.mha", d / "daily.nrrd", point, "--report", tmp_path / "report"]
    code, err = _run(
        [*args, "--structures", tmp_path / "structures.nrrd", "--out", tmp_path / "r.json"], capsys
    )
    assert code == 0, err
    page = (tmp_path / "report" / "report.html").read_text()
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["inputs"]["structures"] == str(tmp_path / "structures.nrrd")
    assert "Planning structures (" in page and "contours (body cyan, bone yellow)" not in page
    # Without --report there is nothing to draw on; a name that is not in the set is refused; both
    # before the match runs and writing nothing.
    out = tmp_path / "none.json"
    code, err = _run([*args[:4], "--structures", tmp_path / "structures.nrrd", "--out", out], capsys)
    assert code == 2 and "--report" in err and not out.exists()
    code, err = _run(
        [*args, "--structures", tmp_path / "structures.nrrd", "--structure", "PTV", "--out", out], capsys
    )
    assert code == 2 and "no structure 'PTV'" in err and not out.exists()


def test_structures_of_another_frame_are_refused_before_the_match(tmp_path, capsys, shared_data):
    """The Eclipse prostate RTSTRUCT (its own frame of reference) cannot be drawn on another patient's CT."""
    rtstruct = next((shared_data / "eclipse_prostate_rt" / "dicom").glob("RS.*.dcm"))
    planning = _dicom_series(make_block_phantom(), tmp_path / "planning", frame_of_reference_uid="1.2.3.4.5")
    daily = _dicom_series(make_block_phantom(), tmp_path / "daily", frame_of_reference_uid="1.2.3.4.6")
    out = tmp_path / "r.json"
    args = ["match", planning, daily, "--report", tmp_path / "report", "--structures", rtstruct, "--out", out]
    code, err = _run(args, capsys)
    assert code == 2 and "do not belong together" in err and err.count("\n") == 1, err
    assert not out.exists() and not (tmp_path / "report").exists()


def test_uncertainty_limits_are_settable_and_checked(pair, tmp_path, capsys):
    """`--uncertainty-limit-mm/-deg` set the flag's limits (default 1 mm / 1°): a limit below the match's
    own 95% bound flags it; a limit that is not a positive number is refused before the match."""
    d, iso = pair
    base = ["match", d / "planning.mha", d / "daily.nrrd", "--isocenter=" + ",".join(f"{v:.4f}" for v in iso)]
    code, err = _run([*base, "--out", tmp_path / "default.json"], capsys)
    assert code == 0, err
    default = json.loads((tmp_path / "default.json").read_text())["quality"]["uncertainty"]
    assert default["limit_mm"] == 1.0 and default["limit_deg"] == 1.0
    tight = default["translation_mm_95"] / 2
    code, err = _run([*base, f"--uncertainty-limit-mm={tight}", "--out", tmp_path / "tight.json"], capsys)
    assert code == 0, err
    flagged = json.loads((tmp_path / "tight.json").read_text())["quality"]["uncertainty"]
    assert flagged["flag"] is True and flagged["limit_mm"] == pytest.approx(tight)
    assert any("exceeds" in r for r in flagged["reasons"])
    for bad in ("0", "-1", "nan"):
        out = tmp_path / f"bad{bad}.json"
        code, err = _run([*base, f"--uncertainty-limit-deg={bad}", "--out", out], capsys)
        assert code == 2 and "uncertainty limit" in err and err.count("\n") == 1 and not out.exists(), err
