"""igrt.mrml.couch on real MRML (slicer-core wheel): match transform → shift → table, segments → LPS.

Every expected number is worked by hand in the comments (docs/CONVENTIONS.md: RAS = diag(-1,-1,1)·LPS; IEC 61217
table top for HFS: lateral = patient left = LPS x, longitudinal = superior = LPS z, vertical = anterior
= −LPS y; FFS diag(−1, −1, 1) and HFP diag(−1, 1, −1) of those).
"""

import json
import math

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import couch as mc  # noqa: E402
from igrt.mrml import transforms  # noqa: E402


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def _match_node(scene, matrix_lps, iso=(10.0, 20.0, 30.0), daily_iso=None, orientation="HFS"):
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    if orientation:
        planning.SetAttribute("IGRT.PatientPosition", orientation)
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "IGRT match")
    transforms.update_transform_node(
        node, matrix_lps, planning, daily, iso, iso if daily_iso is None else daily_iso
    )
    return node


def _box_segmentation(scene):
    """Labelmap box: voxels i 4..7, j 3..5, k 2..4 of a grid with spacing (1, 2, 3) mm at RAS origin 0.

    Voxel centers (RAS): x ∈ {4, 5, 6, 7}, y ∈ {6, 8, 10}, z ∈ {6, 9, 12}. Centroid RAS (5.5, 8, 9)
    → LPS (−5.5, −8, 9). 4·3·3 = 36 voxels, of which (4−2)·(3−2)·(3−2) = 2 are interior: 34 on the boundary.
    """
    image = slicer.vtkOrientedImageData()
    image.SetExtent(0, 9, 0, 9, 0, 9)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    image.SetSpacing(1.0, 2.0, 3.0)
    a = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(10, 10, 10)  # (k, j, i)
    a[:] = 0
    a[2:5, 3:6, 4:8] = 1
    image.Modified()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "planning structures")
    node.AddSegmentFromBinaryLabelmapRepresentation(image, "box", [0.0, 1.0, 0.0])
    return node


def _sphere_segmentation(scene, center_ras=(10.0, 20.0, 30.0), radius=5.0):
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "sphere structures")
    node.GetSegmentation().SetSourceRepresentationName(mc.SURFACE)
    sphere = vtk.vtkSphereSource()
    sphere.SetCenter(*center_ras)
    sphere.SetRadius(radius)
    sphere.SetThetaResolution(24)
    sphere.SetPhiResolution(25)  # 24 intervals: a ring of vertices on the equator
    sphere.Update()
    node.AddSegmentFromClosedSurfaceRepresentation(sphere.GetOutput(), "PTV", [1.0, 0.0, 0.0])
    return node


# ----------------------------------------------------------------------------------------------
# Transform node → result


def test_result_read_back_from_the_match_transform(scene):
    # Patient 5 mm to their LEFT: M = translate LPS (+5, 0, 0); isocenter LPS (10, 20, 30).
    node = _match_node(scene, geometry.rigid_matrix(translation=(5, 0, 0)))
    result = mc.result_from_transform_node(node)
    np.testing.assert_allclose(result["matrix_lps"], geometry.rigid_matrix(translation=(5, 0, 0)), atol=1e-12)
    assert result["planning_isocenter_lps"] == [10.0, 20.0, 30.0]
    assert result["translation_mm"] == pytest.approx([5, 0, 0])
    assert result["orientation"] == "HFS"  # from the planning volume the node references
    assert result["hand_edited"] is False
    assert result["inputs"]["planning"] == {"patient_position": "HFS"}


def test_hand_edited_transform_is_flagged_and_read_as_it_is_now(scene):
    node = _match_node(scene, np.eye(4))
    # The user drags the daily image 2 mm towards the patient's RIGHT (RAS +x): the anatomy was 2 mm LEFT.
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 2.0)
    node.SetMatrixTransformToParent(m)
    result = mc.result_from_transform_node(node)
    assert result["hand_edited"] is True
    assert result["translation_mm"] == pytest.approx([2, 0, 0])


