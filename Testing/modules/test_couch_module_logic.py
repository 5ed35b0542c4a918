"""IGRTCouchShiftLogic imported from the module file and run on real MRML (slicer-core, no Qt).

Hand-worked numbers in the comments (IEC 61217 HFS: lateral = LPS x, longitudinal = LPS z, vertical = −LPS y).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from conftest import import_module_file  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import transforms  # noqa: E402


@pytest.fixture(scope="module")
def module():
    return import_module_file("IGRTCouchShift")


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def _match(scene, matrix, iso=(0.0, 0.0, 0.0), orientation="HFS"):
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    if orientation:
        planning.SetAttribute("IGRT.PatientPosition", orientation)
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "IGRT match")
    transforms.update_transform_node(node, matrix, planning, daily, iso, iso)
    return node


def _sphere(scene, center_lps, radius):
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "planning structures")
    node.GetSegmentation().SetSourceRepresentationName("Closed surface")
    sphere = vtk.vtkSphereSource()
    sphere.SetCenter(*geometry.lps_to_ras_point(center_lps))
    sphere.SetRadius(radius)
    sphere.SetThetaResolution(32)
    sphere.SetPhiResolution(33)  # 32 intervals: a ring of vertices on the equator
    sphere.Update()
    node.AddSegmentFromClosedSurfaceRepresentation(sphere.GetOutput(), "PTV", [1.0, 0.0, 0.0])
    return node


def test_module_imports_headless(module):
    assert module.IN_SLICER_APP is False
    assert [m.value for m in module.CouchModel] == ["6dof", "4dof", "3dof"]
    assert module.PatientOrientation.FROM_RESULT.value == "auto"
    assert module.DISPLAY_PROFILES and module.TOLERANCE_PROFILES


def test_patient_5mm_left_hfs_is_couch_lateral_minus_5(module, scene):
    # Patient 5 mm to their left (LPS +x) → the couch moves 5 mm to the patient's right: lateral −5 mm.
    node = _match(scene, geometry.rigid_matrix(translation=(5, 0, 0)))
    logic = module.IGRTCouchShiftLogic()
    out = logic.process(node)
    assert out.rows[0] == ("lateral", -5.0, "mm", "couch moves")
    assert out.shift["orientation"] == "HFS" and out.shift["orientation_source"] == "from the planning image"
    assert out.table_node.GetTable().GetNumberOfRows() == len(out.rows)
    assert "lateral -5.0 mm" in logic.summary(out) and "couch moves" in logic.summary(out)
    # A second run reuses the table node.
    n = scene.GetNumberOfNodes()
    again = logic.process(node, outputTable=out.table_node)
    assert again.table_node is out.table_node and scene.GetNumberOfNodes() == n
    # The user's orientation overrides the image's: FFS lateral = −patient left → +5.
    assert logic.process(node, orientation="FFS").rows[0][1] == pytest.approx(5.0)


def test_unknown_orientation_is_assumed_hfs_and_said(module, scene):
    node = _match(scene, geometry.rigid_matrix(translation=(5, 0, 0)), orientation=None)
    out = module.IGRTCouchShiftLogic().process(node)
    assert out.shift["orientation"] == "HFS" and out.shift["orientation_source"].startswith("assumed HFS")


def test_segment_target_limited_couch_and_largest_residual(module, scene):
    # M = rotation of 90° about LPS z at the isocenter (0, 0, 0): for HFS this is a roll (LPS z = Yt).
    # 3-DOF couch, target = centroid of a 3 mm sphere at LPS (10, 0, 0). The target went to (0, 10, 0):
    # couch translation (10, −10, 0) LPS → lateral +10, longitudinal 0, vertical +10; the error at the
    # target is zero, at the isocenter |(10, −10, 0)| = 14.142 mm, and the largest over the sphere is the
    # 90° turn about the axis through its center: 2·3·sin 45° = 3√2 = 4.243 mm (equator vertices).
    node = _match(scene, geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 90)))
    segmentation = _sphere(scene, (10.0, 0.0, 0.0), 3.0)
    out = module.IGRTCouchShiftLogic().process(
        node, couchModel="3dof", targetSource="segment", segmentationNode=segmentation, segmentID="PTV"
    )
    s = out.shift
    assert (s["lateral_mm"], s["longitudinal_mm"], s["vertical_mm"]) == pytest.approx((10, 0, 10), abs=1e-4)
    assert s["residual_at_isocenter_mm"] == pytest.approx(math.sqrt(200), abs=1e-4)
    assert s["residual_at_target_mm"] == pytest.approx(0, abs=1e-4)
    assert s["residual_max_over_target_mm"] == pytest.approx(3 * math.sqrt(2), abs=1e-4)
    assert "centroid of segment 'PTV'" in s["target_description"]
    rows = {r[0]: r for r in out.rows}
    assert rows["largest residual over target structure"][1] == pytest.approx(4.24)
    assert rows["roll not corrected"][1] == pytest.approx(-90)


def test_rotation_limit_and_4dof(module, scene):
    # Couch-rotation error of 4° about the vertical axis: for HFS, Zt = anterior = −LPS y, so a right-handed
    # 4° about Zt is −4° about LPS y. The couch turns back by −4°; with a ±3° limit it turns −3° and 1° is left.
    node = _match(scene, geometry.rigid_matrix(geometry.rotation_xyz_deg(0, -4, 0)))
    logic = module.IGRTCouchShiftLogic()
    full = logic.process(node, couchModel="4dof")
    assert full.shift["rotation_deg"] == pytest.approx(-4)
    limited = logic.process(node, couchModel="6dof", maxRotationDeg=3.0)
    assert limited.shift["rotation_deg"] == pytest.approx(-3)
    assert limited.shift["uncorrected_rotation_deg"]["rotation_deg"] == pytest.approx(-1)
    assert {r[0]: r for r in limited.rows}["couch rotation not corrected"][1] == pytest.approx(-1)


def test_report_export(module, scene, tmp_path):
    node = _match(scene, geometry.rigid_matrix(translation=(5, 0, 0)))
    logic = module.IGRTCouchShiftLogic()
    with pytest.raises(IGRTInputError, match="compute the couch shift first"):
        logic.exportReport(tmp_path / "r.html")
    logic.process(node)
    html = Path(logic.exportReport(tmp_path / "r.html")).read_text()
    assert "couch moves" in html and "HFS" in html and "-5.00" in html
    data = json.loads(Path(logic.exportReport(tmp_path / "r.json")).read_text())
    assert data["couch"]["lateral_mm"] == pytest.approx(-5)
    assert data["rows"][0] == ["lateral", -5.0, "mm", "couch moves"]
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind


def test_reg_export_or_a_clear_refusal(module, scene, tmp_path):
    node = _match(scene, geometry.rigid_matrix(translation=(5, 0, 0)))
    logic = module.IGRTCouchShiftLogic()
    logic.process(node)
    try:
        from igrt.io import reg
    except ImportError:
        with pytest.raises(IGRTInputError, match="igrt.io.reg"):
            logic.exportReg(tmp_path / "reg.dcm")
        return
    path = Path(logic.exportReg(tmp_path / "reg.dcm"))
    assert path.is_file()
    back = reg.result_from_reg(reg.read_reg(path))
    matrix = back["matrix_lps"] if isinstance(back, dict) else back.matrix_lps
    np.testing.assert_allclose(matrix, geometry.rigid_matrix(translation=(5, 0, 0)), atol=1e-6)


def test_plan_target_and_bad_input(module, scene):
    logic = module.IGRTCouchShiftLogic()
    with pytest.raises(IGRTInputError, match="select the IGRT match transform"):
        logic.process(None)
    bare = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    with pytest.raises(IGRTInputError, match="no planning isocenter"):
        logic.process(bare)
    node = _match(scene, geometry.rigid_matrix(translation=(5, 0, 0)))
    with pytest.raises(IGRTInputError, match="select an RT plan"):
        logic.process(node, targetSource="plan")
    with pytest.raises(IGRTInputError, match="select the segmentation and the segment"):
        logic.process(node, targetSource="segment")
    with pytest.raises(IGRTInputError, match="unknown couch"):
        logic.process(node, couchModel="5dof")
    with pytest.raises(IGRTInputError, match="rotation limit"):
        logic.process(node, maxRotationDeg=-1.0)
    with pytest.raises(IGRTInputError, match="orientation"):
        logic.process(node, orientation="XYZ")
