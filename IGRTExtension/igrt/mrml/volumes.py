"""SimpleITK image (LPS) ↔ vtkMRMLScalarVolumeNode (RAS).

A volume node stores its voxels in a ``vtkImageData`` with unit spacing and zero origin, and the voxel
geometry in its IJKToRAS matrix. A SimpleITK image stores origin, spacing and direction in DICOM LPS
(PS3.3 C.7.6.2.1.1). The only frame change is ``IJKToRAS = LPS_TO_RAS · IJKToLPS``: done in
:func:`ijk_to_ras_from_image` and undone in :func:`image_geometry_from_ijk_to_ras`, nowhere else.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support

from igrt import geometry
from igrt.image_grid import index_to_lps_matrix
from igrt.volume import Volume

#: Node attributes that carry a Volume's DICOM identity through the scene (our own names).
IDENTITY_ATTRIBUTES = {
    "modality": "IGRT.Modality",
    "patient_id": "IGRT.PatientID",
    "study_uid": "IGRT.StudyInstanceUID",
    "series_uid": "IGRT.SeriesInstanceUID",
    "frame_of_reference_uid": "IGRT.FrameOfReferenceUID",
    "patient_position": "IGRT.PatientPosition",
}


def ijk_to_lps_from_image(image: sitk.Image) -> np.ndarray:
    """4×4 voxel-index → LPS matrix of an image: direction · diag(spacing), then origin."""
    return index_to_lps_matrix(image)


def ijk_to_ras_from_image(image: sitk.Image) -> np.ndarray:
    """4×4 IJKToRAS of an LPS image: the LPS→RAS flip applied once, on the patient side only."""
    return geometry.LPS_TO_RAS @ ijk_to_lps_from_image(image)


def image_geometry_from_ijk_to_ras(ijk_to_ras) -> tuple[tuple, tuple, tuple]:
    """(origin, spacing, direction) in LPS from a node's IJKToRAS: the inverse of the flip above."""
    ijk_to_lps = geometry.LPS_TO_RAS @ np.asarray(ijk_to_ras, float)  # the flip is its own inverse
    axes = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    direction = axes / spacing
    return (
        tuple(float(v) for v in ijk_to_lps[:3, 3]),
        tuple(float(v) for v in spacing),
        tuple(float(v) for v in direction.ravel()),
    )


def _vtk_matrix(m) -> vtk.vtkMatrix4x4:
    out = vtk.vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            out.SetElement(i, j, float(m[i][j]))
    return out


def _numpy_matrix(vm: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[vm.GetElement(i, j) for j in range(4)] for i in range(4)])


def update_node_from_image(node, image: sitk.Image) -> None:
    """Fill ``node`` with the voxels and geometry of ``image`` (scalar images only)."""
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() != 3:
        raise ValueError("only 3-D scalar images can be shown as scalar volume nodes")
    array = sitk.GetArrayFromImage(image)  # (k, j, i): i varies fastest, as in vtkImageData
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(*image.GetSize())
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True)
    image_data.GetPointData().SetScalars(scalars)
    node.SetIJKToRASMatrix(_vtk_matrix(ijk_to_ras_from_image(image)))
    node.SetAndObserveImageData(image_data)


def image_from_node(node) -> sitk.Image:
    """The node's voxels as an LPS SimpleITK image.

    Uses the node's own geometry and ignores any parent transform: a daily volume that already shows
    a registration result must still be matched from where it was acquired.
    """
    image_data = node.GetImageData() if node is not None else None
    if image_data is None:
        raise ValueError(f"volume node {node.GetName() if node else None!r} has no image data")
    dims = image_data.GetDimensions()
    scalars = image_data.GetPointData().GetScalars()
    if scalars.GetNumberOfComponents() != 1:
        raise ValueError(f"volume node {node.GetName()!r} is not a scalar volume")
    array = numpy_support.vtk_to_numpy(scalars).reshape(dims[2], dims[1], dims[0])
    image = sitk.GetImageFromArray(array.copy())
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    origin, spacing, direction = image_geometry_from_ijk_to_ras(_numpy_matrix(ijk_to_ras))
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    return image


def node_from_image(scene, image: sitk.Image, name: str, node=None):
    """Create (or update) a scalar volume node holding ``image``, with a default display node."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    update_node_from_image(node, image)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def node_from_volume(scene, volume: Volume, name: str, node=None):
    """A volume node for a core ``Volume``; its DICOM identity goes into node attributes."""
    node = node_from_image(scene, volume.image, name, node)
    for field_name, attribute in IDENTITY_ATTRIBUTES.items():
        value = getattr(volume, field_name)
        if value is not None:
            node.SetAttribute(attribute, str(value))
    return node


def volume_from_node(node, **identity) -> Volume:
    """A core ``Volume`` (float32, LPS) from a node; identity from keywords, else node attributes."""
    if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
        raise ValueError("a scalar volume node is required")
    image = sitk.Cast(image_from_node(node), sitk.sitkFloat32)
    fields = {name: node.GetAttribute(attribute) for name, attribute in IDENTITY_ATTRIBUTES.items()}
    fields.update({k: v for k, v in identity.items() if v is not None})
    return Volume(image=image, path=f"mrml:{node.GetID()}", **fields)
