"""The hostile-input catalogue (issue 10): bad inputs for every verb, generated, run through ``igrt``.

A refused input must give exit 2, one to three lines on stderr, no traceback, and write nothing: the
output folder stays empty and the inputs are untouched (their bytes and the input folder's listing).
An acceptable input (``ok`` cases) must give exit 0, the right result and the warning it deserves.
The inputs are tiny (a 60 × 50 × 36 phantom at 3 mm: a match takes a fraction of a second).
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dose_fixtures import FOR_UID, box_contours, write_rtdose, write_rtstruct
from reg_fixtures import write_foreign_reg

from conftest import make_block_phantom, move_patient
from igrt import geometry
from igrt.cli.main import main
from igrt.io import reg
from igrt.io.dicom_write import write_image_series
from igrt.result import write_json

SHIFT = (3.0, -2.0, 1.5)  # the daily patient displacement (LPS mm), a pure translation
P_FRAME, D_FRAME = "1.2.826.0.1.3680043.10.1459.21", "1.2.826.0.1.3680043.10.1459.22"


def _iso(img):
    return np.array(img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.GetSize()]))


def _text(v):
    return ",".join(f"{x:g}" for x in v)


def _result_doc(iso, **edit):
    m = geometry.rigid_matrix(translation=SHIFT)
    doc = {
        "schema_version": "1.0",
        "kind": "igrt.match",
        "method": "auto",
        "matrix_lps": m.tolist(),
        "planning_isocenter_lps": list(iso),
        "daily_isocenter_lps": list(iso),
        "translation_mm": list(SHIFT),
        "rotation_deg": [0.0, 0.0, 0.0],
        "orientation": "HFS",
        "inputs": {
            "planning": {"frame_of_reference_uid": P_FRAME},
            "daily": {"frame_of_reference_uid": P_FRAME},
        },
    }
    doc.update(edit)
    return doc


def _write_raw_json(path, doc_or_text):
    path.write_text(doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Every input file of the catalogue, written once (read-only use)."""
    w = tmp_path_factory.mktemp("world")
    planning = make_block_phantom(size=(60, 50, 36), spacing=(3.0, 3.0, 3.5), origin=(-90.0, -75.0, 200.0))
    iso = _iso(planning)
    daily = move_patient(
        planning, geometry.rigid_matrix(translation=SHIFT), hu_scale=0.95, hu_offset=20, noise=10
    )
    sitk.WriteImage(planning, str(w / "planning.mha"))
    sitk.WriteImage(daily, str(w / "daily.mha"))
    mirrored = sitk.Flip(daily, [True, False, False])
    mirrored.CopyInformation(daily)
    sitk.WriteImage(mirrored, str(w / "mirrored.mha"))
    arr = sitk.GetArrayFromImage(daily)
    arr[:, :, :3] = np.nan  # outside the field of view, as some reconstructions write it
    arr[20, 25, 30] = np.inf
    nan_daily = sitk.GetImageFromArray(arr)
    nan_daily.CopyInformation(daily)
    sitk.WriteImage(nan_daily, str(w / "daily_nan_outside.mha"))
    all_nan = sitk.GetImageFromArray(np.full(arr.shape, np.nan, np.float32))
    all_nan.CopyInformation(daily)
    sitk.WriteImage(all_nan, str(w / "all_nan.mha"))
    text = (w / "daily.mha").read_bytes()
    start = text.index(b"TransformMatrix")
    end = text.index(b"\n", start)
    (w / "singular.mha").write_bytes(text[:start] + b"TransformMatrix = 1 0 0 0 1 0 0 0 0" + text[end:])
    (w / "not_an_image.nrrd").write_text("NRRD0004\nthis is not a header\n")
    sitk.WriteImage(sitk.Cast(planning > 500, sitk.sitkUInt8), str(w / "mask.nrrd"))
    write_image_series(planning, w / "ct", patient_id="H1", frame_of_reference_uid=P_FRAME)
    write_image_series(daily, w / "cbct", patient_id="H1", frame_of_reference_uid=D_FRAME)
    slice3 = sorted((w / "ct").iterdir())[3]
    write_image_series(planning, w / "ct_no_bits", patient_id="H1", frame_of_reference_uid=P_FRAME)
    broken = sorted((w / "ct_no_bits").iterdir())[3]
    ds = pydicom.dcmread(broken)
    del ds.BitsAllocated
    ds.save_as(broken)
    # Result documents, good and bad.
    write_json(w / "result.json", _result_doc(iso))
    bad = {
        "nan_iso": _result_doc(iso, planning_isocenter_lps=[float("nan"), 0, 0]),
        "null_iso": _result_doc(iso, planning_isocenter_lps=None),
        "short_iso": _result_doc(iso, planning_isocenter_lps=[3, 28]),
        "text_iso": _result_doc(iso, planning_isocenter_lps="0,0,0"),
        "nan_matrix": _result_doc(
            iso, matrix_lps=[[1, 0, 0, float("nan")], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
        ),
        "translation_lies": _result_doc(iso, translation_mm=[-3.0, 2.0, -1.5]),
        "rotation_lies": _result_doc(iso, rotation_deg=[0.0, 0.0, 2.0]),
        "inputs_list": _result_doc(iso, inputs=["planning.mha"]),
        "schema_number": _result_doc(iso, schema_version=1.0),
        "quality_text": _result_doc(iso, quality="good"),
        "bad_uid": _result_doc(
            iso, inputs={"planning": {"frame_of_reference_uid": "1.2.3.abc"}, "daily": {}}
        ),
        "bad_orientation": _result_doc(iso, orientation="hfs x"),
    }
    for name, doc in bad.items():
        _write_raw_json(w / f"{name}.json", doc)
    _write_raw_json(w / "nested.json", "[" * 100_000 + "]" * 100_000)
    _write_raw_json(w / "not_json.json", "{not json")
    # REGs: ours, and another system's with the daily frame as its Registered RCS.
    reg.write_reg(_result_doc(iso), w / "own.dcm", notes=[])
    two = {"planning": {"frame_of_reference_uid": P_FRAME}, "daily": {"frame_of_reference_uid": D_FRAME}}
    reg.write_reg(
        _result_doc(iso, inputs=two, daily_isocenter_lps=[0.0, 0.0, 0.0]), w / "own_two_frames.dcm", notes=[]
    )
    ct_frame = str(pydicom.dcmread(slice3).FrameOfReferenceUID)
    t = reg.reg_matrix_from_result(geometry.rigid_matrix(translation=SHIFT), iso, np.zeros(3))
    write_foreign_reg(
        w / "foreign.dcm", [(D_FRAME, np.eye(4), None), (ct_frame, np.linalg.inv(t), None)], D_FRAME, "H1"
    )
    # Markers (planning frame, and the same displaced by SHIFT in the daily frame).
    points = iso + np.array([[10, 5, 0], [-12, 8, 6], [4, -10, -8], [0, 12, 10]], float)
    marker_doc = {"schema_version": "1.0", "kind": "igrt.markers"}
    write_json(
        w / "planning_markers.json",
        {**marker_doc, "markers": [{"position_lps": list(p), "confidence": 1} for p in points]},
    )
    write_json(
        w / "daily_markers.json",
        {**marker_doc, "markers": [{"position_lps": list(p + SHIFT), "confidence": 1} for p in points]},
    )
    # Dose: 10 Gy + 0.1 Gy/mm·x and a cube structure (Testing/dose_fixtures.py).
    x = -40.0 + np.arange(81)
    write_rtdose(
        w / "RD.dcm", np.broadcast_to(10.0 + 0.1 * x, (61, 61, 81)), (-40.0, -30.0, -30.0), (1.0, 1.0, 1.0)
    )
    write_rtstruct(w / "RS.dcm", [("Cube", box_contours(-10, 10, -10, 10, np.arange(-10.0, 10.1, 2.5)))])
    dose_result = _result_doc([0.0, 0.0, 0.0])
    dose_result["inputs"] = {"planning": {"frame_of_reference_uid": FOR_UID}}
    write_json(w / "dose_result.json", dose_result)
    (w / "table.csv").write_text(
        "patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,1,0,0\nA,2,0,1,0\n"
    )
    os.symlink(w / "planning.mha", w / "link_to_planning.mha")
    os.link(w / "result.json", w / "hardlink_to_result.json")
    (w / "a_file").write_text("")
    (w / "limit_manifest.csv").write_text(
        "patient,fraction,planning,daily,uncertainty_limit_mm\nP1,1,planning.mha,daily.mha,0\n"
    )
    return w, iso


# ------------------------------------------------------------------------------------------- the catalogue
# Each case: verb arguments ({w}: the input folder, {out}: an empty output folder, {iso}: the planning
# isocenter "x,y,z"), and for a refusal a word of the message. ``--out`` is added unless the case gives it.
REFUSED = {
    # match
    "match: --out is the planning file": (
        "match {w}/planning.mha {w}/daily.mha --out {w}/planning.mha",
        "is the input",
    ),
    "match: --out is a link to the planning file": (
        "match {w}/planning.mha {w}/daily.mha --out {w}/link_to_planning.mha",
        "is the input",
    ),
    "match: --out spelled through ..": (
        "match {w}/planning.mha {w}/daily.mha --out {w}/../{wn}/daily.mha",
        "is the input",
    ),
    "match: --out is a folder": ("match {w}/planning.mha {w}/daily.mha --out {out}", "is a folder"),
    "match: --out below a file": (
        "match {w}/planning.mha {w}/daily.mha --out {w}/a_file/r.json",
        "is a file",
    ),
    "match: --report is the DICOM planning folder": (
        "match {w}/ct {w}/daily.mha --report {w}/ct --out {out}/r.json",
        "is the input",
    ),
    "match: --report is a file": (
        "match {w}/planning.mha {w}/daily.mha --report {w}/a_file --out {out}/r.json",
        "is a file",
    ),
    "match: the planning image as the daily image": (
        "match {w}/planning.mha {w}/planning.mha --out {out}/r.json",
        "is the planning image",
    ),
    "match: the planning image through a link as the daily image": (
        "match {w}/planning.mha {w}/link_to_planning.mha --out {out}/r.json",
        "is the planning image",
    ),
    "match: a left-right mirrored daily image": (
        "match {w}/planning.mha {w}/mirrored.mha --out {out}/r.json",
        "mirrored",
    ),
    "match: a daily image of NaN only": (
        "match {w}/planning.mha {w}/all_nan.mha --out {out}/r.json",
        "no finite voxel",
    ),
    "match: degenerate axes": ("match {w}/planning.mha {w}/singular.mha --out {out}/r.json", "degenerate"),
    "match: a DICOM slice without BitsAllocated": (
        "match {w}/ct_no_bits {w}/daily.mha --out {out}/r.json",
        "no BitsAllocated",
    ),
    "match: a target mask that is not an image": (
        "match {w}/planning.mha {w}/daily.mha --target-mask {w}/not_an_image.nrrd --out {out}/r.json",
        "cannot read it as a target mask",
    ),
    "match: --isocenter of two numbers": (
        "match {w}/planning.mha {w}/daily.mha --isocenter 1,2 --out {out}/r.json",
        "x,y,z",
    ),
    "match: --isocenter nan": (
        "match {w}/planning.mha {w}/daily.mha --isocenter nan,0,0 --out {out}/r.json",
        "x,y,z",
    ),
    "match: an unknown orientation": (
        "match {w}/planning.mha {w}/daily.mha --orientation SUPINE --out {out}/r.json",
        "orientation",
    ),
    "match: --uncertainty-limit-mm 0": (
        "match {w}/planning.mha {w}/daily.mha --uncertainty-limit-mm 0 --out {out}/r.json",
        "uncertainty limit",
    ),
    "match: --uncertainty-limit-deg nan": (
        "match {w}/planning.mha {w}/daily.mha --uncertainty-limit-deg nan --out {out}/r.json",
        "uncertainty limit",
    ),
    "match: --structures without --report": (
        "match {w}/planning.mha {w}/daily.mha --structures {w}/planning.mha --out {out}/r.json",
        "--report",
    ),
    "match: --structures that are not structures": (
        "match {w}/planning.mha {w}/daily.mha --report {out}/rep --structures {w}/not_an_image.nrrd --out {out}/r.json",
        "not_an_image",
    ),
    "match: --structures is the --out": (
        "match {w}/planning.mha {w}/daily.mha --report {out}/rep --structures {w}/planning.mha --out {w}/planning.mha",
        "input",
    ),
    # shift
    **{
        f"shift: {what}": (f"shift {{w}}/{name}.json --out {{out}}/s.json", words)
        for name, what, words in (
            ("nan_iso", "a NaN isocenter", "not a finite number"),
            ("null_iso", "a null isocenter", "planning_isocenter_lps must be"),
            ("short_iso", "an isocenter [3, 28]", "got \\[3, 28\\]"),
            ("text_iso", "an isocenter as text", "planning_isocenter_lps must be"),
            ("nan_matrix", "NaN in the matrix", "not a finite number"),
            ("translation_lies", "translation_mm contradicting matrix_lps", "contradicts"),
            ("rotation_lies", "rotation_deg contradicting matrix_lps", "contradicts"),
            ("inputs_list", "inputs not an object", "inputs must be an object"),
            ("schema_number", "schema_version as the number 1.0", "in quotes"),
            ("quality_text", "quality not an object", "quality must be an object"),
            ("nested", "JSON nested 100 000 deep", "nested too deeply"),
            ("not_json", "not JSON", "cannot read result JSON"),
        )
    },
    "shift: --out is the result": ("shift {w}/result.json --out {w}/result.json", "is the input"),
    "shift: --out is a hard link to the result": (
        "shift {w}/hardlink_to_result.json --out {w}/result.json",
        "is the input",
    ),
    "shift: --out is a folder": ("shift {w}/result.json --out {out}", "is a folder"),
    "shift: --target of two numbers": ("shift {w}/result.json --target -1,2 --out {out}/s.json", "x,y,z"),
    # export-reg
    "export-reg: a NaN isocenter": ("export-reg {w}/nan_iso.json --out {out}/r.dcm", "not a finite number"),
    "export-reg: an invalid frame UID": ("export-reg {w}/bad_uid.json --out {out}/r.dcm", "not a valid UI"),
    "export-reg: an orientation that is no position": (
        "export-reg {w}/bad_orientation.json --out {out}/r.dcm",
        "orientation",
    ),
    "export-reg: --out is the result": ("export-reg {w}/result.json --out {w}/result.json", "is the input"),
    # import-reg
    "import-reg: another system's REG, frames not told": (
        "import-reg {w}/foreign.dcm --isocenter {iso} --daily-isocenter 0,0,0 --out {out}/r.json",
        "cannot tell which",
    ),
    "import-reg: our REG with the daily image given as the planning image": (
        "import-reg {w}/own_two_frames.dcm --planning {w}/cbct --out {out}/r.json",
        "swapped",
    ),
    "import-reg: --planning that does not exist": (
        "import-reg {w}/own.dcm --planning {w}/nowhere --out {out}/r.json",
        "does not exist",
    ),
    "import-reg: not a DICOM file": ("import-reg {w}/result.json --out {out}/r.json", "not a readable DICOM"),
    "import-reg: --out is the REG": ("import-reg {w}/own.dcm --out {w}/own.dcm", "is the input"),
    # fiducials
    "fiducials detect: --threshold -500": (
        "fiducials detect {w}/planning.mha --threshold -500 --out {out}/m.json",
        "makes no sense",
    ),
    "fiducials detect: --threshold 1e6": (
        "fiducials detect {w}/planning.mha --threshold 1e6 --out {out}/m.json",
        "makes no sense",
    ),
    "fiducials detect: an image of NaN only": (
        "fiducials detect {w}/all_nan.mha --out {out}/m.json",
        "no finite voxel",
    ),
    "fiducials detect: --out is the image": (
        "fiducials detect {w}/planning.mha --out {w}/planning.mha",
        "is the input",
    ),
    "fiducials match: markers that are not JSON": (
        "fiducials match {w}/not_json.json {w}/daily_markers.json --out {out}/r.json",
        "not_json.json",
    ),
    "fiducials match: --out is the planning markers": (
        "fiducials match {w}/planning_markers.json {w}/daily_markers.json --out {w}/planning_markers.json",
        "is the input",
    ),
    # dose, review, study
    "dvh: --out is the dose": ("dvh {w}/RD.dcm {w}/RS.dcm --out {w}/RD.dcm", "input"),
    "dose-impact: a result with a NaN isocenter": (
        "dose-impact {w}/nan_iso.json --dose {w}/RD.dcm --structures {w}/RS.dcm --out {out}/d.json",
        "not a finite number",
    ),
    "dose-impact: --out is the result": (
        "dose-impact {w}/dose_result.json --dose {w}/RD.dcm --structures {w}/RS.dcm --out {w}/dose_result.json",
        "input",
    ),
    "review: --out is the table": ("review {w}/table.csv --out {w}/table.csv", "is the input"),
    "study run: --out is a file": ("study run {w}/table.csv --out {w}/a_file", "is a file"),
    "study run: a row's uncertainty limit of 0 mm": (
        "study run {w}/limit_manifest.csv --out {out}/study",
        "uncertainty_limit_mm\\) must be a positive number of mm",
    ),
    "commission: --out is the planning CT": (
        "commission --planning {w}/ct --isocenter {iso} --out {w}/ct",
        "is the input",
    ),
}


def _argv(template, world, out):
    w, iso = world
    text = template.format(w=w, out=out, iso=_text(iso), wn=w.name)
    return text.split()


def _snapshot(folder):
    """(relative path, size, sha1) of every file and link under ``folder``: what "untouched" means."""
    out = []
    for root, dirs, files in os.walk(folder):
        for name in sorted(files):
            p = os.path.join(root, name)
            data = open(p, "rb").read() if os.path.exists(p) else b""
            out.append((os.path.relpath(p, folder), hashlib.sha1(data).hexdigest()))
        dirs.sort()
    return sorted(out)


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusals
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", REFUSED)
def test_refused_input(world, tmp_path, capsys, case):
    template, words = REFUSED[case]
    before = _snapshot(world[0])
    code, err = _run(_argv(template, world, tmp_path), capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert 1 <= len(lines) <= 3 and "Traceback" not in err, err
    assert __import__("re").search(words, err), err
    assert list(tmp_path.iterdir()) == [], "something was written"
    assert _snapshot(world[0]) == before, "an input was changed"


# ------------------------------------------------------------------------------------------- acceptable
def test_negative_first_coordinate_after_a_space_is_accepted(world, tmp_path, capsys):
    """Item 7: `--isocenter -72.18,14.37,-12.70` is read as the point, not refused as a missing value."""
    w, iso = world
    given = iso + np.array([-1.5, 0.0, 0.0])
    given[0] = -abs(given[0]) - 1.0  # a negative first coordinate, inside the image
    code, err = _run(
        [
            "match",
            f"{w}/planning.mha",
            f"{w}/daily.mha",
            "--isocenter",
            _text(given),
            "--out",
            f"{tmp_path}/r.json",
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads((tmp_path / "r.json").read_text())
    np.testing.assert_allclose(doc["planning_isocenter_lps"], given, atol=1e-4)
    np.testing.assert_allclose(doc["translation_mm"], SHIFT, atol=0.3)
    code, err = _run(
        ["shift", f"{w}/result.json", "--target", "-1,2,3", "--out", f"{tmp_path}/s.json"], capsys
    )
    assert code == 0 and json.loads((tmp_path / "s.json").read_text())["target_lps"] == [-1.0, 2.0, 3.0], err


def test_nan_outside_the_field_of_view_is_matched_with_a_warning(world, tmp_path, capsys):
    """Item 9: NaN / Inf voxels read as outside the field of view; the match is right and says so."""
    w, _ = world
    code, err = _run(
        ["match", f"{w}/planning.mha", f"{w}/daily_nan_outside.mha", "--out", f"{tmp_path}/r.json"], capsys
    )
    assert code == 0, err
    doc = json.loads((tmp_path / "r.json").read_text())
    np.testing.assert_allclose(doc["translation_mm"], SHIFT, atol=0.3)
    assert any("NaN or infinite" in x for x in doc["warnings"]) and "NaN or infinite" in err


def test_report_and_result_are_published_together(world, tmp_path, capsys):
    """Item 10: both outputs of a run, or (an unwritable --out found before the match) neither."""
    w, _ = world
    code, err = _run(
        [
            "match",
            f"{w}/planning.mha",
            f"{w}/daily.mha",
            "--report",
            f"{tmp_path}/rep",
            "--out",
            f"{tmp_path}/r.json",
        ],
        capsys,
    )
    assert code == 0, err
    assert (tmp_path / "r.json").is_file() and (tmp_path / "rep" / "report.html").is_file()
    assert not [p for p in tmp_path.rglob(".*")], "a temporary was left"
    code, err = _run(
        [
            "match",
            f"{w}/planning.mha",
            f"{w}/daily.mha",
            "--report",
            f"{tmp_path}/rep2",
            "--out",
            f"{w}/a_file/r.json",
        ],
        capsys,
    )
    assert code == 2 and not (tmp_path / "rep2").exists(), err


def test_orientation_override_that_disagrees_is_taken_with_a_warning(world, tmp_path, capsys):
    """Item 14: --orientation FFS on an HFS result: the shift follows FFS and says it overrides."""
    w, _ = world
    code, err = _run(
        ["shift", f"{w}/result.json", "--orientation", "FFS", "--out", f"{tmp_path}/s.json"], capsys
    )
    doc = json.loads((tmp_path / "s.json").read_text())
    assert code == 0 and doc["couch"]["orientation"] == "FFS"
    assert "overrides the result's patient position HFS" in err


def test_foreign_reg_imports_right_when_the_planning_image_tells_its_frame(world, tmp_path, capsys):
    """Item 1: another system's REG with the daily frame as its Registered RCS, told by the planning CT."""
    w, iso = world
    code, err = _run(
        ["import-reg", f"{w}/foreign.dcm", "--planning", f"{w}/ct", "--isocenter", _text(iso), "--daily-isocenter",
         "0,0,0", "--out", f"{tmp_path}/r.json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["translation_mm"] == pytest.approx(
        list(SHIFT), abs=1e-5
    )


def test_catalogue_covers_every_verb():
    """The catalogue names every verb of the command line (a new verb needs its hostile cases)."""
    from igrt.cli.main import build_parser

    verbs = set(build_parser()._subparsers._group_actions[0].choices)
    covered = {case.split(":")[0].split()[0] for case in REFUSED}
    assert verbs - covered <= {"demo"}, verbs - covered  # demo reads nothing but its bundled phantom
