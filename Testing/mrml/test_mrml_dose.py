"""Dose and structures on real MRML (slicer-core): dose volume node → Dose, segmentation node → structures,
DVH / dose-impact documents → table, plot series and chart nodes. Values are compared with the core
workflow run on the same arrays without MRML, and with hand-worked numbers (linear dose, box)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

from dose_fixtures import linear_x_dose  # noqa: E402

from igrt import geometry  # noqa: E402
from igrt.dose.corrections import placement_from_document  # noqa: E402
from igrt.dose.model import Structure, StructureSet  # noqa: E402
from igrt.dose.workflow import compute_dvh, compute_impact  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import dose as mrml_dose  # noqa: E402
from igrt.mrml import volumes  # noqa: E402


def _box_mask(dose_image):
    """A 20×20×20 mm box (x, y, z ∈ [−10, 10) mm) on the 1 mm dose grid, voxel centres −9.5 … 9.5."""
    a = np.zeros(sitk.GetArrayViewFromImage(dose_image).shape, np.uint8)
    origin = np.asarray(dose_image.GetOrigin())
    lo = (np.array([-10, -10, -10]) - origin + 0.5).astype(int)  # index of the voxel centred at −9.5
    a[lo[2] : lo[2] + 20, lo[1] : lo[1] + 20, lo[0] : lo[0] + 20] = 1
    mask = sitk.GetImageFromArray(a)
    mask.CopyInformation(dose_image)
    return mask


@pytest.fixture
def scene_case():
    """Dose 10 + 0.1·x Gy sampled at voxel centres x = −40.5 … so that the box centres sit on ±9.5 mm."""
    scene = slicer.vtkMRMLScene()
    dose = linear_x_dose(0.1, origin=(-40.5, -30.5, -30.5))
    dose_node = volumes.node_from_image(scene, dose.image, "Dose")
    dose_node.SetAttribute(mrml_dose.DOSE_VOLUME_ATTRIBUTE, "1")
    dose_node.SetAttribute(mrml_dose.DOSE_UNIT_ATTRIBUTE, "GY")
    mask = _box_mask(dose.image)
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    volumes.update_node_from_image(labels, mask)
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic().ImportLabelmapToSegmentationNode(labels, seg)
    seg.GetSegmentation().GetNthSegment(0).SetName("PTV")
    seg.GetSegmentation().GetNthSegment(0).SetColor(1.0, 0.0, 0.5)
    return scene, dose, dose_node, mask, seg


def test_nodes_give_the_same_dvh_as_the_arrays(scene_case):
    scene, dose, dose_node, mask, seg = scene_case
    from_node = mrml_dose.dose_from_node(dose_node)
    np.testing.assert_allclose(from_node.array(), dose.array())
    assert from_node.image.GetOrigin() == pytest.approx(dose.image.GetOrigin())
    assert from_node.units == "GY" and from_node.warnings == []
    structures = mrml_dose.structures_from_segmentation(seg)
    assert structures.names() == ["PTV"] and structures.structures[0].color == (255, 0, 128)
    doc = compute_dvh(from_node, structures)
    direct = compute_dvh(dose, StructureSet([Structure("PTV", mask=mask)], path="memory"))
    assert doc["structures"][0]["metrics"] == direct["structures"][0]["metrics"]
    m = doc["structures"][0]["metrics"]
    assert doc["structures"][0]["volume_cc"] == pytest.approx(8.0)
    assert m["mean_gy"] == pytest.approx(10.0, abs=1e-5)  # centroid x = 0 (sub-voxels −9.875 … 9.875)
    with pytest.raises(IGRTInputError, match="no segment 'Rectum'"):
        mrml_dose.structures_from_segmentation(seg, names=["Rectum"])
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    dose_node.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(IGRTInputError, match="under a transform"):
        mrml_dose.dose_from_node(dose_node)


def test_tables_and_chart_of_a_dose_impact(scene_case):
    scene, dose, dose_node, mask, seg = scene_case
    structures = mrml_dose.structures_from_segmentation(seg)
    moved = placement_from_document(
        {
            "schema_version": "1.0",
            "kind": "igrt.match",
            "matrix_lps": geometry.rigid_matrix(translation=(5.0, 0, 0)).tolist(),
            "planning_isocenter_lps": [0, 0, 0],
        }
    )
    doc = compute_impact(mrml_dose.dose_from_node(dose_node), structures, [moved])
    nodes = mrml_dose.show_document(scene, doc)
    curves = nodes["curves"].GetTable()
    assert curves.GetNumberOfColumns() == 4  # planned and fraction, dose and volume each
    names = [curves.GetColumn(j).GetName() for j in range(4)]
    assert names == [
        "PTV planned dose (Gy)",
        "PTV planned volume (%)",
        "PTV fraction dose (Gy)",
        "PTV fraction volume (%)",
    ]
    planned = doc["structures"][0]["dvh"]["planned"]
    k = len(planned["dose_gy"]) // 2
    assert curves.GetValue(k, 0).ToDouble() == pytest.approx(planned["dose_gy"][k])
    assert curves.GetValue(k, 1).ToDouble() == pytest.approx(planned["volume_pct"][k])
    metrics = nodes["metrics"].GetTable()
    assert [metrics.GetValue(i, 1).ToString() for i in range(3)] == ["planned", "fraction", "delta"]
    mean_col = [metrics.GetColumn(j).GetName() for j in range(metrics.GetNumberOfColumns())].index("mean_gy")
    assert metrics.GetValue(2, mean_col).ToDouble() == pytest.approx(0.5, abs=1e-5)  # 5 mm × 0.1 Gy/mm
    assert "static dose cloud" in nodes["metrics"].GetAttribute("IGRT.Approximation")
    chart = nodes["chart"]
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    series = [chart.GetNthPlotSeriesNode(i) for i in range(2)]
    assert [s.GetYColumnName() for s in series] == ["PTV planned volume (%)", "PTV fraction volume (%)"]
    assert series[0].GetTableNode() is nodes["curves"]
    assert series[1].GetLineStyle() == slicer.vtkMRMLPlotSeriesNode.LineStyleDash
    again = mrml_dose.show_document(scene, doc, nodes)  # reused: no stray series left in the scene
    assert again["chart"] is chart
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == 2
