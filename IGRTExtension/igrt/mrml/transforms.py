"""Registration result (matrix_lps, docs/CONVENTIONS.md) ↔ vtkMRMLLinearTransformNode.

Which matrix the node holds
---------------------------
The result ``M`` (LPS, planning frame) maps a planned anatomy point ``q`` to where that anatomy is.
With the daily image in its own frame, that anatomy sits at the daily coordinate
``d = A(q) = M(q) - planning_iso + daily_iso`` (the isocenters are identified; same frame: equal).

The node is made to be applied to the DAILY volume node (``SetAndObserveTransformNodeID``), so that
the daily image lands on the planning image in Slicer's RAS world. Its *to-parent* matrix therefore
maps a daily point to the planning point of the same anatomy: ``A⁻¹`` (``M⁻¹`` when the frames are
shared), re-expressed on RAS points: ``ToParent_RAS = F · A⁻¹ · F`` with ``F = diag(-1, -1, 1)``.
This is the usual "moving → fixed" resampling direction of Slicer registration modules.

References for DICOM REG export (SlicerRT ``DicomSroImportExport/DicomSroImportExportPlugin.py``,
``examineForExport``/``export``) are read with ``vtkMRMLTransformNode.GetMovingNodeReferenceRole()``
and ``GetFixedNodeReferenceRole()`` — the roles ``"spatialRegistrationMoving"`` (daily image) and
``"spatialRegistrationFixed"`` (planning image) declared in Slicer's ``vtkMRMLTransformNode.h``;
SlicerRT's REG import (``vtkSlicerDicomSroImportExportModuleLogic::LoadDicomSro``) sets the same
roles and applies the transform to the moving image, the convention used here.
"""

from __future__ import annotations

import json

import numpy as np
import slicer
import vtk

from igrt import geometry
from igrt.errors import IGRTInputError

#: Node attributes that let a hand-edited node be turned back into a result.
ATTR_PLANNING_ISO = "IGRT.PlanningIsocenterLPS"
ATTR_DAILY_ISO = "IGRT.DailyIsocenterLPS"
ATTR_MATRIX = "IGRT.RegistrationMatrixLPS"
ATTR_SENSE = "IGRT.Sense"
#: The match's ``quality.uncertainty`` (JSON), valid for the recorded matrix only (not after a hand edit).
ATTR_UNCERTAINTY = "IGRT.MatchUncertainty"
SENSE = "to parent maps the daily image onto the planning image (apply it to the daily volume)"


def moving_role() -> str:
    """Reference role SlicerRT's REG export reads for the moving image ("spatialRegistrationMoving")."""
    return slicer.vtkMRMLTransformNode.GetMovingNodeReferenceRole()


def fixed_role() -> str:
    """Reference role SlicerRT's REG export reads for the fixed image ("spatialRegistrationFixed")."""
    return slicer.vtkMRMLTransformNode.GetFixedNodeReferenceRole()


def to_parent_ras_from_result(matrix_lps, planning_iso=None, daily_iso=None) -> np.ndarray:
    """RAS to-parent matrix that brings the daily image onto the planning image (see module docstring)."""
    m = np.asarray(matrix_lps, float)
    if not geometry.is_rigid(m, tol=1e-5):
        raise IGRTInputError("the registration matrix is not a rigid 4×4 transform")
    planning_to_daily = geometry.planning_to_daily(m, planning_iso, daily_iso)
    return geometry.lps_to_ras_matrix(np.linalg.inv(planning_to_daily))


def result_from_to_parent_ras(to_parent_ras, planning_iso=None, daily_iso=None) -> np.ndarray:
    """Inverse of :func:`to_parent_ras_from_result`: the result ``matrix_lps`` a node represents."""
    planning_to_daily = np.linalg.inv(geometry.ras_to_lps_matrix(np.asarray(to_parent_ras, float)))
    return geometry.result_from_planning_to_daily(planning_to_daily, planning_iso, daily_iso)


def _vtk_matrix(m) -> vtk.vtkMatrix4x4:
    out = vtk.vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            out.SetElement(i, j, float(m[i][j]))
    return out