def test_transform_without_isocenter_needs_the_plan_isocenter(scene):
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    with pytest.raises(IGRTInputError, match="no planning isocenter"):
        mc.result_from_transform_node(node)
    result = mc.result_from_transform_node(node, planning_isocenter_lps=(1, 2, 3))
    assert result["planning_isocenter_lps"] == [1, 2, 3] and result["orientation"] is None
    with pytest.raises(IGRTInputError):
        mc.result_from_transform_node(None)
    with pytest.raises(IGRTInputError, match="not a linear transform"):
        mc.result_from_transform_node(scene.AddNewNodeByClass("vtkMRMLGridTransformNode"))


# ----------------------------------------------------------------------------------------------
# Shift → table


@pytest.mark.parametrize(
    ("orientation", "lateral"),
    [
        ("HFS", -5.0),  # lateral Xt = patient left: the couch moves 5 mm to the patient's right
        ("HFP", +5.0),  # prone: Xt = −patient left
        ("FFS", +5.0),  # feet first supine: Xt = −patient left
        ("FFP", -5.0),  # feet first prone: Xt = +patient left
    ],
)
def test_patient_5mm_left_gives_couch_lateral(scene, orientation, lateral):
    node = _match_node(scene, geometry.rigid_matrix(translation=(5, 0, 0)), orientation=orientation)
    result = mc.result_from_transform_node(node)
    shift = mc.evaluate_shift(result, result["orientation"])
    assert shift["lateral_mm"] == pytest.approx(lateral, abs=1e-9)
    assert shift["longitudinal_mm"] == pytest.approx(0, abs=1e-9)
    assert shift["vertical_mm"] == pytest.approx(0, abs=1e-9)
    table = mc.shift_table_node(scene, shift)
    rows = mc.read_table(table)
    assert [r[0] for r in rows[:6]] == [
        "lateral",
        "longitudinal",
        "vertical",
        "couch rotation",
        "pitch",
        "roll",
    ]
    assert rows[0] == ("lateral", lateral, "mm", "couch moves")
    assert all(r[3] == "couch moves" for r in rows[:6])
    assert [c for c in mc.COLUMNS] == [table.GetTable().GetColumnName(j) for j in range(4)]


def test_hfs_table_contents_and_attributes(scene):
    # HFS, patient 5 mm left, 3 mm posterior (LPS +y), 2 mm superior (LPS +z): the couch undoes it —
    # lateral −5 (to the right), vertical = −(−3)... : the anatomy moved posterior = down (−Zt), so the
    # couch moves up by 3: vertical +3; longitudinal −2 (towards the foot, away from the gantry).
    node = _match_node(scene, geometry.rigid_matrix(translation=(5, 3, 2)))
    result = mc.result_from_transform_node(node)
    shift = mc.evaluate_shift(result, "HFS")
    table = mc.shift_table_node(scene, shift)
    rows = {r[0]: r for r in mc.read_table(table)}
    assert rows["lateral"][1] == pytest.approx(-5)
    assert rows["longitudinal"][1] == pytest.approx(-2)
    assert rows["vertical"][1] == pytest.approx(3)
    assert rows["residual at isocenter"][1:3] == (0.0, "mm")
    assert rows["residual at target"][3] == "target = isocenter"
    assert math.isnan(rows["verdict"][1]) and rows["verdict"][3] == shift["verdict"]
    assert table.GetAttribute(mc.ATTR_VERDICT) == shift["verdict"]
    stored = json.loads(table.GetAttribute(mc.ATTR_SHIFT))
    assert stored["lateral_mm"] == pytest.approx(-5) and stored["sense"] == "couch moves"
    # Updating the same node replaces its rows instead of appending.
    n = table.GetTable().GetNumberOfRows()
    mc.update_shift_table(table, shift)
    assert table.GetTable().GetNumberOfRows() == n


def test_patient_displacement_profile_only_negates(scene):
    node = _match_node(scene, geometry.rigid_matrix(translation=(5, 0, 0)))
    shift = mc.evaluate_shift(mc.result_from_transform_node(node), "HFS")
    rows = mc.shift_rows(shift, "Patient displacement")
    assert rows[0][1:] == (5.0, "mm", "patient is displaced")
    assert shift["lateral_mm"] == pytest.approx(-5)  # the computed motion is untouched


