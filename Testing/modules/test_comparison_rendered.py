"""What the user sees, rendered: MRML's slice logic blends the comparison layers of the Daily Match Logic.

Under slicer-core the Red/Yellow/Green slice logics are made on the scene (``igrt.mrml.slice_views``);
their blended image is what Slicer's slice views display. The planning image has a block of +600 HU
that the daily image does not have ("bright only in the planning image"); the patient is displaced
3 mm superior and the match transform is set to exactly that (the live path of the Logic), so the
daily image lies on the planning image and only the block differs.

Hand-worked colours. Both images at W 400 / L 40 HU: soft tissue (30 HU) is 0.475 of the ramp (121/255),
the block (630 HU) is clipped to 1.0. Fusion blends planning (black→magenta) under daily (black→green)
at opacity 0.5 (vtkImageBlend: out = 0.5·bg + 0.5·fg): tissue (60, 60, 60) grey, block (127, 60, 127)
magenta. Difference (daily − planning, W 1000 / L 0, blue–white–red): tissue 0 HU white, block −600 HU
clipped to −500: pure blue. The PNGs of every view and mode go to the test's tmp directory.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from conftest import import_module_file, make_block_phantom, move_patient  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import comparison, slice_views, volumes  # noqa: E402
from igrt.registration.compare import DEFAULT_CONTOURS, write_png  # noqa: E402

BLOCK_HU = 600.0
WINDOW, LEVEL = 400.0, 40.0
#: Index box (k, j, i) of the planning-only block: 21 × 21 × 17.5 mm of soft tissue away from the bones,
#: centred at continuous index (i, j, k) = (25, 11, 14).
BLOCK = np.s_[12:17, 8:15, 22:29]
BLOCK_CENTRE_INDEX = (25.0, 11.0, 14.0)
TOP = 255  # ≥ 240 HU in the W 400 / L 40 ramp (0..255); soft tissue (30 ± 5 HU noise) is about 121
DISPLACEMENT_LPS = (0.0, 0.0, 3.0)  # patient 3 mm superior


@pytest.fixture(scope="module")
def module():
    return import_module_file("IGRTDailyMatch")


@pytest.fixture(scope="module")
def views(module):
    scene = slicer.vtkMRMLScene()
    logics = slice_views.create_slice_views(scene, size=(160, 160))
    phantom = make_block_phantom(size=(64, 56, 40), spacing=(3.0, 3.0, 3.5))
    a = sitk.GetArrayFromImage(phantom)
    a[BLOCK] += BLOCK_HU
    planning_image = sitk.GetImageFromArray(a)
    planning_image.CopyInformation(phantom)
    planning = volumes.node_from_image(scene, planning_image, "planning")
    daily_image = move_patient(phantom, geometry.rigid_matrix(translation=DISPLACEMENT_LPS))
    daily = volumes.node_from_image(scene, daily_image, "daily")
    for node in (planning, daily):
        node.GetDisplayNode().AutoWindowLevelOff()
        node.GetDisplayNode().SetWindowLevel(WINDOW, LEVEL)
    iso = np.array(phantom.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in phantom.GetSize()]))
    logic = module.IGRTDailyMatchLogic()
    logic.process(planning, daily, method="bone", planningIsocenterLps=iso, dailyIsocenterLps=iso)
    # The transform set to the truth: to parent = translation F·(−d) = (0, 0, −3) RAS for d = (0, 0, 3) LPS.
    m = vtk.vtkMatrix4x4()
    m.SetElement(2, 3, -3.0)
    logic.outputs.transform_node.SetMatrixTransformToParent(m)
    np.testing.assert_allclose(logic.outputs.result.translation_mm, [0, 0, 3], atol=1e-9)
    block = np.array(planning_image.TransformContinuousIndexToPhysicalPoint(BLOCK_CENTRE_INDEX))
    slice_views.centre_on(logics, block, field_of_view_mm=200.0)
    return logic, logics, planning_image, block, daily_image


def _render(views, mode, tmp_path, name=None) -> dict:
    logic, logics = views[:2]
    assert logic.showComparison(mode, 0.5) == 3  # the three composite nodes of the views
    checkerboard = logic.outputs.comparison_nodes["checkerboard"].GetDisplayNode()
    checkerboard.AutoWindowLevelOff()
    checkerboard.SetWindowLevel(WINDOW, LEVEL)
    images = {view: slice_views.rendered_rgb(view_logic) for view, view_logic in logics.items()}
    for view, rgb in images.items():
        write_png(tmp_path / f"{name or mode}_{view}.png", rgb / 255.0)
    return images


def _daily_grey(views, point_lps) -> int:
    """Grey level of the daily image where it shows the planning point (anatomy at q + d), W 400 / L 40."""
    daily = views[4]
    hu = daily.EvaluateAtPhysicalPoint(tuple(np.asarray(point_lps) + DISPLACEMENT_LPS), sitk.sitkLinear)
    return int(np.clip((hu - (LEVEL - WINDOW / 2)) / WINDOW, 0.0, 1.0) * 255)


def _at(views, images, view, point_lps):
    row, col = slice_views.pixel_of(views[1][view], point_lps)
    return tuple(int(v) for v in images[view][row, col])


def test_fusion_planning_only_block_is_magenta_the_rest_grey(views, tmp_path):
    images = _render(views, "fusion", tmp_path)
    block = views[3]
    for view in slice_views.VIEWS:
        assert _at(views, images, view, block) == pytest.approx((127, 60, 127), abs=3), view
    beside = block + np.array([30.0, 0.0, 0.0])  # 30 mm to the patient's left: soft tissue in both
    assert _at(views, images, "Red", beside) == pytest.approx((60, 60, 60), abs=3)


def test_checkerboard_squares_alternate_sources(views, tmp_path):
    logic, logics, planning, block, _ = views
    images = _render(views, "checkerboard", tmp_path)
    # Square parity from comparison.checkerboard_3d: even squares show the planning image (block bright),
    # odd squares the daily image (tissue), on the planning voxel grid.
    square = [max(1, int(comparison.CHECKER_SQUARE_MM / s)) for s in planning.GetSpacing()]  # i, j, k
    seen = {True: 0, False: 0}
    lo = np.array(BLOCK_CENTRE_INDEX) - (3, 3, 2)
    hi = np.array(BLOCK_CENTRE_INDEX) + (3, 3, 2)
    for view, rgb in images.items():
        for row in range(0, rgb.shape[0], 2):
            for col in range(0, rgb.shape[1], 2):
                index = np.array(
                    planning.TransformPhysicalPointToContinuousIndex(
                        slice_views.point_of(logics[view], row, col)
                    )
                )
                if np.any(index < lo) or np.any(index > hi):
                    continue  # outside the block's interior
                voxel = np.floor(index + 0.5)
                if np.any(np.abs(index - np.round(index / square) * square) < 0.75):
                    continue  # next to a square border: linear interpolation mixes the two sources
                planning_square = int(sum((voxel // square).astype(int))) % 2 == 0
                grey = int(rgb[row, col, 0])
                if planning_square:
                    assert grey == TOP, (view, row, col)  # the block: planning
                else:
                    assert 95 <= grey <= 150, (view, row, col, grey)  # tissue: the daily image
                seen[planning_square] += 1
    assert seen[True] > 20 and seen[False] > 20, seen  # both sources were sampled inside the block


def test_difference_block_blue_tissue_white(views, tmp_path):
    images = _render(views, "difference", tmp_path)
    block = views[3]
    assert _at(views, images, "Red", block) == pytest.approx((0, 0, 255), abs=3)
    assert _at(views, images, "Red", block + np.array([30.0, 0.0, 0.0])) == pytest.approx(
        (255, 255, 255), abs=6
    )


def test_flicker_shows_one_image_at_a_time(views, tmp_path):
    logic, logics, _, block, _ = views
    images = _render(views, "flicker", tmp_path, "flicker_daily")
    assert _at(views, images, "Red", block) == pytest.approx((_daily_grey(views, block),) * 3, abs=2)  # daily
    comparison.set_flicker_phase(logic.outputs.transform_node.GetScene(), False)
    planning_phase = {view: slice_views.rendered_rgb(view_logic) for view, view_logic in logics.items()}
    write_png(tmp_path / "flicker_planning_Red.png", planning_phase["Red"] / 255.0)
    assert _at(views, planning_phase, "Red", block) == (TOP,) * 3  # the planning image alone


def test_contours_outline_the_planning_body_and_bone_on_the_daily_image(views, tmp_path):
    logic, logics, planning, block, _ = views
    images = _render(views, "contours", tmp_path)
    colours = {name: tuple(round(255 * c) for c in rgb) for name, (_, rgb) in DEFAULT_CONTOURS.items()}
    rgb = images["Red"]
    for name, colour in colours.items():
        assert np.all(rgb == colour, axis=-1).sum() > 20, name
    # The daily image under the outline: the block is not in it (tissue grey at the block's centre).
    assert _at(views, images, "Red", block) == pytest.approx((_daily_grey(views, block),) * 3, abs=2)
    # Along the row through the block, the first body outline pixel from the right edge of the picture
    # (the patient's left) is where the planning image crosses the body threshold.
    row, _ = slice_views.pixel_of(logics["Red"], block)
    body = np.all(rgb[row, :] == colours["body"], axis=-1)
    outline_col = int(np.nonzero(body)[0].max())
    size = np.array(planning.GetSize()) - 1
    hu = []
    for c in range(rgb.shape[1]):
        point = tuple(slice_views.point_of(logics["Red"], row, c))
        index = np.array(planning.TransformPhysicalPointToContinuousIndex(point))
        inside = np.all(index >= 0) and np.all(index <= size)
        hu.append(planning.EvaluateAtPhysicalPoint(point, sitk.sitkLinear) if inside else -1000.0)
    edge_col = int(np.nonzero(np.asarray(hu) >= DEFAULT_CONTOURS["body"][0])[0].max())
    assert abs(outline_col - edge_col) <= 1
    # Another mode takes the contours away again.
    images = _render(views, "fusion", tmp_path, "fusion_after_contours")
    assert not np.any(np.all(images["Red"] == colours["body"], axis=-1))


def _block_segmentation(planning_image, scene):
    """A "Target" segment (pure blue): the planning-only block's voxels, imported as SlicerRT's RTSTRUCT
    import leaves structures (a labelmap segment on the planning grid); and the LPS x of its two faces."""
    a = np.zeros(planning_image.GetSize()[::-1], np.uint8)
    a[BLOCK] = 1
    mask = sitk.GetImageFromArray(a)
    mask.CopyInformation(planning_image)
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    volumes.update_node_from_image(labels, mask)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "plan structures")
    assert slicer.vtkSlicerSegmentationsModuleLogic().ImportLabelmapToSegmentationNode(labels, node)
    scene.RemoveNode(labels)
    segment = node.GetSegmentation().GetNthSegment(0)
    segment.SetName("Target")
    segment.SetColor(0.0, 0.0, 1.0)
    faces = [BLOCK[2].start - 0.5, BLOCK[2].stop - 0.5]  # continuous i of the box's x faces
    xs = [planning_image.TransformContinuousIndexToPhysicalPoint((f, 0.0, 0.0))[0] for f in faces]
    return node, xs


def test_contours_outline_the_planning_structures_when_given(module, views, tmp_path):
    """With planning structures the contours mode outlines them (not the HU body/bone) on the daily image:
    the block's box, drawn where the plan has it, over daily anatomy that has no block."""
    logic, logics, planning, block, _ = views
    scene = logic.outputs.transform_node.GetScene()
    planning_node, daily_node = logic._inputs
    segmentation, face_x = _block_segmentation(planning, scene)
    iso = np.array(
        planning.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in planning.GetSize()])
    )
    try:
        logic.process(
            planning_node,
            daily_node,
            method="bone",
            planningIsocenterLps=iso,
            dailyIsocenterLps=iso,
            planningStructures=segmentation,
        )
        m = vtk.vtkMatrix4x4()
        m.SetElement(2, 3, -3.0)
        logic.outputs.transform_node.SetMatrixTransformToParent(m)  # the truth, as in the fixture
        contours = logic.outputs.comparison_nodes["contours"]
        assert contours.GetName() == "IGRT planning structures (plan structures)"
        images = _render(views, "contours", tmp_path, "structure_contours")
        rgb = images["Red"]
        blue = np.all(rgb == (0, 0, 255), axis=-1)
        assert blue.sum() > 20
        for _, colour in DEFAULT_CONTOURS.values():  # no HU outline drawn
            assert not np.any(np.all(rgb == tuple(round(255 * c) for c in colour), axis=-1))
        # On the row through the block the outline spans the block's faces (x of the box), within a voxel.
        row, _ = slice_views.pixel_of(logics["Red"], block)
        cols = np.nonzero(blue[row])[0]
        face_cols = sorted(slice_views.pixel_of(logics["Red"], (x, block[1], block[2]))[1] for x in face_x)
        pixel_mm = 200.0 / 160
        assert (
            abs(cols.min() - face_cols[0]) * pixel_mm <= 3.0
            and abs(cols.max() - face_cols[1]) * pixel_mm <= 3.0
        )
        # inside the outline: the daily image, without the block
        assert _at(views, images, "Red", block) == pytest.approx((_daily_grey(views, block),) * 3, abs=2)
    finally:
        scene.RemoveNode(segmentation)
        logic.process(
            planning_node, daily_node, method="bone", planningIsocenterLps=iso, dailyIsocenterLps=iso
        )
        m = vtk.vtkMatrix4x4()
        m.SetElement(2, 3, -3.0)
        logic.outputs.transform_node.SetMatrixTransformToParent(m)


