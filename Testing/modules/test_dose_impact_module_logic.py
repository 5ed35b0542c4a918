"""IGRTDoseImpactLogic imported from the module file and run on real MRML (slicer-core, no Qt).

Dose 10 Gy + 0.1 Gy/mm · x (LPS x, patient's left) on a 1 mm grid; a 20 mm cube segment centred on the
isocenter (0, 0, 0); the match: patient displaced 5 mm to the left and turned 2° about z at the isocenter.
Hand-worked: no correction → the cube's centroid moved 5 mm in x, mean +0.5 Gy; 3-DOF → the 2° turn about
the centroid stays, the mean is unchanged but the cube reaches further in x (max up, min down); 6-DOF → the plan.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import transforms, volumes  # noqa: E402

MODULE_DIR = Path(__file__).resolve().parents[2] / "IGRTExtension" / "IGRTDoseImpact"


@pytest.fixture(scope="module")
def module():
    sys.path.insert(0, str(MODULE_DIR))
    try:
        import IGRTDoseImpact

        yield IGRTDoseImpact
    finally:
        sys.path.remove(str(MODULE_DIR))


@pytest.fixture
def case():
    scene = slicer.vtkMRMLScene()
    z, y, x = np.meshgrid(*(np.arange(61.0) - 30.5 for _ in range(3)), indexing="ij")
    dose = sitk.GetImageFromArray((10.0 + 0.1 * x).astype(np.float32))
    dose.SetOrigin((-30.5, -30.5, -30.5))
    dose_node = volumes.node_from_image(scene, dose, "Dose")
    cube = sitk.GetImageFromArray(((np.abs(x) < 10) & (np.abs(y) < 10) & (np.abs(z) < 10)).astype(np.uint8))
    cube.CopyInformation(dose)
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    volumes.update_node_from_image(labels, cube)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic().ImportLabelmapToSegmentationNode(labels, segmentation)
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    planning.SetAttribute("IGRT.PatientPosition", "HFS")
    match = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "IGRT match")
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 2.0), (0, 0, 0), (5.0, 0.0, 0.0))
    transforms.update_transform_node(match, m, planning, daily, (0, 0, 0), (0, 0, 0))
    return scene, dose_node, segmentation, match


def test_no_correction_3dof_and_6dof(module, case):
    scene, dose_node, segmentation, match = case
    logic = module.IGRTDoseImpactLogic()
    out = logic.process(dose_node, segmentation, match, "none")
    (row,) = out["document"]["structures"]
    assert row["volume_cc"] == pytest.approx(8.0)
    assert row["delta"]["mean_gy"] == pytest.approx(0.5, abs=1e-4)
    assert "patient is displaced" in out["document"]["placements"][0]["sense"]
    three = logic.process(dose_node, segmentation, match, "3dof")["document"]["structures"][0]["delta"]
    assert three["mean_gy"] == pytest.approx(0.0, abs=1e-4)
    # the turned cube reaches further in x: its outermost samples (x = ±9.875 mm, |y| ≤ 9.875 mm) go to
    # ±9.875·(cos 2° + sin 2°), so the max rises and the min falls by 0.1 Gy/mm × 0.339 mm
    reach = 0.1 * 9.875 * (np.cos(np.radians(2)) + np.sin(np.radians(2)) - 1)
    assert three["max_gy"] == pytest.approx(reach, abs=2e-3) and three["min_gy"] == pytest.approx(
        -reach, abs=2e-3
    )
    six = logic.process(dose_node, segmentation, match, "6dof")
    assert max(abs(v) for v in six["document"]["structures"][0]["delta"].values() if v is not None) < 1e-5
    assert six["chart"].GetNumberOfPlotSeriesNodes() == 2
    assert six["metrics"] is out["metrics"] or six["metrics"].GetTable().GetNumberOfRows() == 3
    assert "Correction: couch 6dof" in module.IGRTDoseImpactLogic.summary(six["document"])


def test_bad_input_is_refused(module, case):
    scene, dose_node, segmentation, match = case
    logic = module.IGRTDoseImpactLogic()
    with pytest.raises(IGRTInputError, match="select the dose volume"):
        logic.process(None, segmentation, match)
    with pytest.raises(IGRTInputError, match="select the IGRT match transform"):
        logic.process(dose_node, segmentation, None)
    with pytest.raises(IGRTInputError, match="correction 'twist'"):
        logic.process(dose_node, segmentation, match, "twist")
