"""Dose and structures on MRML nodes: a dose volume node → :class:`igrt.dose.model.Dose`, a segmentation
node → structures, and DVH / dose-impact documents → table, plot series and plot chart nodes.

The numbers come from the core workflow (:mod:`igrt.dose.workflow`); this module only converts nodes.
Frames: volume and segmentation nodes are RAS in the scene; they are read as LPS images through
:mod:`igrt.mrml.volumes` (one flip). A node under a parent transform is refused: the dose and the
planned structures must be in the planning frame.

SlicerRT marks an imported dose volume with the node attribute ``DicomRtImport.DoseVolume`` and puts the
dose unit (``DicomRtImport.DoseUnitName``, from Dose Units (3004,0002)) on its study item.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import slicer
import vtk

from igrt.dose.model import Dose, Structure, StructureSet
from igrt.errors import IGRTInputError
from igrt.mrml.couch import ensure_conversion_rules
from igrt.mrml.volumes import IDENTITY_ATTRIBUTES, image_from_node

DOSE_VOLUME_ATTRIBUTE = "DicomRtImport.DoseVolume"
DOSE_UNIT_ATTRIBUTE = "DicomRtImport.DoseUnitName"
LINE_STYLES = {"planned": "Solid", "fraction": "Dash"}


def _untransformed(node, what: str) -> None:
    if node is None:
        raise IGRTInputError(f"select the {what}")
    if node.GetParentTransformNode() is not None:
        raise IGRTInputError(
            f"{what} {node.GetName()!r} is under a transform: it must be in the planning frame"
        )


def _dose_unit(node) -> str | None:
    """The dose unit SlicerRT put on the volume's study item (or on the node), upper case; None if absent."""
    unit = node.GetAttribute(DOSE_UNIT_ATTRIBUTE)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(node.GetScene())
    if not unit and sh is not None:
        item = sh.GetItemByDataNode(node)
        parent = sh.GetItemParent(item) if item else 0
        unit = sh.GetItemAttribute(parent, DOSE_UNIT_ATTRIBUTE) if parent else ""
    return unit.strip().upper() or None if unit else None


def dose_from_node(volume_node) -> Dose:
    """The dose of a scalar volume node (SlicerRT dose volume or any volume in Gy), checked as a file is."""
    _untransformed(volume_node, "dose volume")
    image = sitk.Cast(image_from_node(volume_node), sitk.sitkFloat32)
    unit = _dose_unit(volume_node)
    warnings = []
    if unit is None:
        unit = "GY"
        warnings.append(f"dose volume {volume_node.GetName()!r} carries no dose unit: values taken as Gy")
    if unit not in ("GY", "RELATIVE"):
        raise IGRTInputError(
            f"dose volume {volume_node.GetName()!r} has dose unit {unit!r}: expected GY or RELATIVE"
        )
    a = sitk.GetArrayViewFromImage(image)
    if not np.all(np.isfinite(a)):
        raise IGRTInputError(f"dose volume {volume_node.GetName()!r} has NaN or infinite values")
    if a.min() < -1e-3 or a.max() <= 0:
        raise IGRTInputError(f"dose volume {volume_node.GetName()!r} is not a dose (negative or all zero)")
    return Dose(
        image=image,
        paths=[f"mrml:{volume_node.GetID()}"],
        units=unit,
        frame_of_reference_uid=volume_node.GetAttribute(IDENTITY_ATTRIBUTES["frame_of_reference_uid"]),
        warnings=warnings,
    )


