"""IGRTReviewLogic imported from the module file and run on real MRML (slicer-core, no Qt), on the study
of the module's self-test (IGRTReviewLib.samplestudy, couch moves, set-up error e = − couch):

lateral e: P1 1, 2, 3 (m = 2, s = 1); P2 −1, 0, 1 (m = 0, s = 1); P3 4, 6, 8 (m = 6, s = 2);
longitudinal 0, vertical −2; P3 fraction 4 failed (left out, not zeros).
Lateral M = 8/3 = 2.6667; Σ = sqrt(((2 − 8/3)² + (8/3)² + (6 − 8/3)²)/2) = sqrt(28/3) = 3.0551;
σ = sqrt((1 + 1 + 4)/3) = sqrt(2) = 1.4142; van Herk 2.5Σ + 0.7σ = 8.6276; Stroom 2Σ + 0.7σ = 7.1002 mm.
NAL with N_m = 2 (fractions 1, 2 imaged, c_3 = mean(e_1, e_2)): lateral residuals P1 1, 2, 3 − 1.5;
P2 −1, 0, 1 + 0.5; P3 4, 6, 8 − 5 → patient means 1.5, 1/6, 13/3 → Σ_NAL = SD = 2.1279 mm; 6 imaged.
Fraction P1/1 of the folder is a real match → couch-shift run of the tiny synthetic case.
"""

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from conftest import import_module_file, table_column  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402


@pytest.fixture(scope="module")
def module():
    return import_module_file("IGRTReview")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from IGRTReviewLib import samplestudy

    folder = tmp_path_factory.mktemp("study")
    table = samplestudy.write_study_table(folder)
    row = samplestudy.run_real_fraction(folder)
    assert row["status"] == "ok"
    return table, row


def test_statistics_protocols_and_scatter_of_the_hand_table(module, study):
    table, _ = study
    scene = slicer.vtkMRMLScene()
    logic = module.IGRTReviewLogic()
    out = logic.loadStudy(table, scene, nalFractions=2)
    stats = out["statistics"]
    assert table_column(stats, "axis") == ["lateral", "longitudinal", "vertical"]
    assert table_column(stats, "M") == pytest.approx([8 / 3, 0.0, -2.0], abs=1e-4)
    assert table_column(stats, "Sigma")[0] == pytest.approx(np.sqrt(28 / 3), abs=1e-4)  # 3.0551
    assert table_column(stats, "sigma")[0] == pytest.approx(np.sqrt(2), abs=1e-4)  # 1.4142
    assert table_column(stats, "margin van Herk")[0] == pytest.approx(8.6276, abs=1e-3)
    assert table_column(stats, "margin Stroom")[0] == pytest.approx(7.1002, abs=1e-3)
    prot = out["protocols"]
    assert table_column(prot, "protocol") == ["none", "NAL", "eNAL", "SAL", "online"]
    nal = table_column(prot, "protocol").index("NAL")
    assert table_column(prot, "imaged fractions")[nal] == 6.0
    assert table_column(prot, "lateral Sigma (mm)")[nal] == pytest.approx(
        np.std([1.5, 1 / 6, 13 / 3], ddof=1), abs=1e-4
    )
    assert table_column(prot, "imaged fractions")[-1] == 9.0  # online: every ok fraction, not the failed one
    scatter = out["scatter"]
    assert scatter["chart"].GetNumberOfPlotSeriesNodes() == 2
    assert scatter["fractions"].GetTable().GetNumberOfRows() == 9
    assert table_column(scatter["means"], "lateral (mm)") == pytest.approx([2, 0, 6])
    assert table_column(scatter["means"], "vertical (mm)") == pytest.approx([-2, -2, -2])
    assert "3 patients, 9 fractions, 1 not ok left out" in module.IGRTReviewLogic.summary(out)
    assert "lateral Σ 3.06 σ 1.41" in module.IGRTReviewLogic.summary(out)
    # the scatter follows the chosen axes and reuses its nodes
    again = logic.showScatter("longitudinal", "lateral")
    assert again["chart"] is scatter["chart"] and table_column(
        again["means"], "lateral (mm)"
    ) == pytest.approx([2, 0, 6])
    assert table_column(again["means"], "longitudinal (mm)") == pytest.approx([0, 0, 0])
    # a reload reuses the table nodes (no pile-up in the scene)
    logic.loadStudy(table, scene)
    assert scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 4  # statistics, protocols, 2 scatter tables
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == 2


