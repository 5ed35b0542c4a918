"""The study manifest is read and refused completely before anything runs (hostile input included)."""

from __future__ import annotations

import pytest

from igrt.errors import IGRTInputError
from igrt.study.manifest import read_manifest

HEADER = "patient,fraction,planning,daily"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ct.mha").write_bytes(b"x")
    (tmp_path / "images" / "cbct.mha").write_bytes(b"x")
    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "1.dcm").write_bytes(b"x")
    return tmp_path


def _write(folder, text):
    path = folder / "manifest.csv"
    path.write_text(text)
    return path


def test_manifest_paths_are_relative_to_the_manifest_and_options_parsed(folder, monkeypatch):
    monkeypatch.chdir("/")  # relative paths must not depend on the working directory
    path = _write(
        folder,
        "Patient,Fraction,Planning,Daily,isocenter,daily_isocenter,method,orientation,couch,max_rotation,"
        "known_lateral_mm,known_longitudinal_mm,known_vertical_mm, Uncertainty_Limit_MM ,uncertainty_limit_deg\n"
        'P1,1,images/ct.mha,dicom,"1.5,-2,3",0 0 0,bone,hfs,4dof,3,-1,2,0.5,0.5,0.25\n'
        "P1,2,images/ct.mha,images/cbct.mha,,,,,,,,,,,\n",
    )
    m = read_manifest(path)
    a, b = m.fractions
    assert a.planning == str((folder / "images" / "ct.mha").resolve())
    assert a.daily == str((folder / "dicom").resolve())
    assert (a.isocenter, a.daily_isocenter) == ((1.5, -2.0, 3.0), (0.0, 0.0, 0.0))
    assert (a.method, a.orientation, a.couch, a.max_rotation) == ("bone", "HFS", "4dof", 3.0)
    assert (a.uncertainty_limit_mm, a.uncertainty_limit_deg) == (0.5, 0.25)
    assert (b.uncertainty_limit_mm, b.uncertainty_limit_deg) == (None, None)
    assert a.known == {"lateral_mm": -1.0, "longitudinal_mm": 2.0, "vertical_mm": 0.5}
    assert (b.method, b.couch, b.isocenter, b.known) == ("auto", "6dof", None, None)
    assert m.known_columns == ("known_lateral_mm", "known_longitudinal_mm", "known_vertical_mm")


@pytest.mark.parametrize(
    "rows, message",
    [
        ("patient,fraction,planning\nP1,1,images/ct.mha\n", "missing column(s) daily"),
        (
            f"{HEADER},dailly_isocenter\nP1,1,images/ct.mha,images/cbct.mha,0\n",
            "unknown column(s) dailly_isocenter",
        ),
        (f"{HEADER}\n", "header only"),
        (
            f"{HEADER}\nP1,1,images/ct.mha,images/cbct.mha\nP1,1,images/ct.mha,images/cbct.mha\n",
            "repeats line 2",
        ),
        (f"{HEADER}\nP1,1,images/ct.mha,images/absent.mha\n", "absent.mha does not exist"),
        (f"{HEADER}\nP1,1,images/ct.mha,\n", "line 2 daily: empty"),
        (f"{HEADER}\n../up,1,images/ct.mha,images/cbct.mha\n", "'../up' is not a usable id"),
        (f"{HEADER}\nP1,1/2,images/ct.mha,images/cbct.mha\n", "'1/2' is not a usable id"),
        (f"{HEADER}\n.hidden,1,images/ct.mha,images/cbct.mha\n", "not a usable id"),
        (f"{HEADER},isocenter\nP1,1,images/ct.mha,images/cbct.mha,1;2\n", "expected x,y,z"),
        (f"{HEADER},isocenter\nP1,1,images/ct.mha,images/cbct.mha,1;2;nan\n", "expected x,y,z"),
        (f"{HEADER},max_rotation\nP1,1,images/ct.mha,images/cbct.mha,200\n", "makes no sense"),
        (f"{HEADER},max_rotation\nP1,1,images/ct.mha,images/cbct.mha,inf\n", "not a finite number"),
        (f"{HEADER},method\nP1,1,images/ct.mha,images/cbct.mha,magic\n", "unknown method 'magic'"),
        (
            f"{HEADER},uncertainty_limit_mm\nP1,1,images/ct.mha,images/cbct.mha,0\n",
            "line 2 uncertainty_limit_mm) must be a positive number of mm, got 0.0",
        ),
        (
            f"{HEADER},uncertainty_limit_deg\nP1,1,images/ct.mha,images/cbct.mha,-1\n",
            "must be a positive number of °",
        ),
        (f"{HEADER},uncertainty_limit_mm\nP1,1,images/ct.mha,images/cbct.mha,nan\n", "not a finite number"),
        (f"{HEADER},couch\nP1,1,images/ct.mha,images/cbct.mha,5dof\n", "unknown couch '5dof'"),
        (
            f"{HEADER},orientation\nP1,1,images/ct.mha,images/cbct.mha,XYZ\n",
            "unsupported patient orientation",
        ),
        (
            f"{HEADER},known_lateral_mm,known_vertical_mm\nP1,1,images/ct.mha,images/cbct.mha,1,\n",
            "leaves known_vertical_mm empty",
        ),
        (f"{HEADER},known_lateral_mm\nP1,1,images/ct.mha,images/cbct.mha,1mm\n", "'1mm' is not a number"),
        (
            f"{HEADER},dose\nP1,1,images/ct.mha,images/cbct.mha,images/ct.mha\n",
            "needs both dose and structures",
        ),
        (f"{HEADER},plan,isocenter\nP1,1,images/ct.mha,images/cbct.mha,images/ct.mha,0;0;0\n", "not both"),
    ],
)
def test_bad_manifests_are_refused_in_one_line(folder, rows, message):
    with pytest.raises(IGRTInputError) as err:
        read_manifest(_write(folder, rows))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_empty_folder_and_missing_manifest_are_refused(folder):
    (folder / "empty").mkdir()
    with pytest.raises(IGRTInputError, match="is empty"):
        read_manifest(_write(folder, f"{HEADER}\nP1,1,images/ct.mha,empty\n"))
    with pytest.raises(IGRTInputError, match="cannot read table"):
        read_manifest(folder / "absent.csv")
