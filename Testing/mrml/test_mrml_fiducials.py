"""igrt.mrml.fiducials on real MRML (slicer-core): markers ↔ markups, exclusion, RTSTRUCT nodes, the match.

Hand-worked numbers in the comments. RAS = (−x, −y, z) of LPS (DICOM PS3.3 C.7.6.2.1.1).
"""

import math

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import couch as couchnodes  # noqa: E402
from igrt.mrml import fiducials, transforms  # noqa: E402

#: Four markers (LPS mm) spread like prostate seeds, no symmetry.
PLANNING = np.array([[10.0, -20.0, 30.0], [25.0, -12.0, 38.0], [16.0, -2.0, 22.0], [4.0, -8.0, 45.0]])


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def _translation_node(scene, ras_shift):
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    m = vtk.vtkMatrix4x4()
    for i, v in enumerate(ras_shift):
        m.SetElement(i, 3, float(v))
    node.SetMatrixTransformToParent(m)
    return node


def _points(scene, name, lps_points):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    for k, p in enumerate(lps_points):
        node.AddControlPoint(vtk.vtkVector3d(*geometry.lps_to_ras_point(p)), f"M{k + 1}")
    return node


def test_detected_markers_become_labelled_ras_points(scene):
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    found = [(np.array([10.0, -20.0, 30.0]), 0.8), (np.array([-5.0, 7.5, -1.0]), 0.25)]
    node = fiducials.markers_to_node(scene, found, volume)
    assert node.GetNumberOfControlPoints() == 2
    assert [node.GetNthControlPointLabel(i) for i in range(2)] == ["M1", "M2"]
    ras = [0.0, 0.0, 0.0]
    node.GetNthControlPointPosition(0, ras)
    assert ras == pytest.approx([-10.0, 20.0, 30.0])  # LPS (10, −20, 30) → RAS (−10, 20, 30)
    node.GetNthControlPointPosition(1, ras)
    assert ras == pytest.approx([5.0, -7.5, -1.0])
    assert node.GetNthControlPointDescription(0) == "confidence 0.800"
    markers = fiducials.read_markers(node)
    assert markers[0].position_lps == pytest.approx([10.0, -20.0, 30.0])
    assert [m.confidence for m in markers] == [0.8, 0.25]
    assert node.GetNodeReference(fiducials.VOLUME_REFERENCE) is volume
    # Detecting again refills the same node.
    again = fiducials.markers_to_node(scene, found[:1], volume, node=node)
    assert again is node and node.GetNumberOfControlPoints() == 1


def test_daily_volume_under_a_transform_keeps_image_coordinates(scene):
    # The daily volume shows a match: its parent moves it 5 mm towards R (RAS +x). A marker at image LPS
    # (10, −20, 30) = image RAS (−10, 20, 30) is displayed at world RAS (−5, 20, 30).
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    moved = _translation_node(scene, (5.0, 0.0, 0.0))
    daily.SetAndObserveTransformNodeID(moved.GetID())
    node = fiducials.markers_to_node(scene, [(np.array([10.0, -20.0, 30.0]), 1.0)], daily, role="daily")
    assert node.GetParentTransformNode() is moved
    world = [0.0, 0.0, 0.0]
    node.GetNthControlPointPositionWorld(0, world)
    assert world == pytest.approx([-5.0, 20.0, 30.0])
    assert fiducials.read_markers(node)[0].position_lps == pytest.approx([10.0, -20.0, 30.0])
    # A point the user placed on the displayed image, in a list under no transform: same image point.
    clicked = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "clicked")
    clicked.AddControlPoint(vtk.vtkVector3d(-5.0, 20.0, 30.0), "A")
    assert fiducials.read_markers(clicked, daily)[0].position_lps == pytest.approx([10.0, -20.0, 30.0])
    assert fiducials.read_markers(clicked)[0].position_lps == pytest.approx([5.0, -20.0, 30.0])  # world
    # Moving it under the volume's transform keeps the image point: local RAS (−10, 20, 30).
    fiducials.follow_volume(clicked, daily)
    local = [0.0, 0.0, 0.0]
    clicked.GetNthControlPointPosition(0, local)
    assert clicked.GetParentTransformNode() is moved and local == pytest.approx([-10.0, 20.0, 30.0])


