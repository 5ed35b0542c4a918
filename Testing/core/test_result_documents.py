"""Result JSON in and out: malformed or self-contradicting documents refused in one line, nothing
non-finite ever written, outputs readable as the umask says (issue 10, items 4, 5, 11, 13, 14)."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from igrt import geometry
from igrt.couch.workflow import couch_shift
from igrt.errors import IGRTInputError
from igrt.result import atomic_write_text, check_result, load_result, write_json

ISO = [10.0, -40.0, 200.0]
M = geometry.rigid_about_point(geometry.rotation_xyz_deg(1.0, -2.0, 3.0), ISO, (4.0, -5.0, 6.0))


def good() -> dict:
    return {
        "schema_version": "1.0",
        "matrix_lps": M.tolist(),
        "planning_isocenter_lps": ISO,
        "daily_isocenter_lps": [0.0, 0.0, 0.0],
        "translation_mm": [4.0, -5.0, 6.0],
        "rotation_deg": [1.0, -2.0, 3.0],
        "orientation": "HFS",
        "inputs": {"planning": {}, "daily": {}},
    }


def edited(path_and_value):
    doc = good()
    keys, value = path_and_value
    target = doc
    for k in keys[:-1]:
        target = target[k]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return doc


BAD = {
    # item 4: NaN / null / strings / wrong shapes in the isocenter or the matrix
    "null isocenter": ((["planning_isocenter_lps"], None), "planning_isocenter_lps must be 3 finite numbers"),
    "missing isocenter": ((["planning_isocenter_lps"], KeyError), "planning_isocenter_lps must be"),
    "NaN isocenter": (
        (["planning_isocenter_lps"], [float("nan"), 0.0, 0.0]),
        r"planning_isocenter_lps\[0\] is not a finite",
    ),
    "Inf daily isocenter": ((["daily_isocenter_lps"], [0.0, float("inf"), 0.0]), r"daily_isocenter_lps\[1\]"),
    "two coordinates": ((["planning_isocenter_lps"], [3, 28]), r"got \[3, 28\]"),
    "text coordinate": ((["planning_isocenter_lps"], ["10", -40, 200]), "3 finite numbers"),
    "text isocenter": ((["planning_isocenter_lps"], "10,-40,200"), "3 finite numbers"),
    "boolean coordinate": ((["planning_isocenter_lps"], [True, -40, 200]), "3 finite numbers"),
    "NaN in matrix": ((["matrix_lps", 1, 3], float("nan")), r"matrix_lps\[1\]\[3\]"),
    "text in matrix": ((["matrix_lps", 0, 0], "1"), "rigid 4×4 array of numbers"),
    "3×4 matrix": ((["matrix_lps"], M[:3].tolist()), "rigid 4×4"),
    "NaN in the couch": ((["couch"], {"lateral_mm": float("nan")}), "couch.lateral_mm"),
    # item 5: fields that contradict matrix_lps
    "translation contradicts": ((["translation_mm"], [4.0, -5.0, 6.5]), "translation_mm .* contradicts"),
    "translation sign flipped": ((["translation_mm"], [-4.0, 5.0, -6.0]), "contradicts"),
    "rotation contradicts": ((["rotation_deg"], [1.0, -2.0, -3.0]), "rotation_deg .* contradicts"),
    "rotation zero": ((["rotation_deg"], [0, 0, 0]), "differ by"),
    # item 11 / 13: types and the schema version given as a number
    "inputs a list": ((["inputs"], ["planning.nrrd"]), "inputs must be an object, got an array"),
    "inputs text": ((["inputs"], "planning.nrrd"), "inputs must be an object, got text"),
    "orientation a number": ((["orientation"], 1), "orientation must be text"),
    "schema 1.0 number": (
        (["schema_version"], 1.0),
        'must be the text "1.0" \\(in quotes\\), not the number',
    ),
    "schema 1 number": ((["schema_version"], 1), "not the number 1"),
    "schema 2.0": ((["schema_version"], "2.0"), "unsupported result schema_version"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_result_refused_in_one_line(tmp_path, case):
    edit, words = BAD[case]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(edited(edit)))  # json.dumps writes NaN as the (invalid) NaN token
    with pytest.raises(IGRTInputError, match=words) as err:
        load_result(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_good_result_and_agreement_within_rounding():
    doc = good()
    assert check_result(doc) is doc
    doc["translation_mm"] = [4.00004, -5.00004, 6.0]  # written rounded to 4 decimals
    doc["rotation_deg"] = [1.00004, -2.0, 3.0]
    check_result(doc)
    for key in ("translation_mm", "rotation_deg", "daily_isocenter_lps", "inputs", "orientation"):
        check_result({k: v for k, v in good().items() if k != key})  # optional fields


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"schema_version": "1.0", "matrix_lps": Infinity}', "matrix_lps is not a finite number"),
        ('{"schema_version": "1.0", "x": 1e999}', "x is not a finite number"),
        ("[1, 2, 3]", "not a JSON object"),
        ("\xff\xfe", "not UTF-8"),
    ],
)
def test_unparseable_documents_refused(tmp_path, text, words):
    path = tmp_path / "r.json"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    with pytest.raises(IGRTInputError, match=words) as err:
        load_result(path)
    assert "\n" not in str(err.value)


def test_nothing_non_finite_is_ever_written(tmp_path):
    """write_json refuses (one line, nothing created) instead of writing NaN/Infinity tokens."""
    for bad in (float("nan"), float("inf"), np.float32("nan"), [1.0, np.inf]):
        with pytest.raises(IGRTInputError, match="a.b.* is not a finite number"):
            write_json(tmp_path / "x.json", {"a": {"b": bad}})
    assert list(tmp_path.iterdir()) == []


def test_shift_of_a_nan_isocenter_is_refused_not_printed(tmp_path):
    """The way NaN used to reach "+nan mm" and "apply shift": the result is refused when read."""
    doc = good()
    doc["planning_isocenter_lps"] = [float("nan"), 0.0, 0.0]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(IGRTInputError, match="not a finite number"):
        couch_shift(load_result(path))


def test_orientation_override_that_disagrees_is_warned():
    """Item 14: --orientation FFS on an HFS result is taken (it overrides) but said."""
    shift = couch_shift(good(), orientation="FFS")
    assert shift["couch"]["orientation"] == "FFS"
    assert any("overrides the result's patient position HFS" in w for w in shift["warnings"])
    assert not couch_shift(good(), orientation="hfs")["warnings"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"a": 1})
        atomic_write_text(tmp_path / "b.txt", "b")
    finally:
        os.umask(old)
    for name in ("a.json", "b.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_unwritable_outputs_are_one_line(tmp_path):
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(IGRTInputError, match="is a directory"):
        write_json(tmp_path / "dir.json", {"a": 1})
    (tmp_path / "file").write_text("")
    with pytest.raises(IGRTInputError, match="cannot write .*file/a.json"):
        write_json(tmp_path / "file" / "a.json", {"a": 1})
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write into read-only folders (root)")
        with pytest.raises(IGRTInputError, match="cannot write .*Permission denied"):
            write_json(locked / "a.json", {"a": 1})
    finally:
        locked.chmod(0o755)
