"""Slicer segmentation files ``.seg.vtm`` (VTK multiblock, one polydata per segment) as structures.

Each block's field data names the segment (``Segment_Name``), its colour (``Segment_DefaultColor``, 0–1)
and the representation (``Segmentation_MasterRepresentation``). Points are in Slicer's RAS world
(LPS = diag(−1, −1, 1)·RAS, :func:`igrt.geometry.ras_to_lps_point`).

- "Planar contour" (SlicerRT's RTSTRUCT import): closed lines on axial planes → contour structures,
  checked and sampled exactly as an RTSTRUCT's (:mod:`igrt.io.rtstruct_contours`).
- "Closed surface": a closed triangle mesh → a binary mask at ``SURFACE_VOXEL_MM`` (VTK's
  vtkPolyDataToImageStencil, voxel centres inside the surface).
VTK is needed (it comes with Slicer and the slicer-core wheel), hence this module lives with the adapters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
import vtk
from vtk.util import numpy_support

from igrt import geometry
from igrt.dose.model import Structure, StructureSet
from igrt.errors import IGRTInputError
from igrt.io.rtstruct_contours import checked_contour, contour_slab_mm, plane_gap_warnings
from igrt.mrml.volumes import image_geometry_from_ijk_to_ras

SURFACE_VOXEL_MM = 1.0


def _field(block, name: str):
    array = block.GetFieldData().GetAbstractArray(name)
    return None if array is None or array.GetNumberOfTuples() == 0 else array


def _contours_of(block, where: str) -> list[np.ndarray]:
    """Closed lines of a planar-contour block as LPS (N, 3) contours (the repeated closing point dropped)."""
    points = geometry.ras_to_lps_point(numpy_support.vtk_to_numpy(block.GetPoints().GetData()).astype(float))
    lines = block.GetLines()
    conn = numpy_support.vtk_to_numpy(lines.GetConnectivityArray())
    offsets = numpy_support.vtk_to_numpy(lines.GetOffsetsArray())
    out = []
    for k in range(len(offsets) - 1):
        pts = points[conn[offsets[k] : offsets[k + 1]]]
        if len(pts) > 1 and np.allclose(pts[0], pts[-1]):
            pts = pts[:-1]
        out.append(checked_contour(pts, f"{where} contour {k + 1}"))
    return out


def _surface_mask(block, where: str) -> sitk.Image:
    """Voxel centres inside a closed surface, on an axis-aligned RAS grid around it (LPS image)."""
    b = np.asarray(block.GetBounds(), float).reshape(3, 2)
    h = SURFACE_VOXEL_MM
    origin = b[:, 0] - h
    dims = (np.ceil((b[:, 1] - b[:, 0]) / h).astype(int) + 3).tolist()
    stencil = vtk.vtkPolyDataToImageStencil()
    stencil.SetInputData(block)
    stencil.SetOutputOrigin(*origin)
    stencil.SetOutputSpacing(h, h, h)
    stencil.SetOutputWholeExtent(0, dims[0] - 1, 0, dims[1] - 1, 0, dims[2] - 1)
    to_image = vtk.vtkImageStencilToImage()
    to_image.SetInputConnection(stencil.GetOutputPort())
    to_image.SetInsideValue(1)
    to_image.SetOutsideValue(0)
    to_image.SetOutputScalarTypeToUnsignedChar()
    to_image.Update()
    a = numpy_support.vtk_to_numpy(to_image.GetOutput().GetPointData().GetScalars()).reshape(dims[::-1])
    if not a.any():
        raise IGRTInputError(f"{where}: the closed surface encloses no voxel centre at {h} mm")
    mask = sitk.GetImageFromArray(a.astype(np.uint8))
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :3] = np.diag([h, h, h])
    ijk_to_ras[:3, 3] = origin
    o, s, d = image_geometry_from_ijk_to_ras(ijk_to_ras)
    mask.SetOrigin(o)
    mask.SetSpacing(s)
    mask.SetDirection(d)
    return mask


def read_seg_vtm(path) -> StructureSet:
    """The segments of a ``.seg.vtm`` with names and colours: planar contours or closed surfaces."""
    p = Path(path)
    if not p.is_file():
        raise IGRTInputError(f"structures {p} does not exist or is not a file")
    reader = vtk.vtkXMLMultiBlockDataReader()
    reader.SetFileName(str(p))
    reader.Update()
    blocks = reader.GetOutput()
    if blocks is None or blocks.GetNumberOfBlocks() == 0:
        raise IGRTInputError(f"{p}: no segment (not a readable .seg.vtm)")
    structures, empty, warnings = [], [], []
    for i in range(blocks.GetNumberOfBlocks()):
        block = blocks.GetBlock(i)
        name_array = _field(block, "Segment_Name") if block is not None else None
        name = name_array.GetValue(0) if name_array is not None else f"segment {i}"
        if block is None or block.GetNumberOfPoints() == 0:
            empty.append(name)
            continue
        where = f"{p}: segment {name!r}"
        rep = _field(block, "Segmentation_MasterRepresentation")
        color = _field(block, "Segment_DefaultColor")
        rgb = tuple(int(round(255 * c)) for c in color.GetTuple3(0)) if color is not None else None
        if block.GetNumberOfLines() > 0 and block.GetNumberOfPolys() == 0:
            s = Structure(name, contours=_contours_of(block, where), color=rgb, number=i, source=str(p))
        elif block.GetNumberOfPolys() > 0:
            s = Structure(name, mask=_surface_mask(block, where), color=rgb, number=i, source=str(p))
        else:
            kind = rep.GetValue(0) if rep is not None else "unknown"
            raise IGRTInputError(f"{where} holds neither closed lines nor a surface ({kind})")
        structures.append(s)
    contoured = [s for s in structures if s.contours is not None]
    if contoured:
        slab = contour_slab_mm(contoured, p)
        for s in contoured:
            s.slab_mm = slab
            warnings += plane_gap_warnings(s, slab)
    if not structures:
        raise IGRTInputError(f"{p}: every segment is empty")
    if empty:
        warnings.append(f"segments without points (empty, left out): {', '.join(empty)}")
    warnings.append(f"{p.name}: a .seg.vtm carries no frame of reference: not checked against the dose")
    return StructureSet(structures=structures, path=str(p), empty=empty, warnings=warnings)
