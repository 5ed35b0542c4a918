"""The daily match on MRML nodes: what the IGRTDailyMatch module's Logic runs, usable headless.

Volume nodes → core ``Volume`` → ``igrt.registration.match.run_match`` → transform node (applied to the daily
volume), result table and comparison volumes. No Qt: runs under slicer-core and inside Slicer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import slicer
import vtk

from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.mrml import comparison, tables, transforms, volumes
from igrt.registration.match import MatchOptions, MatchResult
from igrt.registration.workflow import daily_match


@dataclass
class DailyMatchOutputs:
    """What one run leaves in the scene (nodes are reused by the next run)."""

    result: object
    transform_node: object
    table_node: object
    comparison_nodes: dict = field(default_factory=dict)
    structures_node: object = None  # planning structures outlined in the "contours" comparison


def point_lps_from_markups(markups_node, index: int = 0, volume_node=None) -> np.ndarray:
    """LPS position of a markups control point, in the volume's own (untransformed) coordinates.

    Control points are read in world RAS; when ``volume_node`` is under a transform (e.g. the daily
    volume already showing a result), the point is carried back into that volume's acquired frame.
    """
    if markups_node is None or markups_node.GetNumberOfControlPoints() <= index:
        raise IGRTInputError("the isocenter markups node has no control point")
    ras = [0.0, 0.0, 0.0]
    markups_node.GetNthControlPointPositionWorld(index, ras)
    parent = volume_node.GetParentTransformNode() if volume_node is not None else None
    if parent is not None:
        world_to_local = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(None, parent, world_to_local)
        ras = list(world_to_local.TransformPoint(ras))
    return geometry.ras_to_lps_point(ras)


def isocenter_lps_from_plan(plan_node) -> np.ndarray:
    """Planning isocenter (LPS) of a SlicerRT plan node (``vtkMRMLRTPlanNode.GetIsocenterPosition``, RAS)."""
    ras = [0.0, 0.0, 0.0]
    getter = getattr(plan_node, "GetIsocenterPosition", None)
    if getter is None or not getter(ras):
        raise IGRTInputError(f"plan {plan_node.GetName()!r} has no isocenter position")
    return geometry.ras_to_lps_point(ras)


def plan_from_node(plan_node, planning_node=None):
    """The plan as the match workflow takes it (``igrt.io.rtplan.PlanInfo``) from a SlicerRT plan node.

    The isocenter is the node's (``vtkMRMLRTPlanNode.GetIsocenterPosition``, RAS, converted once to LPS:
    what the user sees in Beams, edits included). When the node came from Slicer's DICOM database
    (attribute ``DICOM.instanceUIDs``), the RTPLAN file it was loaded from gives the patient ID, the
    frame of reference and the patient position, so the workflow's plan check compares them with the
    planning image as ``igrt match --plan`` does.
    """
    from igrt.io.rtplan import PlanInfo, read_rtplan

    isocenter = isocenter_lps_from_plan(plan_node)
    source = _dicom_file_of(plan_node)
    if source is not None:
        info = read_rtplan(source)
        info.path = f"RT plan node {plan_node.GetName()!r} ({source})"
        info.isocenter_lps = isocenter
        return info
    return PlanInfo(
        path=f"RT plan node {plan_node.GetName()!r}",
        isocenter_lps=isocenter,
        patient_position=None,
        plan_label=plan_node.GetName(),
        sop_instance_uid=None,
        frame_of_reference_uid=None,
        patient_id=None,
    )


def _dicom_file_of(node):
    """The DICOM file a node was loaded from, through Slicer's DICOM database (None headless)."""
    uids = node.GetAttribute("DICOM.instanceUIDs") if node is not None else None
    database = getattr(slicer, "dicomDatabase", None)
    if not uids or database is None:
        return None
    return database.fileForInstance(uids.split()[0]) or None


def run(
    scene,
    planning_node,
    daily_node,
    options: MatchOptions | None = None,
    transform_node=None,
    table_node=None,
    comparison_nodes: dict | None = None,
    progress=None,
    planning_identity: dict | None = None,
    daily_identity: dict | None = None,
    plan_node=None,
    target_mask_node=None,
    structures_node=None,
) -> DailyMatchOutputs:
    """Match ``daily_node`` to ``planning_node`` with the core workflow and put the result in the scene.

    The nodes become the workflow's inputs (``Volume`` with the DICOM identity, a plan, a target label
    map); the workflow makes every check; its document becomes the transform, table and comparison.
    ``*_identity`` are DICOM identity fields (``Volume`` names: patient_id, frame_of_reference_uid, ...)
    that override the node attributes. ``structures_node``: the planning structures (segmentation) that
    the "contours" comparison outlines; refused when its frame of reference is not the planning image's.
    """
    if planning_node is None or daily_node is None:
        raise IGRTInputError("select both the planning and the daily volume")
    if planning_node is daily_node:
        raise IGRTInputError("the planning and the daily volume are the same node")
    try:
        planning = volumes.volume_from_node(planning_node, **(planning_identity or {}))
        daily = volumes.volume_from_node(daily_node, **(daily_identity or {}))
        mask = volumes.image_from_node(target_mask_node) if target_mask_node is not None else None
    except ValueError as exc:
        raise IGRTInputError(str(exc)) from exc
    structures = None
    if structures_node is not None:
        from igrt.mrml.dose import structures_from_segmentation

        structures = structures_from_segmentation(structures_node, reference_volume_node=planning_node)
    document = daily_match(
        planning,
        daily,
        options,
        plan=plan_from_node(plan_node, planning_node) if plan_node is not None else None,
        target_mask=mask,
        target_mask_source=f"target mask {target_mask_node.GetName()!r}"
        if target_mask_node
        else "target mask",
        structures=structures,
        progress=progress,
    )
    result = MatchResult.from_dict(document)
    return publish(
        scene,
        result,
        planning_node,
        daily_node,
        transform_node,
        table_node,
        comparison_nodes,
        structures_node,
        structures,
    )


def publish(
    scene,
    result,
    planning_node,
    daily_node,
    transform_node=None,
    table_node=None,
    comparison_nodes=None,
    structures_node=None,
    structures=None,
) -> DailyMatchOutputs:
    """Write a result (automatic or hand-edited) into the transform, table and comparison nodes.

    ``structures``: ``structures_node``'s segments already exported on the planning grid (not again).
    """
    transform_node = transforms.transform_node_from_result(
        scene, result, planning_node, daily_node, node=transform_node
    )
    table_node = tables.table_node_from_result(scene, result.to_dict(), node=table_node)
    nodes = comparison.prepare(
        scene, result, planning_node, daily_node, comparison_nodes, structures_node, structures
    )
    return DailyMatchOutputs(result, transform_node, table_node, nodes, structures_node)


def refresh_from_transform(scene, outputs: DailyMatchOutputs, planning_node, daily_node) -> DailyMatchOutputs:
    """Re-derive the result after the transform was adjusted by hand (interaction handles)."""
    result = transforms.edited_result(outputs.result, outputs.transform_node)
    return publish(
        scene,
        result,
        planning_node,
        daily_node,
        outputs.transform_node,
        outputs.table_node,
        outputs.comparison_nodes,
        outputs.structures_node,
    )
