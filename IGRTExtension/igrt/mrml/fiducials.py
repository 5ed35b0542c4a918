"""Implanted markers on MRML nodes: detection into markups point lists, reading them back, the match.

What the IGRTFiducials module's Logic runs; MRML and VTK only (no Qt), so it runs inside Slicer and
under the ``slicer-core`` wheel.

Frames
------
Markers are in each image's *own* coordinates: planning markers in the planning image's frame, daily
markers in the daily image's acquired frame (``igrt.markers.match.marker_result_from_points`` ties the
frames through the isocenters). A daily volume usually sits under the match transform after a match;
a markups point is therefore read in world RAS and carried back through the inverse of the volume's
parent transform (as ``igrt.mrml.daily_match.point_lps_from_markups`` does), which is right whether or
not the point list sits under that transform. Detected lists are created under the volume's parent
transform, so they stay on the image when the match transform changes, and after a match the daily
list is moved under the match transform without changing its image coordinates.

Which points take part (the convention the module's help text states)
----------------------------------------------------------------------
- every control point with a defined position, whatever its origin (detected, added, moved by hand);
- a point is **excluded** when it is *unselected* (the selection check box of the Markups module's
  control point list), or when its label or description contains the word "exclude"/"excluded";
  excluded planning markers are passed as ``exclude`` (they keep their number), excluded daily
  markers are left out;
- *locked* points only protect against moving; they take part like any other;
- points without a position (placement skipped) are not markers.

RTSTRUCT point ROIs in Slicer
-----------------------------
SlicerRT's DICOM RT import (``DicomRtImportExport/Logic/vtkSlicerDicomRtImportExportModuleLogic.cxx``,
``LoadRtStructureSet`` and ``vtkInternal::AddRoiPoint``) turns every ROI whose contour data hold a single
point into its own ``vtkMRMLMarkupsFiducialNode``, named after the ROI (made unique in the scene), with
one control point (the default label "<name>-1"), locked and hidden, in a subject hierarchy folder
"<series name>_Fiducials"; the item has the attribute ``DicomRtImport.RoiReferencedSeriesUid``. The
reader (``vtkSlicerDicomRtReader.cxx``, ``LoadContour``) converts Contour Data from LPS to RAS by
negating x and y. :func:`rtstruct_point_nodes` finds such nodes and :func:`merge_point_nodes` copies
them into one point list (one point per ROI, labelled with the ROI name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import slicer
import vtk

from igrt import geometry
from igrt.couch.correction import PATIENT_DISPLACED
from igrt.errors import IGRTInputError
from igrt.markers import workflow as marker_workflow
from igrt.markers.pairing import MIGRATION_WARN_MM
from igrt.markers.workflow import marker_match
from igrt.mrml import tables, transforms, volumes

#: Node attributes and references this module writes (our own names).
ATTR_ROLE = "IGRT.MarkerRole"  # "planning" or "daily"
ATTR_METHOD = "IGRT.Method"
VOLUME_REFERENCE = "IGRT.markerVolume"  # the volume the markers were detected in
#: Subject hierarchy attribute SlicerRT sets on the items of RTSTRUCT point ROIs (vtkSlicerRtCommon.cxx:
#: DICOMRTIMPORT_ATTRIBUTE_PREFIX "DicomRtImport." + "RoiReferencedSeriesUid").
SLICERRT_ROI_ATTRIBUTE = "DicomRtImport.RoiReferencedSeriesUid"
#: Name suffix of the subject hierarchy folder SlicerRT makes for them (DICOMRTIMPORT_FIDUCIALS_...).
SLICERRT_FIDUCIALS_FOLDER_SUFFIX = "_Fiducials"

EXCLUDED_WORD = re.compile(r"\bexclude(d)?\b", re.IGNORECASE)
CONFIDENCE = re.compile(r"confidence\s+([0-9.]+)", re.IGNORECASE)
COLORS = {"planning": (1.0, 0.85, 0.1), "daily": (0.1, 0.85, 1.0)}


@dataclass
class Marker:
    """One control point read from a markups node, with its position in the image's own frame."""

    name: str
    position_lps: np.ndarray
    excluded: bool = False
    locked: bool = False
    confidence: float | None = None
    node_id: str = ""
    index: int = 0


