"""Slice views without the application: MRML's slice logics and the blended image they display.

``vtkMRMLSliceLogic`` is what a Slicer slice view draws: it reslices the background, foreground and
label layers named by its ``vtkMRMLSliceCompositeNode`` (through each volume's parent transform and
display node: window/level, colour table, label outline) and blends them (``vtkImageBlend``, the
composite node's opacities). Its output (``GetImageDataConnection``) is the RGBA picture of the view.

The application's layout creates the Red, Yellow and Green slice logics; under the ``slicer-core``
wheel there is none, so :func:`create_slice_views` makes them on a scene (with the default colour
tables of ``vtkMRMLColorLogic`` and the orientation presets that the application would add).
"""

from __future__ import annotations

import numpy as np
import slicer
from vtk.util import numpy_support

from igrt import geometry

#: The three views of Slicer's conventional layout and their orientation presets.
VIEWS = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}


def create_slice_views(scene, size=(200, 200)) -> dict:
    """Red/Yellow/Green slice logics on ``scene`` (name → ``vtkMRMLSliceLogic``), ``size`` pixels each."""
    if scene.GetNodeByID("vtkMRMLColorTableNodeGrey") is None:
        colours = slicer.vtkMRMLColorLogic()  # adds the default colour tables (grey, labels, ...)
        colours.SetMRMLScene(scene)
        colours.SetMRMLScene(None)
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    logics = {}
    for name, orientation in VIEWS.items():
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLScene(scene)
        node = logic.AddSliceNode(name)
        node.SetOrientation(orientation)
        node.SetDimensions(int(size[0]), int(size[1]), 1)
        logics[name] = logic
    return logics


def centre_on(logics: dict, point_lps, field_of_view_mm: float) -> None:
    """Every view through ``point_lps`` (LPS, mm), ``field_of_view_mm`` wide (square pixels)."""
    ras = geometry.lps_to_ras_point(point_lps)
    for logic in logics.values():
        node = logic.GetSliceNode()
        width, height, _ = node.GetDimensions()
        node.SetFieldOfView(field_of_view_mm, field_of_view_mm * height / width, node.GetFieldOfView()[2])
        node.JumpSliceByCentering(*ras)
        node.UpdateMatrices()


def rendered_rgba(logic) -> np.ndarray:
    """The view's blended picture: (rows, columns, 4) uint8, row 0 at the top of the view."""
    producer = logic.GetImageDataConnection().GetProducer()
    producer.Update()
    image = producer.GetOutputDataObject(0)
    columns, rows, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(rows, columns, -1)
    return np.ascontiguousarray(pixels[::-1])  # VTK rows run bottom-up


def rendered_rgb(logic) -> np.ndarray:
    """The view as it is shown: :func:`rendered_rgba` over the view's black background, (rows, columns, 3) uint8.

    Outside every volume the blend is transparent (alpha 0), so it shows black.
    """
    rgba = rendered_rgba(logic).astype(np.uint16)
    return (rgba[..., :3] * rgba[..., 3:] // 255).astype(np.uint8)


def pixel_of(logic, point_lps) -> tuple[int, int]:
    """(row, column) of :func:`rendered_rgba` / :func:`rendered_rgb` where ``point_lps`` (LPS, mm, on the slice) is drawn."""
    xy_to_ras = np.array(
        [[logic.GetSliceNode().GetXYToRAS().GetElement(i, j) for j in range(4)] for i in range(4)]
    )
    x, y, _, _ = np.linalg.inv(xy_to_ras) @ np.append(geometry.lps_to_ras_point(point_lps), 1.0)
    rows = logic.GetSliceNode().GetDimensions()[1]
    return int(round(rows - 1 - y)), int(round(x))


def point_of(logic, row: int, column: int) -> np.ndarray:
    """LPS (mm) of a pixel of :func:`rendered_rgba` (the inverse of :func:`pixel_of`)."""
    rows = logic.GetSliceNode().GetDimensions()[1]
    xy_to_ras = np.array(
        [[logic.GetSliceNode().GetXYToRAS().GetElement(i, j) for j in range(4)] for i in range(4)]
    )
    ras = xy_to_ras @ np.array([column, rows - 1 - row, 0.0, 1.0])
    return geometry.ras_to_lps_point(ras[:3])
