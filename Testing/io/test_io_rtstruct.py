"""RTSTRUCT point ROIs: the real Varian OBI structure set, a written one with markers, and the refusals.

Expected numbers of the real file were read by hand with pydicom (``dcmread(f).ROIContourSequence[i]
.ContourSequence[0].ContourData``), and are read again here independently of the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from dose_fixtures import dicom_dataset
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from igrt.errors import IGRTInputError
from igrt.io.rtstruct import RT_STRUCTURE_SET_CLASS, read_point_rois
from igrt.markers.match import read_markers

OBI_RS = "varian_obi_cbct_catphan/dicom/RS.1.2.246.352.61.4.4629243971856054928.10351809266615445418.dcm"
ECLIPSE_RS = "eclipse_prostate_rt/dicom/RS.1.2.246.352.71.4.2088656855.2404649.20110920153449.dcm"
ECLIPSE_PLAN = "eclipse_prostate_rt/dicom/RP.1.2.246.352.71.5.2088656855.377401.20110920153647.dcm"


def test_varian_obi_point_rois(shared_data):
    """Three POINT ROIs, all at ContourData [-124.99174157614, -125, -1.9044783442367] (read by hand)."""
    path = shared_data / OBI_RS
    points = read_point_rois(path)
    assert [name for name, _ in points] == ["AcqIsocenter", "InitLaserIso", "InitMatchIso"]
    for _, position in points:
        assert position == pytest.approx([-124.99174157614, -125.0, -1.9044783442367], abs=1e-9)
    # The same values straight from the file's ROI Contour Sequence, paired through the ROI numbers.
    ds = pydicom.dcmread(path)
    names = {int(r.ROINumber): r.ROIName for r in ds.StructureSetROISequence}
    raw = {
        names[int(item.ReferencedROINumber)]: [float(v) for v in item.ContourSequence[0].ContourData]
        for item in ds.ROIContourSequence
    }
    assert {name: list(p) for name, p in points} == raw
    markers = read_markers(path)  # the marker match reads an RTSTRUCT too
    assert markers.shape == (3, 3) and markers[0] == pytest.approx(raw["AcqIsocenter"])


def test_structure_set_without_points_and_other_files_are_refused(shared_data, tmp_path):
    with pytest.raises(IGRTInputError, match="no POINT ROI") as err:
        read_point_rois(shared_data / ECLIPSE_RS)  # contours only (X1..X3 are empty)
    assert "\n" not in str(err.value)
    with pytest.raises(IGRTInputError, match=r"is not an RT structure set \(it is RTPLAN\)"):
        read_point_rois(shared_data / ECLIPSE_PLAN)
    with pytest.raises(IGRTInputError, match="does not exist"):
        read_point_rois(tmp_path / "none.dcm")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 16)
    with pytest.raises(IGRTInputError) as err:
        read_markers(junk)
    assert "\n" not in str(err.value)


def _rtstruct(path, rois):
    """Write a minimal RTSTRUCT: ``rois`` = [(name, geometric type, flat contour data)]."""
    ds = dicom_dataset(RT_STRUCTURE_SET_CLASS, "RTSTRUCT", "MARKERS")
    ds.StructureSetROISequence = Sequence()
    ds.ROIContourSequence = Sequence()
    for number, (name, kind, data) in enumerate(rois, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ROIName = name
        ds.StructureSetROISequence.append(roi)
        contour = Dataset()
        contour.ContourGeometricType = kind
        contour.NumberOfContourPoints = len(data) // 3
        contour.ContourData = [f"{v:g}" for v in data]
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = Sequence([contour])
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_written_markers_and_the_cli_match(tmp_path, capsys):
    from igrt.cli.main import main

    planning = [(10.0, -20.0, 5.0), (30.0, -15.0, 12.0), (18.0, 4.0, -9.0), (25.0, -2.0, 20.0)]
    rois = [("PTV", "CLOSED_PLANAR", [0, 0, 0, 10, 0, 0, 10, 10, 0])]
    rois += [(f"Gold{i + 1}", "POINT", list(p)) for i, p in enumerate(planning)]
    path = _rtstruct(tmp_path / "RS.markers", rois)  # no .dcm suffix: found by the DICM signature
    points = read_point_rois(path)
    assert [n for n, _ in points] == ["Gold1", "Gold2", "Gold3", "Gold4"]  # the contour is left out
    np.testing.assert_allclose(read_markers(path), planning)
    # Daily: the same markers 3 mm to the patient's left (LPS +x), listed in another order.
    daily = [[x + 3.0, y, z] for x, y, z in planning[::-1]]
    (tmp_path / "daily.json").write_text(json.dumps({"markers": [{"position_lps": p} for p in daily]}))
    out = tmp_path / "result.json"
    assert main(["fiducials", "match", str(path), str(tmp_path / "daily.json"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["method"] == "fiducial"
    assert result["translation_mm"] == pytest.approx([3.0, 0.0, 0.0], abs=1e-6)
    assert result["quality"]["pairs"] == [[0, 3], [1, 2], [2, 1], [3, 0]]
    capsys.readouterr()


def test_malformed_point_is_one_line(tmp_path):
    path = _rtstruct(tmp_path / "RS.dcm", [("Gold1", "POINT", [1.0, 2.0])])
    with pytest.raises(IGRTInputError, match="'Gold1' has 2 Contour Data values") as err:
        read_point_rois(path)
    assert "\n" not in str(err.value)
