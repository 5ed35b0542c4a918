"""Couch shift on MRML nodes: match transform → result, target segment → LPS points, shift → table.

What the IGRTCouchShift module's Logic runs; MRML and VTK only (no Qt), so it runs inside Slicer and
under the ``slicer-core`` wheel.

- :func:`result_from_transform_node` reads an IGRT match transform (written by
  :mod:`igrt.mrml.transforms`) back to a result dict (``matrix_lps`` and isocenters, docs/CONVENTIONS.md).
- :func:`segment_points_lps` / :func:`segment_centroid_lps` turn a segment of the planning
  segmentation into points and its volume centroid in DICOM LPS (the frame conversion is
  ``igrt.geometry.ras_to_lps_point``, nowhere else).
- :func:`evaluate_shift` runs the couch shift workflow (``igrt.couch.workflow.couch_shift``) on that result.
- :func:`update_shift_table` writes the shift into a ``vtkMRMLTableNode``: one row per couch axis with
  a column saying in words whether the number is "couch moves" or "patient is displaced".
"""

from __future__ import annotations

import json

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from igrt import geometry
from igrt.couch import correction as couch
from igrt.couch import tolerance
from igrt.couch.shift import couch_summary
from igrt.couch.workflow import couch_shift
from igrt.errors import IGRTInputError
from igrt.mrml import tables, transforms, volumes
from igrt.result import RESULT_KIND, SCHEMA_VERSION

COUCH_MOVES = couch.COUCH_MOVES
PATIENT_DISPLACED = couch.PATIENT_DISPLACED

#: Couch axes in the order of the table, with the couch_correction keys and units.
AXES = (
    ("lateral_mm", "lateral", "mm"),
    ("longitudinal_mm", "longitudinal", "mm"),
    ("vertical_mm", "vertical", "mm"),
    ("rotation_deg", "couch rotation", "deg"),
    ("pitch_deg", "pitch", "deg"),
    ("roll_deg", "roll", "deg"),
)


#: Node attributes this module writes on the shift table (our own names).
ATTR_VERDICT = "IGRT.Verdict"
ATTR_SHIFT = "IGRT.CouchShiftJSON"
ATTR_SENSE = "IGRT.Sense"

LABELMAP = "Binary labelmap"
SURFACE = "Closed surface"


# --------------------------------------------------------------------------------------------------
# Match transform → result


def _node_identity(node) -> dict:
    """DICOM identity a volume node carries in IGRT attributes (empty for None)."""
    if node is None:
        return {}
    out = {}
    for field_name, attribute in volumes.IDENTITY_ATTRIBUTES.items():
        value = node.GetAttribute(attribute)
        if value:
            out[field_name] = value
    return out


def result_from_transform_node(node, planning_isocenter_lps=None) -> dict:
    """The registration result an IGRT match transform node holds now (hand edits included).

    Returns a result-JSON-like dict: ``matrix_lps``, ``planning_isocenter_lps``, ``daily_isocenter_lps``,
    ``translation_mm`` (patient is displaced, at the isocenter), ``orientation`` (from the node or the
    planning volume it references; None when unknown), ``inputs`` (planning/daily identity) and
    ``hand_edited``. ``planning_isocenter_lps`` is used when the node records none (a transform not made
    by IGRT Daily Match is then read with the planning and daily frames identified).
    """
    if node is None:
        raise IGRTInputError("select the IGRT match transform")
    if not node.IsA("vtkMRMLLinearTransformNode"):
        raise IGRTInputError(f"{node.GetName()!r} is not a linear transform node")
    planning_iso, daily_iso = transforms.isocenters_of(node)
    if planning_iso is None:
        if planning_isocenter_lps is None:
            raise IGRTInputError(
                f"transform {node.GetName()!r} records no planning isocenter (not made by IGRT Daily Match); "
                "give the plan isocenter"
            )
        planning_iso = np.asarray(planning_isocenter_lps, float)
        daily_iso = planning_iso if daily_iso is None else daily_iso
    elif daily_iso is None:
        daily_iso = planning_iso
    matrix = transforms.result_matrix_from_node(node)
    recorded = node.GetAttribute(transforms.ATTR_MATRIX)
    hand_edited = recorded is not None and not np.allclose(matrix, json.loads(recorded), atol=1e-6)
    scene = node.GetScene()
    planning = daily = None
    if scene is not None:
        planning = scene.GetNodeByID(node.GetNodeReferenceID(transforms.fixed_role()) or "")
        daily = scene.GetNodeByID(node.GetNodeReferenceID(transforms.moving_role()) or "")
    planning_identity, daily_identity = _node_identity(planning), _node_identity(daily)
    orientation = node.GetAttribute("IGRT.PatientPosition") or planning_identity.get("patient_position")
    return {
        "kind": RESULT_KIND,
        "matrix_lps": matrix.tolist(),
        "planning_isocenter_lps": [float(v) for v in planning_iso],
        "daily_isocenter_lps": [float(v) for v in daily_iso],
        "translation_mm": [float(v) for v in geometry.displacement_at(matrix, planning_iso)],
        "translation_sense": "patient is displaced (LPS x=left, y=posterior, z=superior), at the isocenter",
        "orientation": orientation.upper() if orientation else None,
        "hand_edited": bool(hand_edited),
        "quality": {"uncertainty": transforms.uncertainty_of(node, hand_edited)},
        "inputs": {"planning": planning_identity, "daily": daily_identity},
        "planning_node_id": planning.GetID() if planning is not None else None,
        "daily_node_id": daily.GetID() if daily is not None else None,
    }


