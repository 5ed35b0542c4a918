"""MRML adapters on real MRML (slicer-core wheel, no fake scene): frames, transform sense, references.

Every expected number is worked by hand in the comments (docs/CONVENTIONS.md: RAS = diag(-1,-1,1)·LPS).
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from conftest import move_patient  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import comparison, daily_match, tables, transforms, volumes  # noqa: E402
from igrt.registration.match import MatchOptions  # noqa: E402
from igrt.volume import Volume  # noqa: E402


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def _ras_of_index(node, ijk):
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return np.array(m.MultiplyPoint([*ijk, 1.0])[:3])


def _oblique_image():
    """Non-trivial geometry: i along LPS +y, j along LPS −x, k along LPS +z; anisotropic spacing."""
    a = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6) * 3.5 - 100  # (k, j, i)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing((0.8, 1.25, 2.5))
    img.SetOrigin((-12.5, 33.0, 101.0))
    img.SetDirection((0, -1, 0, 1, 0, 0, 0, 0, 1))  # row-major: columns are the i, j, k axes
    return img


def test_voxel_at_lps_10_20_30_is_at_ras_minus10_minus20_30(scene):
    img = sitk.Image(3, 3, 3, sitk.sitkFloat32)
    img.SetOrigin((10.0, 20.0, 30.0))  # voxel (0,0,0) at LPS (10, 20, 30)
    node = volumes.node_from_image(scene, img, "p")
    np.testing.assert_allclose(_ras_of_index(node, (0, 0, 0)), [-10, -20, 30])
    # Voxel (1, 2, 0) with unit spacing is at LPS (11, 22, 30) → RAS (−11, −22, 30).
    np.testing.assert_allclose(_ras_of_index(node, (1, 2, 0)), [-11, -22, 30])


def test_oblique_geometry_and_values_round_trip(scene):
    img = _oblique_image()
    node = volumes.node_from_image(scene, img, "oblique")
    # Voxel (2, 3, 1): LPS = origin + 2·0.8·(0,1,0) + 3·1.25·(−1,0,0) + 1·2.5·(0,0,1)
    #                = (−12.5 − 3.75, 33 + 1.6, 101 + 2.5) = (−16.25, 34.6, 103.5) → RAS (16.25, −34.6, 103.5)
    np.testing.assert_allclose(_ras_of_index(node, (2, 3, 1)), [16.25, -34.6, 103.5], atol=1e-9)
    np.testing.assert_allclose(img.TransformIndexToPhysicalPoint((2, 3, 1)), [-16.25, 34.6, 103.5])
    back = volumes.image_from_node(node)
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(back.GetSpacing(), img.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    # The value at voxel (i=2, j=3, k=1) is array[k, j, i] in both.
    assert back[2, 3, 1] == img[2, 3, 1] == pytest.approx((1 * 30 + 3 * 6 + 2) * 3.5 - 100)


def test_volume_identity_survives_the_scene(scene):
    vol = Volume(_oblique_image(), "x.nrrd", modality="CT", patient_id="P1", frame_of_reference_uid="1.2.3")
    node = volumes.node_from_volume(scene, vol, "ct")
    again = volumes.volume_from_node(node)
    assert (again.modality, again.patient_id, again.frame_of_reference_uid) == ("CT", "P1", "1.2.3")
    assert again.image.GetPixelID() == sitk.sitkFloat32


def _to_parent(node):
    m = vtk.vtkMatrix4x4()
    node.GetMatrixTransformToParent(m)
    return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])


def test_patient_moved_5mm_left_to_parent_brings_daily_onto_planning(scene):
    # The patient lies 5 mm further to their LEFT in the daily image: M = translate LPS (+5, 0, 0).
    # Same frame. Anatomy at planning LPS (10, 20, 30) is at daily LPS (15, 20, 30) = RAS (−15, −20, 30).
    # The node applied to the daily volume must carry RAS (−15, −20, 30) back to RAS (−10, −20, 30):
    # a translation of +5 mm along RAS x (towards the patient's right).
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    m = geometry.rigid_matrix(translation=(5, 0, 0))
    transforms.update_transform_node(node, m, planning, daily, (10, 20, 30), (10, 20, 30))
    t = _to_parent(node)
    np.testing.assert_allclose(t, [[1, 0, 0, 5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose((t @ [-15, -20, 30, 1])[:3], [-10, -20, 30])


def test_own_frame_isocenters_and_rotation(scene):
    # CBCT in its own frame: planning iso LPS (0, 0, 100) is the daily point (0, 0, 0).
    # M = Rz(90°) about the planning iso, then 5 mm left: the planned point iso + (1, 0, 0) rotates to
    # iso + (0, 1, 0) and moves to iso + (5, 1, 0) → daily LPS (5, 1, 0) = RAS (−5, −1, 0).
    # The to-parent must carry daily RAS (−5, −1, 0) to planning LPS (1, 0, 100) = RAS (−1, 0, 100).
    iso = np.array([0.0, 0.0, 100.0])
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 90), iso, (5, 0, 0))
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transforms.update_transform_node(node, m, planning_iso=iso, daily_iso=(0, 0, 0))
    np.testing.assert_allclose((_to_parent(node) @ [-5, -1, 0, 1])[:3], [-1, 0, 100], atol=1e-9)
    np.testing.assert_allclose(transforms.result_matrix_from_node(node), m, atol=1e-9)


def test_slicerrt_reg_references(scene):
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transforms.update_transform_node(node, np.eye(4), planning, daily)
    # Role names read by SlicerRT DicomSroImportExportPlugin.py via vtkMRMLTransformNode::Get*NodeReferenceRole.
    assert node.GetNodeReferenceID("spatialRegistrationMoving") == daily.GetID()
    assert node.GetNodeReferenceID("spatialRegistrationFixed") == planning.GetID()
    assert transforms.moving_role() == "spatialRegistrationMoving"


def test_node_to_matrix_round_trip_and_hand_edit(scene):
    rng = np.random.default_rng(3)
    p_iso, d_iso = np.array([12.0, -40.0, 85.0]), np.array([0.5, 1.0, -2.0])
    m = geometry.rigid_about_point(
        geometry.rotation_xyz_deg(*rng.uniform(-3, 3, 3)), p_iso, rng.uniform(-8, 8, 3)
    )
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transforms.update_transform_node(node, m, planning_iso=p_iso, daily_iso=d_iso)
    np.testing.assert_allclose(transforms.result_matrix_from_node(node), m, atol=1e-9)
    assert json.loads(node.GetAttribute(transforms.ATTR_PLANNING_ISO)) == pytest.approx(p_iso)

    # Hand edit, same frame, M = I: the user drags the daily image 2 mm towards the patient's RIGHT
    # (RAS +x) to line it up, so the daily anatomy was 2 mm to the LEFT: the result becomes LPS (+2, 0, 0).
    node2 = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transforms.update_transform_node(node2, np.eye(4), planning_iso=p_iso, daily_iso=p_iso)
    edited = vtk.vtkMatrix4x4()
    edited.SetElement(0, 3, 2.0)
    node2.SetMatrixTransformToParent(edited)
    np.testing.assert_allclose(
        transforms.result_matrix_from_node(node2), geometry.rigid_matrix(translation=(2, 0, 0))
    )


def test_non_rigid_edit_is_refused(scene):
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    scaled = vtk.vtkMatrix4x4()
    scaled.SetElement(0, 0, 1.1)
    node.SetMatrixTransformToParent(scaled)
    with pytest.raises(IGRTInputError):
        transforms.result_matrix_from_node(node)


def test_checkerboard_3d_alternates_and_keeps_planning_outside_daily():
    p = np.zeros((2, 2, 2))
    d = np.ones((2, 2, 2))
    d[1, 1, 1] = np.nan
    cb = comparison.checkerboard_3d(p, d, (1, 1, 1))
    # (k+j+i) even → planning (0), odd → daily (1); NaN daily → planning.
    assert cb[0, 0, 0] == 0 and cb[0, 0, 1] == 1 and cb[0, 1, 1] == 0 and cb[1, 1, 1] == 0


def test_daily_match_on_nodes_end_to_end(scene, block_phantom):
    # Patient 4 mm left and 3 mm posterior (LPS +4, +3, 0), same frame and grid.
    truth = geometry.rigid_matrix(translation=(4, 3, 0))
    planning_node = volumes.node_from_image(scene, block_phantom, "planning")
    daily_node = volumes.node_from_image(scene, move_patient(block_phantom, truth, noise=10), "daily")
    iso = np.array(
        block_phantom.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in block_phantom.GetSize()])
    )
    options = MatchOptions(
        method="bone", planning_isocenter_lps=iso, daily_isocenter_lps=iso, clip_box_mm=(180, 150, 140)
    )
    out = daily_match.run(scene, planning_node, daily_node, options)
    np.testing.assert_allclose(out.result.translation_mm, [4, 3, 0], atol=0.2)
    assert daily_node.GetTransformNodeID() == out.transform_node.GetID()
    # Applied to the daily volume, the to-parent undoes the shift: RAS translation (+4, +3, 0).
    np.testing.assert_allclose(_to_parent(out.transform_node)[:3, 3], [4, 3, 0], atol=0.2)
    rows = tables.result_rows(out.result.to_dict())
    assert rows[0][0].startswith("translation x") and rows[0][1] == pytest.approx(4, abs=0.2)
    assert rows[0][3] == "patient is displaced" and any(r[3] == "couch moves" for r in rows)
    assert out.table_node.GetTable().GetNumberOfRows() == len(rows)
    # After the match the difference is small inside the body; the checkerboard lives on the planning grid.
    diff = volumes.image_from_node(out.comparison_nodes["difference"])
    assert diff.GetSize() == block_phantom.GetSize()
    assert np.median(np.abs(sitk.GetArrayFromImage(diff))) < 30
    # Outside the application there are no slice views; with one added, fusion and checkerboard are set.
    assert comparison.show(scene, "fusion", planning_node, daily_node, out.comparison_nodes) == 0
    composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    comparison.show(scene, "fusion", planning_node, daily_node, out.comparison_nodes, opacity=0.4)
    assert composite.GetBackgroundVolumeID() == planning_node.GetID()
    assert composite.GetForegroundVolumeID() == daily_node.GetID()
    assert composite.GetForegroundOpacity() == pytest.approx(0.4)
    comparison.show(scene, "checkerboard", planning_node, daily_node, out.comparison_nodes)
    assert composite.GetBackgroundVolumeID() == out.comparison_nodes["checkerboard"].GetID()
    comparison.set_flicker_phase(scene, False)
    assert composite.GetForegroundOpacity() == 0.0

    # Hand adjustment of the transform re-derives the result (2 mm more to the right in RAS → +2 LPS x).
    t = _to_parent(out.transform_node)
    t[0, 3] += 2.0
    vm = vtk.vtkMatrix4x4()
    vm.DeepCopy(t.ravel().tolist())
    out.transform_node.SetMatrixTransformToParent(vm)
    again = daily_match.refresh_from_transform(scene, out, planning_node, daily_node)
    # New to-parent = shift·old, so M' = M·translate(2, 0, 0): the isocenter moves by R·(2, 0, 0) more.
    expected = out.result.translation_mm + out.result.matrix_lps[:3, :3] @ [2, 0, 0]
    np.testing.assert_allclose(again.result.translation_mm, expected, atol=1e-9)
    assert again.result.method.endswith("+manual") and again.transform_node is out.transform_node


def test_two_patients_are_refused_before_matching(scene):
    img = _oblique_image()
    planning = volumes.node_from_volume(scene, Volume(img, "p", patient_id="A"), "planning")
    daily = volumes.node_from_volume(scene, Volume(img, "d", patient_id="B"), "daily")
    with pytest.raises(IGRTInputError, match="patient ID mismatch"):
        daily_match.run(scene, planning, daily)
    # Identity given by the caller (e.g. from Slicer's DICOM database) overrides node attributes.
    with pytest.raises(IGRTInputError, match="'C'"):
        daily_match.run(scene, planning, daily, daily_identity={"patient_id": "C"})


def test_daily_isocenter_point_is_read_in_the_daily_acquired_frame(scene):
    # The daily volume already shows a result: its transform moves it RAS (+5, 0, 0). A point placed at
    # world RAS (0, 0, 0) on it lies at the volume's own RAS (−5, 0, 0) = LPS (5, 0, 0).
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    shift = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 5.0)
    shift.SetMatrixTransformToParent(m)
    daily.SetAndObserveTransformNodeID(shift.GetID())
    point = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "daily iso")
    point.AddControlPoint(0.0, 0.0, 0.0)
    np.testing.assert_allclose(daily_match.point_lps_from_markups(point, volume_node=daily), [5, 0, 0])
    np.testing.assert_allclose(daily_match.point_lps_from_markups(point), [0, 0, 0])