def test_search_box_from_a_markups_roi(scene):
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "search")
    roi.SetCenter(1.0, 2.0, 3.0)
    roi.SetSize(10.0, 20.0, 30.0)
    center, size = fiducials.roi_box_lps(roi)
    assert center == pytest.approx([-1.0, -2.0, 3.0]) and size == pytest.approx([10.0, 20.0, 30.0])
    # For a volume moved 5 mm towards R, the box in its own frame is 5 mm towards L: RAS center (−4, 2, 3).
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    daily.SetAndObserveTransformNodeID(_translation_node(scene, (5.0, 0.0, 0.0)).GetID())
    center, size = fiducials.roi_box_lps(roi, daily)
    assert center == pytest.approx([4.0, -2.0, 3.0]) and size == pytest.approx([10.0, 20.0, 30.0])
    assert fiducials.roi_box_lps(None) == (None, None)


def test_search_box_from_a_segment(scene):
    # A 3 mm sphere at LPS (10, 0, 0) (RAS (−10, 0, 0)); its vertices reach ±3 mm on each axis (poles, and
    # the equator ring at 0°, 90°, 180°, 270°), so with a 10 mm margin the box is 26 mm wide about (10, 0, 0).
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "structures")
    node.GetSegmentation().SetSourceRepresentationName("Closed surface")
    sphere = vtk.vtkSphereSource()
    sphere.SetCenter(-10.0, 0.0, 0.0)
    sphere.SetRadius(3.0)
    sphere.SetThetaResolution(32)
    sphere.SetPhiResolution(33)
    sphere.Update()
    node.AddSegmentFromClosedSurfaceRepresentation(sphere.GetOutput(), "prostate", [1.0, 0.0, 0.0])
    center, size = fiducials.roi_box_lps(node, segment="prostate")
    assert center == pytest.approx([10.0, 0.0, 0.0], abs=1e-6) and size == pytest.approx([26.0] * 3, abs=1e-6)
    with pytest.raises(IGRTInputError, match="select the segment"):
        fiducials.roi_box_lps(node)


def test_exclusion_lock_and_undefined_points(scene):
    node = _points(scene, "daily", PLANNING)
    node.AddControlPoint(vtk.vtkVector3d(0.0, 0.0, 0.0), "M5")
    node.UnsetNthControlPointPosition(4)  # placement skipped: no position
    node.SetNthControlPointSelected(0, False)  # unselected → excluded
    node.SetNthControlPointDescription(1, "Excluded: migrated")  # the word, any case → excluded
    node.SetNthControlPointLabel(2, "M3 excludes nothing")  # "excludes" is not the word
    node.SetNthControlPointLocked(3, True)  # locked: takes part
    markers = fiducials.read_markers(node)
    assert [m.name for m in markers] == ["M1", "M2", "M3 excludes nothing", "M4"]
    assert [m.excluded for m in markers] == [True, True, False, False]
    assert [m.locked for m in markers] == [False, False, False, True]
    fiducials.set_excluded(node, 1, False)
    fiducials.set_excluded(node, 2, True)
    assert node.GetNthControlPointDescription(1) == "migrated"
    assert node.GetNthControlPointDescription(2) == "excluded"
    assert [m.excluded for m in fiducials.read_markers(node)] == [True, False, True, False]
    with pytest.raises(IGRTInputError, match="no control point 9"):
        fiducials.set_excluded(node, 8)