# --------------------------------------------------------------------------------------------------
# Segments → LPS points


def ensure_conversion_rules() -> None:
    """Register the labelmap ↔ closed surface converters when nobody has (slicer-core has none;
    inside Slicer the Segmentations module registered them already)."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    have = {
        (r.GetSourceRepresentationName(), r.GetTargetRepresentationName())
        for r in factory.GetConverterRules()
    }
    for rule_class, pair in (
        (slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule, (LABELMAP, SURFACE)),
        (slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule, (SURFACE, LABELMAP)),
    ):
        if pair not in have:
            factory.RegisterConverterRule(rule_class())


ensure_conversion_rules()  # as the Segmentations module does at Slicer start-up (no-op inside Slicer)


def find_segment_id(segmentation_node, segment: str) -> str:
    """Segment ID from an ID or a segment name; one clear line when there is no such segment."""
    if segmentation_node is None:
        raise IGRTInputError("select the planning segmentation")
    seg = segmentation_node.GetSegmentation()
    if segment and seg.GetSegment(segment) is not None:
        return segment
    found = seg.GetSegmentIdBySegmentName(segment or "")
    if not found:
        raise IGRTInputError(f"segmentation {segmentation_node.GetName()!r} has no segment {segment!r}")
    return found


def _segmentation_with(segmentation_node, segment_id: str, name: str, create: bool):
    """The vtkSegmentation that holds ``name`` for the segment: the node's own, or (``create``) a
    temporary copy converted to it, so that the user's node is never modified."""
    seg = segmentation_node.GetSegmentation()
    if seg.ContainsRepresentation(name):
        return seg
    if not create:
        return None
    ensure_conversion_rules()  # a new vtkSegmentation copies the registered rules when it is made
    tmp = slicer.vtkSegmentation()
    tmp.SetSourceRepresentationName(seg.GetSourceRepresentationName())
    tmp.CopyConversionParameters(seg)
    tmp.CopySegmentFromSegmentation(seg, segment_id)
    return tmp if tmp.CreateRepresentation(name) else None


def _labelmap_voxels_ras(segmentation_node, segment_id: str, boundary_only: bool, create: bool = False):
    """RAS centers of the segment's labelmap voxels (all, or those with an outside 6-neighbour)."""
    seg = _segmentation_with(segmentation_node, segment_id, LABELMAP, create)
    image = seg.GetSegment(segment_id).GetRepresentation(LABELMAP) if seg is not None else None
    if image is None or image.GetPointData().GetScalars() is None:
        return None
    extent = image.GetExtent()
    dims = [extent[2 * i + 1] - extent[2 * i] + 1 for i in range(3)]
    if min(dims) <= 0:
        return np.zeros((0, 3))
    label = seg.GetSegment(segment_id).GetLabelValue()
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1]) == label
    if boundary_only:
        padded = np.pad(array, 1)
        inner = array.copy()
        for axis in range(3):
            for step in (-1, 1):
                inner &= np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
        array = array & ~inner
    kji = np.argwhere(array)
    ijk = kji[:, ::-1] + np.array([extent[0], extent[2], extent[4]])
    m = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(m)
    to_ras = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
    return geometry.apply(to_ras, ijk.astype(float))