def test_verdict_says_what_it_is(scene):
    node = _match_node(scene, geometry.rigid_matrix(translation=(5, 0, 0)))
    shift = mc.evaluate_shift(mc.result_from_transform_node(node), "HFS")
    assert shift["verdict"] == "apply shift"  # 5 mm > 2 mm (TG-142), < 20 mm


def test_limited_couch_with_target_and_residuals(scene):
    # M = Rz(90°) (about LPS z) at the isocenter (0, 0, 0). 3-DOF couch; target LPS (10, 0, 0).
    # The target went to M(t) = (0, 10, 0): the couch translation (motion of the point at the isocenter)
    # is t − M(t) = (10, −10, 0) LPS → HFS lateral +10, longitudinal 0, vertical −(−10) = +10.
    # Residual at the isocenter: the anatomy there stayed put and the couch moved it by |(10, −10, 0)| = 14.142.
    iso = (0.0, 0.0, 0.0)
    node = _match_node(scene, geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 90)), iso=iso)
    result = mc.result_from_transform_node(node)
    shift = mc.evaluate_shift(result, "HFS", couch_model="3dof", target_lps=(10, 0, 0))
    assert (shift["lateral_mm"], shift["longitudinal_mm"], shift["vertical_mm"]) == pytest.approx((10, 0, 10))
    assert shift["rotation_deg"] == 0.0
    assert shift["residual_at_isocenter_mm"] == pytest.approx(math.sqrt(200))
    assert shift["residual_at_target_mm"] == pytest.approx(0, abs=1e-9)
    rows = {r[0]: r for r in mc.shift_rows(shift)}
    assert rows["residual at isocenter"][1] == pytest.approx(14.14)
    # LPS z is the patient's superior axis = Yt for HFS: the anatomy rolled. Rz(90°) takes Xt (left) to
    # −Zt (posterior), which is Ry(+90°) about Yt (x' = x cos θ + z sin θ, z' = −x sin θ + z cos θ):
    # the couch should have rolled back by −90° and could not.
    assert rows["roll not corrected"][1] == pytest.approx(-90.0)
    assert "couch rotation not corrected" not in rows


def test_largest_residual_over_the_box(scene):
    # Box centroid LPS (−5.5, −8, 9) is the isocenter; M = Rz(60°) about it; 3-DOF couch: no translation,
    # the residual at a point is its displacement 2·ρ·sin(30°) = ρ, ρ = distance from the z axis through the
    # centroid. Farthest boundary voxel: |dx| = 1.5 mm, |dy| = 2 mm → ρ = 2.5 mm.
    segmentation = _box_segmentation(scene)
    iso = mc.segment_centroid_lps(segmentation, "box")
    matrix = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 60), iso)
    node = _match_node(scene, matrix, iso=iso)
    points = mc.segment_points_lps(segmentation, "box")
    shift = mc.evaluate_shift(
        mc.result_from_transform_node(node), "HFS", couch_model="3dof", target_points_lps=points
    )
    assert shift["residual_max_over_target_mm"] == pytest.approx(2.5, abs=1e-9)
    assert shift["target_point_count"] == 34
    # With the full 6-DOF couch everything is corrected.
    full = mc.evaluate_shift(mc.result_from_transform_node(node), "HFS", target_points_lps=points)
    assert full["residual_max_over_target_mm"] == pytest.approx(0, abs=1e-9)
    assert full["roll_deg"] == pytest.approx(-60)  # about LPS z = Yt for HFS: the couch rolls back


# ----------------------------------------------------------------------------------------------
# Segments → LPS


def test_box_centroid_and_boundary_points(scene):
    segmentation = _box_segmentation(scene)
    np.testing.assert_allclose(mc.segment_centroid_lps(segmentation, "box"), [-5.5, -8.0, 9.0], atol=1e-12)
    points = mc.segment_points_lps(segmentation, "box")
    assert points.shape == (34, 3)
    # Extremes of the voxel centres, LPS: x = −RAS x ∈ [−7, −4], y ∈ [−10, −6], z ∈ [6, 12].
    np.testing.assert_allclose(points.min(axis=0), [-7, -10, 6])
    np.testing.assert_allclose(points.max(axis=0), [-4, -6, 12])
    # By segment ID as well as by name.
    segment_id = segmentation.GetSegmentation().GetSegmentIdBySegmentName("box")
    np.testing.assert_allclose(mc.segment_centroid_lps(segmentation, segment_id), [-5.5, -8.0, 9.0])