def test_shift_history_of_a_patient(module, study):
    table, _ = study
    scene = slicer.vtkMRMLScene()
    logic = module.IGRTReviewLogic()
    logic.loadStudy(table, scene)
    assert logic.patients() == ["P1", "P2", "P3"]
    assert logic.fractions("P3") == ["1", "2", "3"]  # fraction 4 failed
    history = logic.showPatient("P3")
    assert table_column(history["table"], "lateral (mm)") == pytest.approx([4, 6, 8])  # patient is displaced
    assert table_column(history["table"], "vertical (mm)") == pytest.approx([-2, -2, -2])
    assert history["chart"].GetNumberOfPlotSeriesNodes() == 3
    assert logic.showPatient("P1")["chart"] is history["chart"]
    assert table_column(history["table"], "lateral (mm)") == pytest.approx([1, 2, 3])
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == 2 + 3


def test_selecting_a_fraction_loads_its_images_and_result(module, study):
    from igrt.mrml.transforms import to_parent_ras_from_result
    from igrt.result import load_result

    table, row = study
    scene = slicer.vtkMRMLScene()
    logic = module.IGRTReviewLogic()
    logic.loadStudy(table, scene)
    loaded = logic.loadFraction("P1", "1")
    written = load_result(table.parent / "fractions" / "P1" / "1" / "result.json")
    assert loaded["result"]["matrix_lps"] == written["matrix_lps"]
    m = vtk.vtkMatrix4x4()
    loaded["transform"].GetMatrixTransformToParent(m)
    expected = to_parent_ras_from_result(
        written["matrix_lps"], written["planning_isocenter_lps"], written["daily_isocenter_lps"]
    )
    np.testing.assert_allclose(
        [[m.GetElement(i, j) for j in range(4)] for i in range(4)], expected, atol=1e-9
    )
    assert loaded["daily"].GetImageData().GetDimensions() == (64, 64, 64)  # the tiny case's CBCT
    assert loaded["planning"].GetImageData().GetDimensions() == (96, 96, 48)  # and its CT
    for axis in ("lateral_mm", "longitudinal_mm", "vertical_mm"):  # couch moves, as study.csv has them
        assert loaded["shift"]["couch"][axis] == pytest.approx(row[axis], abs=1e-4)
    line = module.IGRTReviewLogic.fractionSummary("P1", "1", loaded)
    assert line.startswith("P1 / 1: couch moves lateral ") and loaded["shift"]["couch"]["verdict"] in line
    with pytest.raises(IGRTInputError, match="fraction P2/1 is not complete"):
        logic.loadFraction("P2", "1")  # a hand row: no fraction folder


def test_bad_input_is_refused(module, study, tmp_path):
    table, _ = study
    logic = module.IGRTReviewLogic()
    with pytest.raises(IGRTInputError, match="load a study table first"):
        logic.showPatient("P1")
    with pytest.raises(IGRTInputError, match="is not a file"):
        logic.loadStudy(tmp_path / "missing.csv", slicer.vtkMRMLScene())
    with pytest.raises(IGRTInputError, match="--nal-fractions 0"):
        logic.loadStudy(table, slicer.vtkMRMLScene(), nalFractions=0)
    (tmp_path / "bad.csv").write_text("patient,fraction,lateral_mm\nP1,1,2\n")
    with pytest.raises(IGRTInputError, match="missing column"):
        logic.loadStudy(tmp_path / "bad.csv", slicer.vtkMRMLScene())
    logic.loadStudy(table, slicer.vtkMRMLScene())
    with pytest.raises(IGRTInputError, match="'Z' is not in the study table"):
        logic.fractions("Z")
    with pytest.raises(IGRTInputError, match="scatter axes"):
        logic.showScatter("lateral", "up")
