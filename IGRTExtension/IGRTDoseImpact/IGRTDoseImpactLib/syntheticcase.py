"""The hand-worked case of the module's self-test (and its slicer-core test), as MRML nodes.

Dose 10 Gy + 0.1 Gy/mm · x (LPS x, the patient's left) on a 1 mm grid, voxel centres −30.5 … 29.5 mm;
a 20 mm cube segment centred on the isocenter (0, 0, 0); an IGRT match transform: the patient displaced
5 mm to the left and turned 2° about z at the isocenter. No correction: the cube's centroid moved 5 mm
in x, its mean +0.5 Gy; 3-DOF: the 2° turn about the centroid stays (mean unchanged, the cube reaches
further in x); 6-DOF: the plan.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import slicer

from igrt import geometry
from igrt.mrml import transforms, volumes

SLOPE_GY_PER_MM = 0.1
SHIFT_MM = (5.0, 0.0, 0.0)
TURN_DEG = 2.0


def linear_dose_cube_case(scene):
    """(dose volume node, segmentation node, match transform node) of the case above, in ``scene``."""
    z, y, x = np.meshgrid(*(np.arange(61.0) - 30.5 for _ in range(3)), indexing="ij")
    dose = sitk.GetImageFromArray((10.0 + SLOPE_GY_PER_MM * x).astype(np.float32))
    dose.SetOrigin((-30.5, -30.5, -30.5))
    dose_node = volumes.node_from_image(scene, dose, "Dose")
    cube = sitk.GetImageFromArray(((np.abs(x) < 10) & (np.abs(y) < 10) & (np.abs(z) < 10)).astype(np.uint8))
    cube.CopyInformation(dose)
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    volumes.update_node_from_image(labels, cube)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Structures")
    slicer.vtkSlicerSegmentationsModuleLogic().ImportLabelmapToSegmentationNode(labels, segmentation)
    scene.RemoveNode(labels)
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    planning.SetAttribute("IGRT.PatientPosition", "HFS")
    match = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "IGRT match")
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, TURN_DEG), (0, 0, 0), SHIFT_MM)
    transforms.update_transform_node(match, m, planning, daily, (0, 0, 0), (0, 0, 0))
    return dose_node, segmentation, match
