"""Structures from voxel files: Slicer segmentations (``.seg.nrrd``) and plain label-map volumes.

A ``.seg.nrrd`` (Slicer's vtkMRMLSegmentationStorageNode) is a NRRD label map, 3-D or 4-D with one
component per layer, whose header names every segment: ``Segment{i}_Name``, ``Segment{i}_Color``
(r g b, 0–1), ``Segment{i}_LabelValue`` and ``Segment{i}_Layer``. Its grid is LPS like every NRRD
SimpleITK reads. A label map (NRRD/NIfTI/MHA with integer labels) gives one structure per label
value, named ``label {value}`` (no names or colours in the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt.dose.model import Structure, StructureSet
from igrt.errors import IGRTInputError
from igrt.io.volumes import _sitk_reason

MAX_LABELS = 255


def read_seg_nrrd(path) -> StructureSet:
    """The segments of a Slicer ``.seg.nrrd`` with their names and colours, in segment order."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except RuntimeError as e:
        raise IGRTInputError(f"{path}: cannot read it as a segmentation ({_sitk_reason(e)})") from e
    keys = set(reader.GetMetaDataKeys())
    count = 0
    while f"Segment{count}_Name" in keys or f"Segment{count}_ID" in keys:
        count += 1
    if count == 0:
        raise IGRTInputError(f"{path}: no Segment0_Name in its header: not a Slicer segmentation file")
    layers = [sitk.VectorIndexSelectionCast(image, k) for k in range(image.GetNumberOfComponentsPerPixel())]
    structures, empty = [], []
    for i in range(count):
        meta = {k: reader.GetMetaData(k) for k in keys if k.startswith(f"Segment{i}_")}
        name = meta.get(f"Segment{i}_Name", "").strip() or meta.get(f"Segment{i}_ID", f"segment {i}")
        layer = int(meta.get(f"Segment{i}_Layer", "0") or 0)
        value = int(meta.get(f"Segment{i}_LabelValue", "1") or 1)
        if not 0 <= layer < len(layers):
            raise IGRTInputError(f"{path}: segment {name!r} is on layer {layer}, the file has {len(layers)}")
        mask = sitk.Cast(layers[layer] == value, sitk.sitkUInt8)
        s = Structure(
            name=name, mask=mask, color=_color(meta.get(f"Segment{i}_Color")), number=i, source=str(path)
        )
        (empty.append(name) if s.is_empty() else structures.append(s))
    return _structure_set(structures, empty, path)


def read_label_map(path) -> StructureSet:
    """One structure per non-zero integer label of a label-map volume file."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise IGRTInputError(f"{path}: cannot read it as a label map ({_sitk_reason(e)})") from e
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise IGRTInputError(f"{path} is not a 3-D single-component label map")
    a = sitk.GetArrayViewFromImage(image)
    if not np.all(np.isfinite(a)) or not np.array_equal(a, np.round(a)):
        raise IGRTInputError(f"{path} has non-integer values: a label map (integer labels) is needed")
    labels = [int(v) for v in np.unique(a) if v != 0]
    if not labels:
        raise IGRTInputError(f"{path}: the label map is empty (no non-zero voxel)")
    if len(labels) > MAX_LABELS:
        raise IGRTInputError(f"{path} has {len(labels)} different values: an image, not a label map?")
    structures = [
        Structure(name=f"label {v}", mask=sitk.Cast(image == v, sitk.sitkUInt8), number=v, source=str(path))
        for v in labels
    ]
    return _structure_set(structures, [], path)


def _structure_set(structures, empty, path) -> StructureSet:
    if not structures:
        raise IGRTInputError(f"{path}: every segment is empty")
    warnings = [f"segments without voxels (empty, left out): {', '.join(empty)}"] if empty else []
    warnings.append(
        f"{Path(path).name}: a voxel file carries no frame of reference: not checked against the dose"
    )
    return StructureSet(structures=structures, path=str(path), empty=empty, warnings=warnings)


def _color(text) -> tuple[int, int, int] | None:
    try:
        rgb = [float(v) for v in str(text).split()]
    except ValueError:
        return None
    if len(rgb) != 3:
        return None
    return tuple(int(round(255 * min(max(c, 0.0), 1.0))) for c in rgb)