def _slicerrt_point_roi(scene, sh, folder, name, lps):
    """A point ROI as SlicerRT's AddRoiPoint leaves it: own node, one point, locked, hidden, in the folder."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    node.AddControlPoint(vtk.vtkVector3d(*geometry.lps_to_ras_point(lps)))  # default label "<name>-1"
    node.SetLocked(1)
    node.CreateDefaultDisplayNodes()
    node.SetDisplayVisibility(0)
    item = sh.CreateItem(folder, node)
    sh.SetItemAttribute(item, fiducials.SLICERRT_ROI_ATTRIBUTE, "1.2.3.4")
    return node


def test_rtstruct_point_nodes_are_found_and_merged(scene):
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folder = sh.CreateFolderItem(sh.GetSceneItemID(), "RTSTRUCT: Markers_Fiducials")
    rois = [_slicerrt_point_roi(scene, sh, folder, f"Gold{k + 1}", p) for k, p in enumerate(PLANNING[:3])]
    other = _points(scene, "isocenter", [(0.0, 0.0, 0.0)])  # a user's one-point list, not from RTSTRUCT
    sh.CreateItem(sh.GetSceneItemID(), other)
    assert rois[0].GetNthControlPointLabel(0) == "Gold1-1"
    found = fiducials.rtstruct_point_nodes(scene)
    assert found == rois
    merged = fiducials.merge_point_nodes(scene, found)
    markers = fiducials.read_markers(merged)
    assert [m.name for m in markers] == ["Gold1", "Gold2", "Gold3"]  # the ROI names
    np.testing.assert_allclose([m.position_lps for m in markers], PLANNING[:3])
    assert all(m.locked and not m.excluded for m in markers)
    # Reading the one-point nodes directly gives the same points (their default labels).
    assert [m.name for m in fiducials.read_markers(found)] == ["Gold1-1", "Gold2-1", "Gold3-1"]
    with pytest.raises(IGRTInputError, match="no point lists"):
        fiducials.merge_point_nodes(scene, [])
    with pytest.raises(IGRTInputError, match="cannot be one of its sources"):
        fiducials.merge_point_nodes(scene, found, node=found[0])


def _volumes(scene):
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    planning.SetAttribute("IGRT.PatientPosition", "HFS")
    return planning, daily


def test_match_translation_transform_table_and_couch(scene):
    # Patient displaced by (3, −2, 1) mm LPS (3 mm left, 2 mm anterior, 1 mm superior), same frame.
    planning_volume, daily_volume = _volumes(scene)
    shift = np.array([3.0, -2.0, 1.0])
    planning = _points(scene, "planning markers", PLANNING)
    daily = _points(scene, "daily markers", (PLANNING + shift)[[2, 0, 3, 1]])  # any order
    iso = (15.0, -10.0, 33.0)
    out = fiducials.match(
        scene,
        planning,
        daily,
        planning_volume,
        daily_volume,
        planning_isocenter_lps=iso,
        daily_isocenter_lps=iso,
    )
    r = out.result
    assert r["method"] == "fiducial" and r["orientation"] == "HFS"
    assert r["translation_mm"] == pytest.approx(shift, abs=1e-6)
    assert r["quality"]["pairs"] == [[0, 1], [1, 3], [2, 0], [3, 2]]
    assert r["quality"]["fre_mm"] == pytest.approx(0.0, abs=1e-6)
    # The transform is applied to the daily volume with SlicerRT's REG references, like Daily Match's.
    node = out.transform_node
    assert daily_volume.GetTransformNodeID() == node.GetID()
    assert node.GetNodeReferenceID(transforms.moving_role()) == daily_volume.GetID()
    assert node.GetNodeReferenceID(transforms.fixed_role()) == planning_volume.GetID()
    assert node.GetAttribute(fiducials.ATTR_METHOD) == "fiducial"
    # IGRT Couch Shift reads it: HFS, patient 3 mm left → couch lateral −3; 1 mm superior → longitudinal −1;
    # 2 mm anterior (LPS −y) → vertical (= −y) +2 displaced → couch vertical −2.
    read = couchnodes.result_from_transform_node(node)
    assert read["translation_mm"] == pytest.approx(shift, abs=1e-6)
    shift_out = couchnodes.evaluate_shift(read, "HFS")
    lat, lng, vrt = shift_out["lateral_mm"], shift_out["longitudinal_mm"], shift_out["vertical_mm"]
    assert (lat, lng, vrt) == pytest.approx((-3.0, -1.0, -2.0), abs=1e-6)
    # The daily list follows the daily image: now under the match transform, same image coordinates.
    assert daily.GetParentTransformNode() is node
    np.testing.assert_allclose(
        [m.position_lps for m in fiducials.read_markers(daily, daily_volume)],
        (PLANNING + shift)[[2, 0, 3, 1]],
    )
    rows = {row[0]: row for row in couchnodes.read_table(out.table_node)}
    assert rows["translation x (+ = towards patient left)"][1] == pytest.approx(3.0)
    assert rows["residual M1 (daily M2)"][1:] == (
        0.0,
        "mm",
        "distance between the paired markers after the fit",
    )
    assert rows["migration suspected M4"][1] == 0.0
    assert out.messages[0].startswith("FRE 0.00 mm over 4 marker pairs")
    # A second run reuses the nodes.
    n = scene.GetNumberOfNodes()
    again = fiducials.match(
        scene,
        planning,
        daily,
        planning_volume,
        daily_volume,
        iso,
        iso,
        transform_node=node,
        table_node=out.table_node,
    )
    assert again.transform_node is node and scene.GetNumberOfNodes() == n
    assert again.result["translation_mm"] == pytest.approx(shift, abs=1e-6)


def test_cbct_frame_exclusion_and_migration(scene):
    # Daily CBCT in its own frame, treatment isocenter at (0, 0, 0): d = q − iso + (0, 0, 0) + shift.
    iso = np.array([15.0, -10.0, 33.0])
    shift = np.array([-1.5, 2.0, 0.5])
    daily_points = PLANNING - iso + shift
    daily_points[2] += (0.0, 0.0, 4.0)  # marker 3 migrated 4 mm superior
    planning = _points(scene, "planning markers", PLANNING)
    daily = _points(scene, "daily markers", daily_points)
    out = fiducials.match(scene, planning, daily, planning_isocenter_lps=iso, daily_isocenter_lps=(0, 0, 0))
    q = out.result["quality"]
    assert q["suspected_migration"] == [2]
    alt = q["without_suspect"]
    assert alt["excluded"] == 2 and alt["translation_mm"] == pytest.approx(shift, abs=1e-6)
    rows = {row[0]: row for row in couchnodes.read_table(out.table_node)}
    assert rows["migration suspected M3"][1] == 1.0
    assert rows["translation x without M3 (+ = towards patient left)"][1] == pytest.approx(-1.5)
    assert any(
        m.startswith("without marker M3 the shift would be x -1.5, y +2.0, z +0.5 mm") for m in out.messages
    )
    # The user excludes M3 in the planning list: the fit is exact again and the table says so.
    planning.SetNthControlPointSelected(2, False)
    out = fiducials.match(scene, planning, daily, planning_isocenter_lps=iso, daily_isocenter_lps=(0, 0, 0))
    q = out.result["quality"]
    assert q["excluded"] == [2] and [i for i, _ in q["pairs"]] == [0, 1, 3]
    assert out.result["translation_mm"] == pytest.approx(shift, abs=1e-6)
    assert "excluded M3" in {row[0] for row in couchnodes.read_table(out.table_node)}
    # Excluding a daily point instead leaves it out of the pairing; M3 then has no partner.
    planning.SetNthControlPointSelected(2, True)
    daily.SetNthControlPointSelected(2, False)
    out = fiducials.match(scene, planning, daily, planning_isocenter_lps=iso, daily_isocenter_lps=(0, 0, 0))
    assert [m.name for m in out.daily] == ["M1", "M2", "M4"]
    assert out.result["translation_mm"] == pytest.approx(shift, abs=1e-6)
    assert [i for i, _ in out.result["quality"]["pairs"]] == [0, 1, 3]


def test_no_isocenter_uses_the_marker_centroid_and_says_so(scene):
    # Rotation of 5° about LPS z at the origin: the displacement at the planning centroid c is R·c − c.
    m = geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 5))
    planning = _points(scene, "p", PLANNING)
    daily = _points(scene, "d", geometry.apply(m, PLANNING))
    out = fiducials.match(scene, planning, daily)
    cx, cy = 13.75, -10.5  # centroid (13.75, −10.5, 33.75)
    c5, s5 = math.cos(math.radians(5)), math.sin(math.radians(5))
    expected = [c5 * cx - s5 * cy - cx, s5 * cx + c5 * cy - cy, 0.0]  # (0.8628, 1.2383, 0)
    assert out.result["translation_mm"] == pytest.approx(expected, abs=1e-4)
    assert expected[:2] == pytest.approx([0.8628, 1.2383], abs=1e-4)
    assert out.result["rotation_deg"][2] == pytest.approx(5.0, abs=1e-4)
    assert (
        out.result["warnings"].count("no isocenter given: the centroid of the planning markers is used") == 1
    )
    assert out.result["planning_isocenter_lps"] == pytest.approx([13.75, -10.5, 33.75], abs=1e-4)


def test_bad_input(scene):
    planning = _points(scene, "p", PLANNING)
    two = _points(scene, "d", PLANNING[:2])
    with pytest.raises(IGRTInputError, match="4 planning and 2 daily markers: at least 3"):
        fiducials.match(scene, planning, two)
    with pytest.raises(IGRTInputError, match="select a markups point list"):
        fiducials.match(scene, None, planning)
    with pytest.raises(IGRTInputError, match="select the volume"):
        fiducials.detect(None)
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    with pytest.raises(IGRTInputError, match="no image data"):
        fiducials.detect(empty)
    with pytest.raises(IGRTInputError, match="the same point list"):
        fiducials.match(scene, planning, planning)