def structures_from_segmentation(segmentation_node, names=None, reference_volume_node=None) -> StructureSet:
    """Every segment (or those ``names``) of a segmentation node as a mask structure, names and colours kept.

    Each segment is exported on its own (overlaps kept) as a binary labelmap, converting from the source
    representation when needed (closed surface here; SlicerRT's planar contours inside Slicer), on the
    segmentation's own geometry or on ``reference_volume_node``'s grid.
    """
    _untransformed(segmentation_node, "segmentation")
    ensure_conversion_rules()
    seg = segmentation_node.GetSegmentation()
    scene = segmentation_node.GetScene()
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    ids = [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
    wanted = None if not names else set(names)
    structures, empty = [], []
    for i, segment_id in enumerate(ids):
        segment = seg.GetSegment(segment_id)
        name = segment.GetName()
        if wanted is not None and name not in wanted:
            continue
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        try:
            one = vtk.vtkStringArray()
            one.InsertNextValue(segment_id)
            ok = logic.ExportSegmentsToLabelmapNode(segmentation_node, one, labelmap, reference_volume_node)
            mask = (
                sitk.Cast(image_from_node(labelmap) > 0, sitk.sitkUInt8)
                if ok and labelmap.GetImageData()
                else None
            )
        finally:
            scene.RemoveNode(labelmap)
        s = Structure(
            name=name,
            mask=mask,
            color=tuple(int(round(255 * c)) for c in segment.GetColor()),
            number=i,
            source=f"mrml:{segmentation_node.GetID()}",
        )
        (empty.append(name) if s.is_empty() else structures.append(s))
    if wanted is not None and (missing := wanted - {s.name for s in structures} - set(empty)):
        raise IGRTInputError(
            f"segmentation {segmentation_node.GetName()!r} has no segment {sorted(missing)[0]!r}"
        )
    if not structures:
        raise IGRTInputError(f"segmentation {segmentation_node.GetName()!r} has no non-empty segment")
    warnings = [f"segments without voxels (empty, left out): {', '.join(empty)}"] if empty else []
    return StructureSet(
        structures=structures,
        path=f"mrml:{segmentation_node.GetID()}",
        frame_of_reference_uid=segmentation_node.GetAttribute(IDENTITY_ATTRIBUTES["frame_of_reference_uid"]),
        empty=empty,
        warnings=warnings,
    )


def _curves(doc: dict) -> list[tuple[str, str, dict, tuple]]:
    """(structure, role, {dose_gy, volume_pct}, rgb 0–1) of a DVH or dose-impact document."""
    out = []
    for s in doc["structures"]:
        rgb = tuple(c / 255.0 for c in s["color"]) if s.get("color") else (0.2, 0.2, 0.2)
        if "planned" in s["dvh"]:
            out += [(s["name"], role, s["dvh"][role], rgb) for role in ("planned", "fraction")]
        else:
            out.append((s["name"], "dvh", s["dvh"], rgb))
    return out


def dvh_table_node(scene, doc: dict, node=None, name: str = "IGRT DVH"):
    """A table node with two columns per curve, ``<structure> [<role>] dose (Gy)`` and ``… volume (%)``."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    table.Initialize()
    curves = _curves(doc)
    rows = max(len(c["dose_gy"]) for _, _, c, _ in curves)
    for structure, role, curve, _ in curves:
        label = structure if role == "dvh" else f"{structure} {role}"
        for key, title in (("dose_gy", "dose (Gy)"), ("volume_pct", "volume (%)")):
            array = vtk.vtkDoubleArray()
            array.SetName(f"{label} {title}")
            values = np.full(rows, np.nan if key == "dose_gy" else 0.0)
            values[: len(curve[key])] = curve[key]
            if key == "dose_gy":  # pad the dose past the last bin so the curve stays at 0 %
                step = doc.get("dvh_step_gy", 1.0)
                n = len(curve[key])
                values[n:] = curve[key][-1] + step * np.arange(1, rows - n + 1)
            array.SetNumberOfValues(rows)
            for i, v in enumerate(values):
                array.SetValue(i, float(v))
            table.AddColumn(array)
    table.SetNumberOfRows(rows)
    node.SetAttribute("IGRT.Sense", doc.get("dvh_sense", "cumulative DVH"))
    node.Modified()
    return node


def _engine(doc: dict, structure: dict, role: str) -> str:
    """Which engine computed that row's DVH (a delta row: both curves' engines, once when the same)."""
    engines = structure.get("dvh_engine") or {}
    if role == "delta":
        return " − ".join(
            dict.fromkeys(engines.get(r, doc.get("dvh_engine", "")) for r in ("fraction", "planned"))
        )
    return engines.get(role, doc.get("dvh_engine", ""))


def metrics_table_node(scene, doc: dict, node=None, name: str = "IGRT DVH metrics"):
    """One row per structure (and role for a dose impact): volume (cc), every metric (Gy, % or cc) and,
    in the last column ``dvh engine``, which engine computed the DVH ("igrt core" or SlicerRT's)."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    rows, engines = [], []
    for s in doc["structures"]:
        if "planned" in s:
            rows += [(s["name"], role, s["volume_cc"], s[role]) for role in ("planned", "fraction", "delta")]
            engines += [_engine(doc, s, role) for role in ("planned", "fraction", "delta")]
        else:
            rows.append((s["name"], "dvh", s["volume_cc"], s["metrics"]))
            engines.append(_engine(doc, s, "dvh"))
    keys = list(rows[0][3])
    table = node.GetTable()
    table.Initialize()
    for title, array in (("structure", vtk.vtkStringArray()), ("role", vtk.vtkStringArray())):
        array.SetName(title)
        table.AddColumn(array)
    for title in ["volume_cc", *keys]:
        array = vtk.vtkDoubleArray()
        array.SetName(title)
        table.AddColumn(array)
    engine_column = vtk.vtkStringArray()
    engine_column.SetName("dvh engine")
    table.AddColumn(engine_column)
    table.SetNumberOfRows(len(rows))
    for i, (structure, role, volume, metrics) in enumerate(rows):
        table.SetValue(i, 0, structure)
        table.SetValue(i, 1, role)
        table.SetValue(i, 2, float(volume))
        for j, k in enumerate(keys):
            table.SetValue(i, 3 + j, float("nan") if metrics[k] is None else float(metrics[k]))
        table.SetValue(i, 3 + len(keys), engines[i])
    if "approximation" in doc:
        node.SetAttribute("IGRT.Approximation", doc["approximation"])
    node.SetAttribute("IGRT.DVHEngine", doc.get("dvh_engine", ""))
    node.Modified()
    return node


def dvh_chart(scene, doc: dict, table_node, chart=None, name: str = "IGRT DVH"):
    """A plot chart with one series per curve of ``table_node`` (planned solid, fraction dashed)."""
    if chart is None:
        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    old = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    chart.RemoveAllPlotSeriesNodeIDs()
    for series in old:  # the previous curves go with their series
        if series is not None:
            scene.RemoveNode(series)
    for structure, role, _, rgb in _curves(doc):
        label = structure if role == "dvh" else f"{structure} {role}"
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", label)
        series.SetAndObserveTableNodeID(table_node.GetID())
        series.SetXColumnName(f"{label} dose (Gy)")
        series.SetYColumnName(f"{label} volume (%)")
        series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
        series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
        series.SetLineStyle(
            getattr(slicer.vtkMRMLPlotSeriesNode, f"LineStyle{LINE_STYLES.get(role, 'Solid')}")
        )
        series.SetColor(*rgb)
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    chart.SetXAxisTitle("dose (Gy)")
    chart.SetYAxisTitle("volume (%)")
    chart.SetTitle("DVH: planned (solid) and this fraction (dashed)" if "approximation" in doc else "DVH")
    return chart


def show_document(scene, doc: dict, nodes: dict | None = None) -> dict:
    """DVH curves table, metrics table and chart of a DVH or dose-impact document (nodes reused when given)."""
    nodes = dict(nodes or {})
    nodes["curves"] = dvh_table_node(scene, doc, nodes.get("curves"))
    nodes["metrics"] = metrics_table_node(scene, doc, nodes.get("metrics"))
    nodes["chart"] = dvh_chart(scene, doc, nodes["curves"], nodes.get("chart"))
    return nodes
