"""Read the structures of a DVH or dose-impact run: an RTSTRUCT, a Slicer ``.seg.nrrd`` or a label map
(a ``.seg.vtm`` needs VTK: :func:`igrt.mrml.seg_vtm.read_seg_vtm`)."""

from __future__ import annotations

from pathlib import Path

from igrt.dose.model import StructureSet
from igrt.errors import IGRTInputError
from igrt.io.volumes import VOLUME_SUFFIXES


def read_structures(path) -> StructureSet:
    """The structures in ``path``, chosen by what the file is (DICOM RTSTRUCT, .seg.nrrd, label map)."""
    p = Path(path)
    if not p.is_file():
        raise IGRTInputError(f"structures {p} does not exist or is not a file")
    name = p.name.lower()
    if name.endswith(".seg.nrrd"):
        from igrt.io.segmentation import read_seg_nrrd

        return read_seg_nrrd(p)
    if name.endswith(".seg.vtm"):
        raise IGRTInputError(f"{p}: a .seg.vtm needs VTK: read it with igrt.mrml.seg_vtm.read_seg_vtm")
    if name.endswith(VOLUME_SUFFIXES):
        from igrt.io.segmentation import read_label_map

        return read_label_map(p)
    from igrt.io.rtstruct_contours import read_contour_structures

    return read_contour_structures(p)
