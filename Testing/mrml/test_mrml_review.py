"""The study review on real MRML (slicer-core): tables, charts, and a fraction loaded from a study folder.

Hand table (couch moves; set-up error e = − couch): A e_lat = 1, 2, 3, 6; B −2, 0, −4; C 5; vertical e = −2.
Lateral: m = 3, −2, 5; M = 2; Σ = sqrt(13) = 3.6056; σ = sqrt(13/3) = 2.0817 (worked in
Testing/review/test_review_statistics.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from conftest import table_column  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import review as reviewnodes  # noqa: E402
from igrt.review.table import read_shift_table  # noqa: E402
from igrt.review.workflow import review  # noqa: E402

TABLE = (Path(__file__).parents[1] / "data" / "review" / "hand_table.csv").read_text()


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


@pytest.fixture
def hand(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TABLE)
    return read_shift_table(path), review(path)


def test_statistics_and_protocol_tables(scene, hand):
    _, stats = hand
    node = reviewnodes.statistics_table_node(scene, stats)
    assert table_column(node, "axis") == ["lateral", "longitudinal", "vertical"]
    assert table_column(node, "M") == pytest.approx([2.0, 0.0, -2.0], abs=1e-4)
    assert table_column(node, "Sigma")[0] == pytest.approx(np.sqrt(13), abs=1e-4)
    assert table_column(node, "sigma")[0] == pytest.approx(np.sqrt(13 / 3), abs=1e-4)
    assert "patient is displaced" in node.GetAttribute("IGRT.Sense")
    assert "single fraction" in node.GetAttribute("IGRT.Notes")
    prot = reviewnodes.protocols_table_node(scene, stats)
    assert table_column(prot, "protocol") == ["none", "NAL", "eNAL", "SAL", "online"]
    # NAL (N_m = 3): A images 1..3, B and C all their fractions: 3 + 3 + 1 = 7; online: all 8.
    assert table_column(prot, "imaged fractions") == [
        0.0,
        7.0,
        pytest.approx(7.0),
        pytest.approx(table_column(prot, "imaged fractions")[3]),
        8.0,
    ]


def test_shift_history_and_population_charts(scene, hand):
    table, _ = hand
    out = reviewnodes.shift_history(scene, table, "A")
    assert table_column(out["table"], "fraction") == ["1", "2", "3", "4"]
    assert table_column(out["table"], "lateral (mm)") == pytest.approx([1, 2, 3, 6])  # patient is displaced
    assert table_column(out["table"], "vertical (mm)") == pytest.approx([-2, -2, -2, -2])
    chart = out["chart"]
    assert chart.GetNumberOfPlotSeriesNodes() == 3
    again = reviewnodes.shift_history(scene, table, "B", out)  # reused nodes, old series removed
    assert again["chart"] is chart and chart.GetNumberOfPlotSeriesNodes() == 3
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == 3
    pop = reviewnodes.population_scatter(scene, table)
    assert table_column(pop["means"], "patient") == ["A", "B", "C"]
    assert table_column(pop["means"], "lateral (mm)") == pytest.approx([3, -2, 5])
    assert pop["fractions"].GetTable().GetNumberOfRows() == 8
    with pytest.raises(IGRTInputError, match="'Z' is not in the study table"):
        reviewnodes.shift_history(scene, table, "Z")


def test_load_a_fraction_of_a_study(scene, tmp_path):
    from igrt.mrml.transforms import to_parent_ras_from_result
    from igrt.study.fraction import run_fraction
    from igrt.study.manifest import read_manifest
    from igrt.synth.cases import tiny_case

    case = tiny_case()
    os.symlink(case.daily_path, tmp_path / "daily.mha")
    (tmp_path / "bad.mha").write_bytes(b"no image")
    iso = ",".join(f"{v:.4f}" for v in case.planning_isocenter_lps)
    (tmp_path / "m.csv").write_text(
        f'patient,fraction,planning,daily,isocenter\nP1,1,{case.planning_path},daily.mha,"{iso}"\n'
        f'P1,2,{case.planning_path},bad.mha,"{iso}"\n'
    )
    good, bad = read_manifest(tmp_path / "m.csv").fractions
    assert run_fraction(good, str(tmp_path / "study"))["status"] == "ok"
    assert run_fraction(bad, str(tmp_path / "study"))["status"] == "failed"
    out = reviewnodes.load_fraction(scene, tmp_path / "study", "P1", "1")
    m = vtk.vtkMatrix4x4()
    out["transform"].GetMatrixTransformToParent(m)
    r = out["result"]
    expected = to_parent_ras_from_result(
        r["matrix_lps"], r["planning_isocenter_lps"], r["daily_isocenter_lps"]
    )
    np.testing.assert_allclose(
        [[m.GetElement(i, j) for j in range(4)] for i in range(4)], expected, atol=1e-9
    )
    assert out["daily"].GetImageData().GetDimensions() == (64, 64, 64)
    with pytest.raises(IGRTInputError, match="fraction P1/2 failed"):
        reviewnodes.load_fraction(scene, tmp_path / "study", "P1", "2")
    with pytest.raises(IGRTInputError, match="not complete"):
        reviewnodes.load_fraction(scene, tmp_path / "study", "P1", "3")
