"""IGRTFiducialsLogic imported from the module file and run on real MRML (slicer-core, no Qt).

The synthetic case is the module's own (IGRTFiducialsLib.syntheticcase): a water block with a bone
rod and four gold cylinders (1 × 3 mm, 8000 HU, partial volume), moved by a known rigid transform.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from conftest import import_module_file  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import fiducials, volumes  # noqa: E402

COUCH_DIR = Path(__file__).resolve().parents[2] / "IGRTExtension" / "IGRTCouchShift"


@pytest.fixture(scope="module")
def module():
    return import_module_file("IGRTFiducials")


@pytest.fixture(scope="module")
def case(module):
    from IGRTFiducialsLib import syntheticcase

    image, centers = syntheticcase.planning_image()
    iso = centers.mean(axis=0)
    # Patient 2.5 mm left, 1.5 mm anterior, 3 mm superior, turned (1.5°, −1°, 2°) about the isocenter:
    # the displacement at the isocenter is exactly (2.5, −1.5, 3.0) mm (LPS).
    matrix = geometry.rigid_about_point(geometry.rotation_xyz_deg(1.5, -1.0, 2.0), iso, (2.5, -1.5, 3.0))
    return image, syntheticcase.move_patient(image, matrix), centers, iso, matrix


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def test_module_imports_headless(module):
    assert module.IN_SLICER_APP is False
    assert [s.value for s in module.IsocenterSource] == ["plan", "markups", "markers"]
    assert "unselected" in module.HELP_TEXT and "exclude" in module.HELP_TEXT


def test_detect_and_match_the_known_displacement(module, case, scene):
    image, moved, centers, iso, matrix = case
    planning = volumes.node_from_image(scene, image, "planning CT")
    daily = volumes.node_from_image(scene, moved, "daily CT")
    logic = module.IGRTFiducialsLogic()
    p_list = logic.detect(planning, "planning")
    d_list = logic.detect(daily, "daily")
    assert p_list.GetName() == "Planning markers" and d_list.GetName() == "Daily markers"
    # Each detected marker within 0.3 mm of the truth (RAS in the list = LPS truth with x, y negated).
    found = np.array([m.position_lps for m in fiducials.read_markers(p_list)])
    assert len(found) == 4
    assert max(np.min(np.linalg.norm(centers - f, axis=1)) for f in found) < 0.3
    moved_truth = geometry.apply(matrix, centers)
    found = np.array([m.position_lps for m in fiducials.read_markers(d_list)])
    assert max(np.min(np.linalg.norm(moved_truth - f, axis=1)) for f in found) < 0.3

    out = logic.process(p_list, d_list, planning, daily, planningIsocenterLps=iso)
    assert np.max(np.abs(np.asarray(out.result["translation_mm"]) - (2.5, -1.5, 3.0))) < 0.5
    assert (
        np.max(np.abs(np.asarray(out.result["rotation_deg"]) - geometry.angles_xyz_deg(matrix[:3, :3]))) < 0.5
    )
    assert out.result["quality"]["fre_mm"] < 0.3
    assert daily.GetTransformNodeID() == out.transform_node.GetID()
    assert "Patient is displaced" in logic.summary(out) and "FRE" in logic.summary(out)

    # IGRT Couch Shift's Logic reads the transform: HFS (assumed), 2.5 mm left → couch lateral −2.5.
    sys.path.insert(0, str(COUCH_DIR))
    try:
        import IGRTCouchShift

        shift = IGRTCouchShift.IGRTCouchShiftLogic().process(out.transform_node, couchModel="6dof")
    finally:
        sys.path.remove(str(COUCH_DIR))
    assert shift.shift["lateral_mm"] == pytest.approx(-2.5, abs=0.5)
    assert shift.shift["longitudinal_mm"] == pytest.approx(-3.0, abs=0.5)

    # Detecting again on the daily volume, now under the match transform, finds the same image points.
    again = logic.detect(daily, "daily", markupsNode=d_list)
    assert again is d_list and again.GetParentTransformNode() is out.transform_node
    np.testing.assert_allclose(
        [m.position_lps for m in fiducials.read_markers(again)],
        found,
        atol=1e-6,
    )


def test_search_region_limits_detection(module, case, scene):
    image, _, centers, _, _ = case
    planning = volumes.node_from_image(scene, image, "planning CT")
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "search")
    roi.SetCenter(*geometry.lps_to_ras_point(centers[0]))
    roi.SetSize(8.0, 8.0, 8.0)
    node = module.IGRTFiducialsLogic().detect(planning, "planning", roiNode=roi)
    markers = fiducials.read_markers(node)
    assert len(markers) == 1 and np.linalg.norm(markers[0].position_lps - centers[0]) < 0.3
    far = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "water only")
    far.SetCenter(30.0, 0.0, 110.0)  # LPS (−30, 0, 110): in the water block, > 35 mm from every marker
    far.SetSize(10.0, 10.0, 10.0)
    with pytest.raises(IGRTInputError, match="no markers found in 'planning CT' inside the search region"):
        module.IGRTFiducialsLogic().detect(planning, "planning", roiNode=far)


def test_rtstruct_points_as_planning_markers_and_toggles(module, scene):
    logic = module.IGRTFiducialsLogic()
    with pytest.raises(IGRTInputError, match="no RTSTRUCT point ROIs"):
        logic.collectRtStructPoints(scene)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folder = sh.CreateFolderItem(sh.GetSceneItemID(), "RTSTRUCT: Markers_Fiducials")
    planning_points = np.array([[10.0, -20.0, 30.0], [25.0, -12.0, 38.0], [16.0, -2.0, 22.0]])
    for k, p in enumerate(planning_points):  # as SlicerRT loads them: one locked node per point ROI
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", f"Gold{k + 1}")
        node.AddControlPoint(vtk.vtkVector3d(*geometry.lps_to_ras_point(p)))
        node.SetLocked(1)
        sh.CreateItem(folder, node)
    merged = logic.collectRtStructPoints(scene)
    assert [merged.GetNthControlPointLabel(i) for i in range(3)] == ["Gold1", "Gold2", "Gold3"]
    daily = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Daily markers")
    for p in planning_points + (0.0, 0.0, -4.0):  # patient 4 mm inferior
        daily.AddControlPoint(vtk.vtkVector3d(*geometry.lps_to_ras_point(p)))
    out = logic.process(merged, daily, planningIsocenterLps=(15.0, -10.0, 30.0))
    assert out.result["translation_mm"] == pytest.approx([0.0, 0.0, -4.0], abs=1e-6)
    assert [m.name for m in out.planning] == ["Gold1", "Gold2", "Gold3"]
    # Exclude / include toggles, and a 3-marker list with one excluded is refused with one line.
    assert logic.toggleExcluded(daily, 1) is True and not daily.GetNthControlPointSelected(1)
    with pytest.raises(IGRTInputError, match="3 planning and 2 daily markers"):
        logic.process(merged, daily)
    assert logic.toggleExcluded(daily, 1) is False and daily.GetNthControlPointSelected(1)


def test_isocenter_sources_and_bad_input(module, scene):
    logic = module.IGRTFiducialsLogic()
    assert logic.planningIsocenterLps("markers") is None
    point = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "iso")
    point.AddControlPoint(vtk.vtkVector3d(-15.0, 10.0, 33.0))  # RAS → LPS (15, −10, 33)
    assert logic.planningIsocenterLps("markups", markupsNode=point) == pytest.approx([15.0, -10.0, 33.0])
    with pytest.raises(IGRTInputError, match="select an RT plan"):
        logic.planningIsocenterLps("plan")
    with pytest.raises(IGRTInputError, match="select the planning and the daily marker lists"):
        logic.process(None, None)
    with pytest.raises(IGRTInputError, match="role must be planning or daily"):
        logic.detect(None, "weekly")