def _point_attr(value) -> str:
    return json.dumps([round(float(v), 6) for v in value])


def update_transform_node(
    node, matrix_lps, planning_node=None, daily_node=None, planning_iso=None, daily_iso=None
):
    """Write a result into ``node`` and record the moving/fixed references and isocenters."""
    node.SetMatrixTransformToParent(
        _vtk_matrix(to_parent_ras_from_result(matrix_lps, planning_iso, daily_iso))
    )
    if daily_node is not None:
        node.SetNodeReferenceID(moving_role(), daily_node.GetID())
    if planning_node is not None:
        node.SetNodeReferenceID(fixed_role(), planning_node.GetID())
    if planning_iso is not None:
        node.SetAttribute(ATTR_PLANNING_ISO, _point_attr(planning_iso))
    if daily_iso is not None:
        node.SetAttribute(ATTR_DAILY_ISO, _point_attr(daily_iso))
    node.SetAttribute(ATTR_MATRIX, json.dumps(np.round(np.asarray(matrix_lps, float), 9).tolist()))
    node.SetAttribute(ATTR_SENSE, SENSE)
    return node


def transform_node_from_result(scene, result, planning_node, daily_node, node=None, name="IGRT match"):
    """Create (or update) the linear transform node of a ``MatchResult`` and apply it to the daily volume."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    update_transform_node(
        node,
        result.matrix_lps,
        planning_node,
        daily_node,
        result.planning_isocenter_lps,
        result.daily_isocenter_lps,
    )
    uncertainty = (getattr(result, "quality", None) or {}).get("uncertainty")
    node.SetAttribute(ATTR_UNCERTAINTY, json.dumps(uncertainty) if isinstance(uncertainty, dict) else "")
    if daily_node is not None:
        daily_node.SetAndObserveTransformNodeID(node.GetID())
    return node


def uncertainty_of(node, hand_edited: bool) -> dict | None:
    """The match's ``quality.uncertainty`` the node records; None when absent or the matrix was edited by
    hand (the estimate belongs to the automatic match, not to the adjusted one)."""
    text = node.GetAttribute(ATTR_UNCERTAINTY) if node is not None else None
    if not text or hand_edited:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _read_point(node, attribute):
    value = node.GetAttribute(attribute)
    return None if value is None else np.asarray(json.loads(value), float)


def isocenters_of(node) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(planning, daily) isocenters (LPS) recorded on a transform node, or None when absent."""
    return _read_point(node, ATTR_PLANNING_ISO), _read_point(node, ATTR_DAILY_ISO)


def result_matrix_from_node(node) -> np.ndarray:
    """The result ``matrix_lps`` a (possibly hand-edited) transform node holds now.

    Reads the node's current to-parent matrix, e.g. after moving it with interaction handles, and
    undoes the frame pairing with the isocenters recorded on the node.
    """
    if node is None or not node.IsLinear():
        raise IGRTInputError("a linear transform node is required")
    vm = vtk.vtkMatrix4x4()
    node.GetMatrixTransformToParent(vm)
    to_parent = np.array([[vm.GetElement(i, j) for j in range(4)] for i in range(4)])
    planning_iso, daily_iso = isocenters_of(node)
    matrix = result_from_to_parent_ras(to_parent, planning_iso, daily_iso)
    if not geometry.is_rigid(matrix, tol=1e-4):
        raise IGRTInputError("the transform is not rigid (scaling or shear); reset it and adjust again")
    return matrix


def edited_result(result, node):
    """A copy of ``result`` carrying the node's current (hand-adjusted) matrix, flagged as manual."""
    import dataclasses

    matrix = result_matrix_from_node(node)
    if np.allclose(matrix, result.matrix_lps, atol=1e-6):
        return result
    warnings = [*result.warnings, "result adjusted by hand after the automatic match"]
    # The uncertainty estimate belongs to the automatic match's matrix, not to the hand-adjusted one.
    quality = {**result.quality, "uncertainty": None}
    return dataclasses.replace(
        result, matrix_lps=matrix, warnings=warnings, method=f"{result.method}+manual", quality=quality
    )