@dataclass
class FiducialMatchOutputs:
    """What one match computed and left in the scene (the nodes are reused by the next run)."""

    result: dict  # result JSON, method "fiducial" (igrt.markers.match.marker_result_from_points)
    transform_node: object
    table_node: object
    planning: list = field(default_factory=list)  # Marker, all planning points (excluded ones too)
    daily: list = field(default_factory=list)  # Marker, the daily points that took part
    messages: list = field(default_factory=list)  # FRE/TRE line, warnings, "without marker N ..."


# --------------------------------------------------------------------------------------------------
# Frames


def _world_to_volume(volume_node):
    """vtkGeneralTransform from world RAS to the volume's own RAS (identity without a parent)."""
    parent = volume_node.GetParentTransformNode() if volume_node is not None else None
    if parent is None:
        return None
    world_to_local = vtk.vtkGeneralTransform()
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(None, parent, world_to_local)
    return world_to_local


def _volume_of(markups_node, volume_node=None):
    if volume_node is not None or markups_node is None:
        return volume_node
    return markups_node.GetNodeReference(VOLUME_REFERENCE)


def _image_ras(markups_node, index: int, volume_node) -> np.ndarray:
    """RAS of control point ``index`` in the volume's own frame (world carried back, see module doc)."""
    ras = [0.0, 0.0, 0.0]
    markups_node.GetNthControlPointPositionWorld(index, ras)
    to_volume = _world_to_volume(volume_node)
    return np.asarray(to_volume.TransformPoint(ras) if to_volume is not None else ras, float)


# --------------------------------------------------------------------------------------------------
# Search box


def roi_box_lps(roi_node=None, volume_node=None, segment: str = "", margin_mm: float = 10.0):
    """(center LPS, size mm) of a search box in the volume's own frame, or (None, None) for none.

    ``roi_node``: a markups ROI (its world bounding box, carried into the volume's frame), or a
    segmentation with ``segment`` (the segment's bounding box plus ``margin_mm`` each side; the
    segmentation must not be under a transform).
    """
    if roi_node is None:
        return None, None
    if roi_node.IsA("vtkMRMLSegmentationNode"):
        from igrt.mrml.couch import segment_points_lps

        if not segment:
            raise IGRTInputError("search region from a segmentation: select the segment")
        pts = segment_points_lps(roi_node, segment)
        lo, hi = pts.min(axis=0) - margin_mm, pts.max(axis=0) + margin_mm
        return (lo + hi) / 2, hi - lo
    if not roi_node.IsA("vtkMRMLMarkupsROINode"):
        raise IGRTInputError(f"{roi_node.GetName()!r} is neither a markups ROI nor a segmentation")
    bounds = [0.0] * 6
    roi_node.GetRASBounds(bounds)
    if not all(np.isfinite(bounds)) or bounds[1] < bounds[0]:
        raise IGRTInputError(f"ROI {roi_node.GetName()!r} has no extent")
    to_volume = _world_to_volume(volume_node)
    corners = []
    for x in bounds[0:2]:
        for y in bounds[2:4]:
            for z in bounds[4:6]:
                ras = to_volume.TransformPoint((x, y, z)) if to_volume is not None else (x, y, z)
                corners.append(geometry.ras_to_lps_point(ras))
    corners = np.array(corners)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    return (lo + hi) / 2, hi - lo


# --------------------------------------------------------------------------------------------------
# Detection → markups


def detect(volume_node, roi_node=None, segment: str = "", threshold_hu=None) -> list:
    """The marker detection workflow (``igrt.markers.workflow.detect``) on a volume node, in the volume's
    own frame (LPS): [(position_lps, confidence)], strongest first; refuses when none is found.

    The image is read without its parent transform (``volumes.image_from_node``): a daily volume that
    already shows a match is searched where it was acquired.
    """
    if volume_node is None or not volume_node.IsA("vtkMRMLScalarVolumeNode"):
        raise IGRTInputError("select the volume to search for markers")
    try:
        image = volumes.image_from_node(volume_node)
    except ValueError as exc:
        raise IGRTInputError(str(exc)) from exc
    center, size = roi_box_lps(roi_node, volume_node, segment)
    source = repr(volume_node.GetName()) + (" inside the search region" if center is not None else "")
    document = marker_workflow.detect(
        image, roi_center_lps=center, roi_size_mm=size, threshold_hu=threshold_hu, source=source
    )
    return marker_workflow.positions(document)