def _surface_points_ras(segmentation_node, segment_id: str, create: bool):
    seg = _segmentation_with(segmentation_node, segment_id, SURFACE, create)
    poly = seg.GetSegment(segment_id).GetRepresentation(SURFACE) if seg is not None else None
    if poly is None or poly.GetNumberOfPoints() == 0:
        return None, None
    return numpy_support.vtk_to_numpy(poly.GetPoints().GetData()).astype(float), poly


def _check_untransformed(segmentation_node) -> None:
    if segmentation_node.GetParentTransformNode() is not None:
        raise IGRTInputError(
            f"segmentation {segmentation_node.GetName()!r} is under a transform; the target must be in the "
            "planning frame (remove the transform)"
        )


def segment_points_lps(segmentation_node, segment: str) -> np.ndarray:
    """N×3 LPS points that span the segment: closed-surface vertices, else boundary voxel centers.

    The residual of a rigid error is a convex function of position, so its largest value over the
    structure is reached at an extreme point: the surface (or the boundary voxels) is enough.
    """
    segment_id = find_segment_id(segmentation_node, segment)
    _check_untransformed(segmentation_node)
    seg = segmentation_node.GetSegmentation()
    ras, _ = _surface_points_ras(segmentation_node, segment_id, create=False)
    if ras is None:
        ras = _labelmap_voxels_ras(segmentation_node, segment_id, boundary_only=True)
    if ras is None:
        ras, _ = _surface_points_ras(segmentation_node, segment_id, create=True)
    if ras is None or len(ras) == 0:
        raise IGRTInputError(f"segment {seg.GetSegment(segment_id).GetName()!r} is empty")
    return geometry.ras_to_lps_point(ras)