def test_sphere_surface_centroid_and_points(scene):
    # Closed-surface sphere, center RAS (10, 20, 30) → LPS (−10, −20, 30); radius 5 mm.
    segmentation = _sphere_segmentation(scene)
    np.testing.assert_allclose(mc.segment_centroid_lps(segmentation, "PTV"), [-10, -20, 30], atol=1e-5)
    points = mc.segment_points_lps(segmentation, "PTV")
    np.testing.assert_allclose(np.linalg.norm(points - [-10, -20, 30], axis=1), 5.0, atol=1e-5)
    np.testing.assert_allclose(points.min(axis=0), [-15, -25, 25], atol=1e-5)


def test_sphere_as_labelmap_after_conversion(scene):
    # The same sphere converted to a binary labelmap (as SlicerRT's RTSTRUCT import does for display):
    # the voxel centroid stays on the center within a voxel's fraction.
    mc.ensure_conversion_rules()  # done on import; a segmentation copies the rules when it is made
    segmentation = _sphere_segmentation(scene, radius=8.0)
    # 0.5 mm grid over RAS [1.5, 18.5] × [11.5, 28.5] × [21.5, 38.5], symmetric about the center (the
    # serialized geometry is the 4×4 image-to-world matrix, then the extent).
    geometry_text = "0.5;0;0;1.5;0;0.5;0;11.5;0;0;0.5;21.5;0;0;0;1;0;34;0;34;0;34;"
    segmentation.GetSegmentation().SetConversionParameter("Reference image geometry", geometry_text)
    assert segmentation.CreateBinaryLabelmapRepresentation()
    np.testing.assert_allclose(mc.segment_centroid_lps(segmentation, "PTV"), [-10, -20, 30], atol=0.01)


def test_surface_of_a_labelmap_segment_is_made_in_a_copy(scene):
    # A labelmap-only segment asked for its surface: converted in a temporary copy, never in the node.
    segmentation = _box_segmentation(scene)
    segment_id = segmentation.GetSegmentation().GetSegmentIdBySegmentName("box")
    assert not segmentation.GetSegmentation().ContainsRepresentation(mc.SURFACE)
    _, poly = mc._surface_points_ras(segmentation, segment_id, create=True)
    assert poly is not None and poly.GetNumberOfPoints() > 0
    assert not segmentation.GetSegmentation().ContainsRepresentation(mc.SURFACE)


def test_segment_refusals(scene):
    segmentation = _box_segmentation(scene)
    with pytest.raises(IGRTInputError, match="no segment 'PTV'"):
        mc.segment_centroid_lps(segmentation, "PTV")
    with pytest.raises(IGRTInputError, match="select the planning segmentation"):
        mc.segment_points_lps(None, "box")
    shifted = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    segmentation.SetAndObserveTransformNodeID(shifted.GetID())
    with pytest.raises(IGRTInputError, match="under a transform"):
        mc.segment_points_lps(segmentation, "box")


# ----------------------------------------------------------------------------------------------
# Verdicts and display profiles come from igrt.couch.tolerance


def test_verdict_and_profiles_through_the_table(scene):
    # 1.5 mm to the patient's left: within TG-142's 2 mm, beyond SRS/SBRT's 1 mm (hand-worked).
    node = _match_node(scene, geometry.rigid_matrix(translation=(1.5, 0, 0)))
    result = mc.result_from_transform_node(node)
    names = mc.tolerance_profile_names()
    assert mc.evaluate_shift(result, "HFS", tolerance_profile=names[0])["verdict"] == "within tolerance"
    shift = mc.evaluate_shift(result, "HFS", tolerance_profile="SRS/SBRT (1 mm, 0.5°)")
    assert shift["verdict"] == "apply shift"
    assert mc.shift_rows(shift, "Vendor-style names (couch moves)")[0] == ("Lat", -1.5, "mm", "couch moves")
    assert mc.shift_rows(shift, "Patient displacement")[0][1:] == (1.5, "mm", "patient is displaced")