def markers_to_node(scene, found, volume_node, node=None, name="Planning markers", role="planning"):
    """Create (or refill) a point list with one control point per marker: M1, M2, ... in found order.

    Positions are LPS in the volume's own frame; they are written as RAS (PS3.3 C.7.6.2.1.1: negate x
    and y, ``geometry.lps_to_ras_point``) in the node's local frame, and the node is put under the
    volume's parent transform, so that world = volume world. The confidence goes into the description.
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    node.RemoveAllControlPoints()
    parent = volume_node.GetParentTransformNode() if volume_node is not None else None
    node.SetAndObserveTransformNodeID(parent.GetID() if parent is not None else None)
    for k, (position_lps, confidence) in enumerate(found):
        ras = geometry.lps_to_ras_point(position_lps)
        index = node.AddControlPoint(vtk.vtkVector3d(*ras), f"M{k + 1}")
        node.SetNthControlPointDescription(index, f"confidence {float(confidence):.3f}")
    node.SetAttribute(ATTR_ROLE, role)
    if volume_node is not None:
        node.SetNodeReferenceID(VOLUME_REFERENCE, volume_node.GetID())
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is not None and role in COLORS:
        display.SetSelectedColor(*COLORS[role])
    return node


# --------------------------------------------------------------------------------------------------
# Markups → markers


def is_excluded(markups_node, index: int) -> bool:
    """The convention: unselected, or the word "exclude(d)" in the label or description."""
    if not markups_node.GetNthControlPointSelected(index):
        return True
    text = (
        f"{markups_node.GetNthControlPointLabel(index)} {markups_node.GetNthControlPointDescription(index)}"
    )
    return bool(EXCLUDED_WORD.search(text))


def set_excluded(markups_node, index: int, excluded: bool = True) -> None:
    """Exclude (unselect) or include (select) a control point; the description says why."""
    if not 0 <= index < markups_node.GetNumberOfControlPoints():
        raise IGRTInputError(f"{markups_node.GetName()!r} has no control point {index + 1}")
    markups_node.SetNthControlPointSelected(index, not excluded)
    description = EXCLUDED_WORD.sub("", markups_node.GetNthControlPointDescription(index)).strip(" ;:,-")
    if excluded:
        description = f"{description}; excluded" if description else "excluded"
    markups_node.SetNthControlPointDescription(index, description)


def read_markers(markups_nodes, volume_node=None) -> list[Marker]:
    """Markers of one or several point lists (all defined control points, excluded ones flagged).

    ``volume_node``: the image the points belong to (default: the volume they were detected in, else
    world = image frame). Several one-point lists (SlicerRT's RTSTRUCT point ROIs) read as one list;
    a point without a label is named after its node.
    """
    nodes = markups_nodes if isinstance(markups_nodes, list | tuple) else [markups_nodes]
    out = []
    for node in nodes:
        if node is None or not node.IsA("vtkMRMLMarkupsNode"):
            raise IGRTInputError("select a markups point list")
        volume = _volume_of(node, volume_node)
        for i in range(node.GetNumberOfControlPoints()):
            if node.GetNthControlPointPositionStatus(i) != slicer.vtkMRMLMarkupsNode.PositionDefined:
                continue
            match = CONFIDENCE.search(node.GetNthControlPointDescription(i) or "")
            out.append(
                Marker(
                    name=node.GetNthControlPointLabel(i) or node.GetName(),
                    position_lps=geometry.ras_to_lps_point(_image_ras(node, i, volume)),
                    excluded=is_excluded(node, i),
                    locked=bool(node.GetLocked() or node.GetNthControlPointLocked(i)),
                    confidence=float(match.group(1)) if match else None,
                    node_id=node.GetID(),
                    index=i,
                )
            )
    return out


def follow_volume(markups_node, volume_node, markers=None) -> None:
    """Put a point list under the volume's parent transform, keeping each point's image coordinates.

    ``markers``: the list's markers as read *before* the volume's transform changed (default: read now).
    """
    if markups_node is None or volume_node is None:
        return
    markers = read_markers(markups_node, volume_node) if markers is None else markers
    parent = volume_node.GetParentTransformNode()
    markups_node.SetAndObserveTransformNodeID(parent.GetID() if parent is not None else None)
    for m in markers:
        if m.node_id == markups_node.GetID():
            markups_node.SetNthControlPointPosition(m.index, *geometry.lps_to_ras_point(m.position_lps))


# --------------------------------------------------------------------------------------------------
# RTSTRUCT point ROIs (SlicerRT)


def rtstruct_point_nodes(scene) -> list:
    """The one-point markups nodes SlicerRT made from RTSTRUCT POINT ROIs (see the module docstring).

    Recognised by their subject hierarchy item: the ROI attribute SlicerRT sets, or a parent folder
    named "..._Fiducials". Scene order.
    """
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    found = []
    nodes = scene.GetNodesByClass("vtkMRMLMarkupsFiducialNode")
    for k in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(k)
        if node.GetNumberOfControlPoints() != 1 or sh is None:
            continue
        item = sh.GetItemByDataNode(node)
        if not item:
            continue
        folder = sh.GetItemName(sh.GetItemParent(item)) or ""
        if sh.GetItemAttribute(item, SLICERRT_ROI_ATTRIBUTE) or folder.endswith(
            SLICERRT_FIDUCIALS_FOLDER_SUFFIX
        ):
            found.append(node)
    return found


def merge_point_nodes(scene, nodes, node=None, name="Planning markers (RTSTRUCT)"):
    """Copy the points of several point lists into one (world positions; label = the source name).

    For one-point lists (an RTSTRUCT point ROI each) the label is the node's name, i.e. the ROI name.
    Exclusion (unselected), lock and description are copied.
    """
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise IGRTInputError("no point lists to merge (load the RTSTRUCT with SlicerRT first)")
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    elif any(n is node for n in nodes):
        raise IGRTInputError("the merged list cannot be one of its sources")
    node.RemoveAllControlPoints()
    node.SetAndObserveTransformNodeID(None)
    for source in nodes:
        single = source.GetNumberOfControlPoints() == 1
        for i in range(source.GetNumberOfControlPoints()):
            if source.GetNthControlPointPositionStatus(i) != slicer.vtkMRMLMarkupsNode.PositionDefined:
                continue
            ras = [0.0, 0.0, 0.0]
            source.GetNthControlPointPositionWorld(i, ras)
            label = source.GetName() if single else source.GetNthControlPointLabel(i)
            j = node.AddControlPoint(vtk.vtkVector3d(*ras), label)
            node.SetNthControlPointSelected(j, source.GetNthControlPointSelected(i))
            node.SetNthControlPointLocked(j, bool(source.GetLocked() or source.GetNthControlPointLocked(i)))
            node.SetNthControlPointDescription(j, source.GetNthControlPointDescription(i))
    node.SetAttribute(ATTR_ROLE, "planning")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


# --------------------------------------------------------------------------------------------------
# The match


def marker_rows(result: dict, planning: list, daily: list) -> list[tuple[str, float, str, str]]:
    """Table rows of the marker match: fit quality, then per marker residual, leave-one-out, migration."""
    q = result["quality"]
    nan = float("nan")
    tre = q.get("predicted_tre_at_isocenter_mm")
    rows = [
        ("FRE (RMS distance of the paired markers after the fit)", q["fre_mm"], "mm", "fit quality"),
        (
            "predicted TRE at the isocenter (Fitzpatrick-West)",
            nan if tre is None else tre,
            "mm",
            "expected error of the match at the isocenter",
        ),
    ]
    suspects = set(q.get("suspected_migration") or [])
    warn_mm = (result.get("software") or {}).get("parameters", {}).get("migration_warn_mm", MIGRATION_WARN_MM)
    for k, (i, j) in enumerate(q["pairs"]):
        pname, dname = planning[i].name, daily[j].name
        loo = q["leave_one_out_mm"][k]
        rows += [
            (
                f"residual {pname} (daily {dname})",
                q["residuals_mm"][k],
                "mm",
                "distance between the paired markers after the fit",
            ),
            (
                f"leave-one-out error {pname}",
                nan if loo is None else loo,
                "mm",
                "distance at this marker when the fit is made without it",
            ),
            (
                f"migration suspected {pname}",
                1.0 if i in suspects else 0.0,
                "",
                f"1 = inter-marker distances changed by more than {warn_mm:g} mm (marker may have moved)",
            ),
        ]
    for i in q.get("excluded") or []:
        rows.append((f"excluded {planning[i].name}", nan, "", "left out of the match by the user"))
    alt = q.get("without_suspect")
    if alt:
        label = planning[alt["excluded"]].name
        for axis, value, side in zip(
            "xyz", alt["translation_mm"], ("left", "posterior", "superior"), strict=True
        ):
            rows.append(
                (
                    f"translation {axis} without {label} (+ = towards patient {side})",
                    value,
                    "mm",
                    f"{PATIENT_DISPLACED}, if {label} is excluded",
                )
            )
    return [(label, round(float(v), 3), unit, sense) for label, v, unit, sense in rows]


def messages(result: dict, planning: list) -> list[str]:
    """Lines for the widget: fit quality, the warnings, and what excluding the suspect would change."""
    q = result["quality"]
    tre = q.get("predicted_tre_at_isocenter_mm")
    lines = [
        f"FRE {q['fre_mm']:.2f} mm over {len(q['pairs'])} marker pairs; predicted TRE at the isocenter "
        + ("n/a" if tre is None else f"{tre:.2f} mm")
    ]
    lines += [f"warning: {w}" for w in result.get("warnings", [])]
    alt = q.get("without_suspect")
    if alt:
        t = alt["translation_mm"]
        lines.append(
            f"without marker {planning[alt['excluded']].name} the shift would be x {t[0]:+.1f}, "
            f"y {t[1]:+.1f}, z {t[2]:+.1f} mm ({PATIENT_DISPLACED}, LPS), FRE {alt['fre_mm']:.2f} mm"
        )
    return lines


def match(
    scene,
    planning_markers,
    daily_markers,
    planning_volume=None,
    daily_volume=None,
    planning_isocenter_lps=None,
    daily_isocenter_lps=None,
    orientation=None,
    transform_node=None,
    table_node=None,
    inputs=None,
) -> FiducialMatchOutputs:
    """Pair and register the markers, then write the match transform (applied to the daily volume,
    as IGRT Daily Match does, so IGRT Couch Shift reads it) and the marker table.

    ``planning_markers``: a point list or a list of point lists (RTSTRUCT points). ``orientation``:
    patient position; None = from the planning volume, else HFS.
    """
    planning_nodes = planning_markers if isinstance(planning_markers, list | tuple) else [planning_markers]
    daily_nodes = daily_markers if isinstance(daily_markers, list | tuple) else [daily_markers]
    if any(n is not None and any(n is d for d in daily_nodes) for n in planning_nodes):
        raise IGRTInputError("planning and daily markers are the same point list; select two lists")
    planning = read_markers(planning_markers, planning_volume)
    daily_all = read_markers(daily_markers, daily_volume)
    daily = [m for m in daily_all if not m.excluded]
    if len(planning) < 3 or len(daily) < 3:
        raise IGRTInputError(
            f"{len(planning)} planning and {len(daily)} daily markers: at least 3 of each are needed"
        )
    planning_volume_core = daily_volume_core = None
    if planning_volume is not None and daily_volume is not None:
        try:
            planning_volume_core = volumes.volume_from_node(planning_volume)
            daily_volume_core = volumes.volume_from_node(daily_volume)
        except ValueError:
            planning_volume_core = daily_volume_core = None
    elif planning_volume is not None:
        try:
            planning_volume_core = volumes.volume_from_node(planning_volume)
        except ValueError:
            planning_volume_core = None
    result = marker_match(
        np.array([m.position_lps for m in planning]),
        np.array([m.position_lps for m in daily]),
        isocenter=planning_isocenter_lps,
        daily_isocenter=daily_isocenter_lps,
        orientation=orientation,
        exclude=[k for k, m in enumerate(planning) if m.excluded],
        planning=planning_volume_core,
        daily=daily_volume_core,
        inputs=inputs
        or {
            "planning_markers": [m.name for m in planning],
            "daily_markers": [m.name for m in daily],
        },
    )
    view = SimpleNamespace(
        matrix_lps=np.asarray(result["matrix_lps"], float),
        planning_isocenter_lps=np.asarray(result["planning_isocenter_lps"], float),
        daily_isocenter_lps=np.asarray(result["daily_isocenter_lps"], float),
    )
    transform_node = transforms.transform_node_from_result(
        scene, view, planning_volume, daily_volume, node=transform_node
    )
    transform_node.SetAttribute(ATTR_METHOD, "fiducial")
    if orientation:
        transform_node.SetAttribute("IGRT.PatientPosition", orientation.upper())
    if daily_volume is not None:
        for node in daily_nodes:  # keep the daily points on the daily image (read before the update)
            follow_volume(node, daily_volume, [m for m in daily_all if m.node_id == node.GetID()])
    if table_node is None:
        table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", "IGRT marker match")
    rows = tables.result_rows({**result, "quality": {}}) + marker_rows(result, planning, daily)
    tables.write_rows(table_node, rows)
    table_node.SetAttribute(
        "IGRT.Sense", "translation/rotation: patient is displaced; couch rows: couch moves; marker rows: mm"
    )
    table_node.Modified()
    return FiducialMatchOutputs(
        result, transform_node, table_node, planning, daily, messages(result, planning)
    )