def _mesh_centroid(poly) -> np.ndarray | None:
    """Volume centroid of a closed triangle mesh (divergence theorem over signed tetrahedra)."""
    tri = vtk.vtkTriangleFilter()
    tri.SetInputData(poly)
    tri.Update()
    out = tri.GetOutput()
    points = numpy_support.vtk_to_numpy(out.GetPoints().GetData()).astype(float)
    cells = numpy_support.vtk_to_numpy(out.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    a, b, c = points[cells[:, 0]], points[cells[:, 1]], points[cells[:, 2]]
    signed = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    volume = signed.sum()
    if abs(volume) < 1e-9:
        return None
    return ((a + b + c) / 4.0 * signed[:, None]).sum(axis=0) / volume


def segment_centroid_lps(segmentation_node, segment: str) -> np.ndarray:
    """Volume centroid (LPS) of a segment: mean of its labelmap voxel centers, else of its closed surface."""
    segment_id = find_segment_id(segmentation_node, segment)
    _check_untransformed(segmentation_node)
    name = segmentation_node.GetSegmentation().GetSegment(segment_id).GetName()
    ras = _labelmap_voxels_ras(segmentation_node, segment_id, boundary_only=False)
    if ras is not None and len(ras):
        return geometry.ras_to_lps_point(ras.mean(axis=0))
    _, poly = _surface_points_ras(segmentation_node, segment_id, create=True)
    centroid = _mesh_centroid(poly) if poly is not None else None
    if centroid is None:
        ras = _labelmap_voxels_ras(segmentation_node, segment_id, boundary_only=False, create=True)
        centroid = ras.mean(axis=0) if ras is not None and len(ras) else None
    if centroid is None:
        raise IGRTInputError(f"segment {name!r} is empty")
    return geometry.ras_to_lps_point(centroid)


# --------------------------------------------------------------------------------------------------
# Tolerances and display profiles: igrt.couch.tolerance


def tolerance_profile_names() -> list[str]:
    """Tolerance profiles (the default first)."""
    return tolerance.tolerance_profile_names()


def display_profile_names() -> list[str]:
    """Display profiles (IEC 61217 "couch moves" first); they only relabel or negate (docs/CONVENTIONS.md)."""
    return tolerance.display_profile_names()


def display_rows(shift: dict, profile: str | None) -> list[tuple[str, float, str, str]]:
    """(axis label, value, unit, sense) of the six couch axes under a display profile."""
    return tolerance.display_rows(shift, profile)


# --------------------------------------------------------------------------------------------------
# The shift


def evaluate_shift(
    result: dict,
    orientation: str | None,
    couch_model: str = "6dof",
    max_rotation_deg: float | None = None,
    target_lps=None,
    target_points_lps=None,
    tolerance_profile: str | None = None,
) -> dict:
    """The couch shift workflow (``igrt.couch.workflow.couch_shift``) on a result read from the scene,
    flattened for the shift table (``igrt.couch.shift.couch_summary``). No rule of its own.

    ``result`` is what :func:`result_from_transform_node` returns (hand edits included); ``orientation``
    None takes the result's patient position by the core's rule (``igrt.patient_position.resolve``).
    """
    document = couch_shift(
        {"schema_version": SCHEMA_VERSION, **result},
        couch=couch_model,
        max_rotation_deg=max_rotation_deg,
        orientation=orientation,
        target_lps=target_lps,
        target_points_lps=target_points_lps,
        tolerance_profile=tolerance_profile,
        source="the match transform",
    )
    return couch_summary(document)


def shift_rows(shift: dict, display_profile: str | None = None) -> list[tuple[str, float, str, str]]:
    """Table rows: the six couch axes (profile sense), then the verdict (in the sense column) and residuals."""
    rows = [
        (label, round(value, 2), unit, sense)
        for label, value, unit, sense in display_rows(shift, display_profile)
    ]
    rows.append(("verdict", float("nan"), "", shift.get("verdict", "")))
    rows.append(
        ("residual at isocenter", round(shift["residual_at_isocenter_mm"], 2), "mm", "after the correction")
    )
    target_sense = (
        "after the correction, at the target point" if shift.get("target_lps") else "target = isocenter"
    )
    rows.append(("residual at target", round(shift["residual_at_target_mm"], 2), "mm", target_sense))
    if shift.get("residual_max_over_target_mm") is not None:
        rows.append(
            (
                "largest residual over target structure",
                round(shift["residual_max_over_target_mm"], 2),
                "mm",
                "after the correction",
            )
        )
    for key, value in (shift.get("uncorrected_rotation_deg") or {}).items():
        if abs(value) > 5e-3:
            label = dict((k, lab) for k, lab, _ in AXES)[key]
            rows.append((f"{label} not corrected", round(value, 2), "deg", "left by the couch limits"))
    return rows


#: Columns of the shift table; the verdict is a row of its own and a node attribute.
COLUMNS = ("axis", "value", "unit", "sense")


def update_shift_table(node, shift: dict, display_profile: str | None = None):
    """Replace the table's content with the couch shift (axes, verdict, residuals)."""
    rows = shift_rows(shift, display_profile)
    tables.write_rows(node, rows, COLUMNS)
    node.SetAttribute(ATTR_VERDICT, shift.get("verdict", ""))
    node.SetAttribute(ATTR_SHIFT, json.dumps(_jsonable(shift)))
    node.SetAttribute(
        ATTR_SENSE, f"couch axes: {rows[0][3]}; {shift.get('orientation', '')} IEC 61217 table top"
    )
    node.Modified()
    return node


def shift_table_node(
    scene, shift: dict, display_profile: str | None = None, node=None, name="IGRT couch shift"
):
    """Create (or update) the shift table node."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    return update_shift_table(node, shift, display_profile)


def read_table(node) -> list[tuple[str, float, str, str]]:
    """The rows of a shift table node, as written (for tests and reports)."""
    table = node.GetTable()
    return [
        (
            table.GetValue(i, 0).ToString(),
            table.GetValue(i, 1).ToDouble(),
            table.GetValue(i, 2).ToString(),
            table.GetValue(i, 3).ToString(),
        )
        for i in range(table.GetNumberOfRows())
    ]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