def test_screenshot_of_the_modes(views, tmp_path):
    """The README's picture: the axial view through the isocenter in four modes (2 × 2), 240 px each.

    Written to the test's tmp directory; with IGRT_SCREENSHOTS=DIR also copied there (the README's copy
    is made with IGRT_SCREENSHOTS=Resources/Screenshots).
    """
    logic, logics, planning, block, _ = views
    red = logics["Red"].GetSliceNode()
    red.SetDimensions(240, 240, 1)
    iso = logic.outputs.result.planning_isocenter_lps
    slice_views.centre_on({"Red": logics["Red"]}, iso + np.array([0.0, 0.0, block[2] - iso[2]]), 210.0)
    try:
        panels = []
        for mode in ("fusion", "checkerboard", "difference", "contours"):
            assert logic.showComparison(mode, 0.5) == 3
            panels.append(slice_views.rendered_rgb(logics["Red"]))
    finally:
        red.SetDimensions(160, 160, 1)
        slice_views.centre_on({"Red": logics["Red"]}, block, 200.0)
    picture = np.concatenate([np.concatenate(panels[:2], axis=1), np.concatenate(panels[2:], axis=1)], axis=0)
    assert picture.shape == (480, 480, 3) and picture.max() == 255
    path = tmp_path / "comparison-modes.png"
    write_png(path, picture / 255.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("IGRT_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["IGRT_SCREENSHOTS"]) / path.name)


def test_planning_structures_of_another_frame_are_refused_before_the_match(module, views):
    """The workflow's structures rule (as `igrt match --structures`): another frame of reference → one line."""
    from igrt.mrml.volumes import IDENTITY_ATTRIBUTES

    logic, _, planning, _, _ = views
    scene = logic.outputs.transform_node.GetScene()
    planning_node, daily_node = logic._inputs
    segmentation, _ = _block_segmentation(planning, scene)
    attribute = IDENTITY_ATTRIBUTES["frame_of_reference_uid"]
    segmentation.SetAttribute(attribute, "1.2.826.0.1.3680043.8.498.2")
    planning_node.SetAttribute(attribute, "1.2.826.0.1.3680043.8.498.1")
    transforms_before = scene.GetNodesByClass("vtkMRMLLinearTransformNode").GetNumberOfItems()
    try:
        with pytest.raises(IGRTInputError, match="frame of reference .* do not belong together") as refused:
            module.IGRTDailyMatchLogic().process(
                planning_node, daily_node, method="bone", planningStructures=segmentation
            )
        assert "\n" not in str(refused.value)
        assert scene.GetNodesByClass("vtkMRMLLinearTransformNode").GetNumberOfItems() == transforms_before
    finally:
        planning_node.RemoveAttribute(attribute)
        scene.RemoveNode(segmentation)
