"""SlicerRT's Dose Volume Histogram as the DVH engine where SlicerRT is present, the igrt core otherwise.

Which engine: :func:`dvh_engine` ("auto": SlicerRT when its DoseVolumeHistogram module is loaded, i.e.
inside Slicer with SlicerRT installed; never under the ``slicer-core`` wheel, which has no SlicerRT).

SlicerRT's tables, as its sources lay them out (SlicerRt/SlicerRT, DoseVolumeHistogram/Logic/
vtkSlicerDoseVolumeHistogramModuleLogic.cxx, ``ComputeDvh`` and ``ExportDvhToCsv``):

- one table node per segment, named ``<segment ID>_DvhTable``: column 0 ``Dose`` (Gy; ``Intensity`` for
  a volume not marked as dose), column 1 ``Volume`` (% of the segment receiving at least that dose),
  first row (0 Gy, 100 %), then 0.1 Gy + k · 0.2 Gy; the segment's volume in the attribute
  ``DoseVolumeHistogram.Volume (cc)``, its ID in ``DoseVolumeHistogram.SegmentID``. The metrics table
  holds a node reference to it with role ``vtkMRMLDoseVolumeHistogramNode.AssembleDvhNodeReference``.
- the CSV export (and a table node read from it): for each structure the pair ``<name> Dose (<unit>)``,
  ``<name> Value (% of <V> cc)`` — the same two columns side by side, padded with empty cells.

:func:`curves_from_table_node` reads either layout; metrics come from the curves through
:func:`igrt.dose.dvh.metrics_from_curve`, so the keys are the core's.

The fraction DVH (static dose cloud, README "Approximation"): SlicerRT's DVH of the planned segmentation
on the dose seen by the planned anatomy, D(M·p) on the dose grid
(:func:`igrt.dose.seen_dose.dose_seen_by_planned_anatomy`, LPS inside; the node is made in RAS by
:mod:`igrt.mrml.volumes`). The planned DVH is SlicerRT's on the planned dose itself (what the same rule
gives with M = identity, voxel for voxel, without resampling), and both dose nodes are marked alike.
"""

from __future__ import annotations

import slicer

from igrt.dose.corrections import AnatomyPlacement
from igrt.dose.model import Dose, StructureSet
from igrt.dose.seen_dose import dose_seen_by_planned_anatomy
from igrt.dose.workflow import CORE_ENGINE, check_for_curves, compute_impact, impact_from_curves
from igrt.errors import IGRTInputError
from igrt.io.dvh_table import curve_from_cells, volume_header
from igrt.mrml.dose import DOSE_UNIT_ATTRIBUTE, DOSE_VOLUME_ATTRIBUTE
from igrt.mrml.volumes import node_from_image

SLICERRT_ENGINE = "SlicerRT DoseVolumeHistogram"
ENGINES = ("auto", "slicerrt", "core")
VOLUME_CC_ATTRIBUTE = "DoseVolumeHistogram.Volume (cc)"  # DVH_ATTRIBUTE_PREFIX + DVH_METRIC_TOTAL_VOLUME_CC
SEGMENT_ID_ATTRIBUTE = "DoseVolumeHistogram.SegmentID"
TABLE_NAME_POSTFIX = "_DvhTable"
DOSE_VOLUME_REFERENCE_ROLE = "doseVolumeRef"  # vtkMRMLDoseVolumeHistogramNode::DOSE_VOLUME_REFERENCE_ROLE


def slicerrt_available() -> bool:
    """True inside Slicer with SlicerRT's Dose Volume Histogram module loaded (never under slicer-core)."""
    modules = getattr(slicer, "modules", None)
    return bool(modules is not None and hasattr(modules, "dosevolumehistogram")) and hasattr(
        slicer, "vtkMRMLDoseVolumeHistogramNode"
    )


def dvh_engine(choice: str = "auto") -> str:
    """The engine that computes the DVHs: ``auto`` (SlicerRT where present, else the core), or forced."""
    if choice not in ENGINES:
        raise IGRTInputError(f"DVH engine {choice!r}: expected one of {', '.join(ENGINES)}")
    if choice == "core" or (choice == "auto" and not slicerrt_available()):
        return CORE_ENGINE
    if not slicerrt_available():
        raise IGRTInputError("SlicerRT's Dose Volume Histogram module is not loaded: install SlicerRT")
    return SLICERRT_ENGINE


def _column_cells(table, j: int) -> list:
    column = table.GetColumn(j)
    return [column.GetValue(i) for i in range(table.GetNumberOfRows())]


def curves_from_table_node(table_node) -> dict[str, dict]:
    """{structure: {volume_cc, dose_gy, volume_pct, dropped_rows}} of a SlicerRT DVH table node.

    A per-segment table (``Dose``/``Intensity`` and ``Volume`` columns) is named by its segment ID
    attribute (or its node name without ``_DvhTable``); an export table by its column titles.
    """
    table = table_node.GetTable()
    titles = [table.GetColumnName(j) or "" for j in range(table.GetNumberOfColumns())]
    if len(titles) >= 2 and titles[0] in ("Dose", "Intensity") and titles[1] == "Volume":
        volume = table_node.GetAttribute(VOLUME_CC_ATTRIBUTE)
        if volume is None:
            raise IGRTInputError(
                f"DVH table {table_node.GetName()!r} has no {VOLUME_CC_ATTRIBUTE!r} attribute"
            )
        name = table_node.GetAttribute(SEGMENT_ID_ATTRIBUTE) or (table_node.GetName() or "").removesuffix(
            TABLE_NAME_POSTFIX
        )
        curve = curve_from_cells(_column_cells(table, 0), _column_cells(table, 1))
        return {name: {"volume_cc": float(volume), **curve}}
    out = {}
    for j in range(1, len(titles)):
        found = volume_header(titles[j])
        if found and "Dose" in titles[j - 1]:
            out[found[0]] = {
                "volume_cc": found[1],
                **curve_from_cells(_column_cells(table, j - 1), _column_cells(table, j)),
            }
    if not out:
        raise IGRTInputError(f"table {table_node.GetName()!r} is not a SlicerRT DVH table")
    return out


def _slicerrt_curves(dose_node, segmentation_node, segment_ids: list[str]) -> dict[str, dict]:
    """{segment ID: curve} of SlicerRT's ComputeDvh on ``dose_node``; its temporary nodes removed."""
    scene = dose_node.GetScene()
    logic = slicer.modules.dosevolumehistogram.logic()
    parameters = scene.AddNewNodeByClass("vtkMRMLDoseVolumeHistogramNode", "IGRT DVH (SlicerRT)")
    created = [parameters]
    try:
        parameters.SetAndObserveDoseVolumeNode(dose_node)
        parameters.SetAndObserveSegmentationNode(segmentation_node)
        try:  # std::vector<std::string> argument; when not wrapped, every segment is computed
            parameters.SetSelectedSegmentIDs(list(segment_ids))
        except (TypeError, AttributeError):
            pass
        error = logic.ComputeDvh(parameters)
        if error:
            raise IGRTInputError(f"SlicerRT's DVH of {dose_node.GetName()!r}: {error}")
        metrics = parameters.GetMetricsTableNode()
        created.append(metrics)
        tables = scene.GetNodesByClass("vtkMRMLTableNode")
        created += [  # every DVH table SlicerRT made on this (temporary) dose node
            tables.GetItemAsObject(i)
            for i in range(tables.GetNumberOfItems())
            if tables.GetItemAsObject(i).GetNodeReferenceID(DOSE_VOLUME_REFERENCE_ROLE) == dose_node.GetID()
        ]
        out = {}
        for segment_id in segment_ids:
            table = metrics.GetNodeReference(parameters.AssembleDvhNodeReference(segment_id))
            if table is None:
                raise IGRTInputError(f"SlicerRT gave no DVH for segment {segment_id!r}")
            (curve,) = curves_from_table_node(table).values()
            out[segment_id] = curve
        return out
    finally:
        for node in dict.fromkeys(created):  # each once
            scene.RemoveNode(node)


def _dose_node(scene, dose: Dose, name: str, unit: str):
    """A temporary scalar volume node of ``dose`` marked as a SlicerRT dose volume (Gy bins)."""
    node = node_from_image(scene, dose.image, name)
    node.SetAttribute(DOSE_VOLUME_ATTRIBUTE, "1")
    node.SetAttribute(DOSE_UNIT_ATTRIBUTE, unit)
    return node


def impact_with_slicerrt(
    dose: Dose, structures: StructureSet, placement: AnatomyPlacement, segmentation_node
) -> dict:
    """The dose-impact document with SlicerRT's DVHs (planned, and of the dose seen by the planned anatomy).

    The core's checks (frames, structures outside the dose grid) run first, before SlicerRT's work.
    """
    checked = check_for_curves(dose, structures, placement)
    scene = segmentation_node.GetScene()
    seg = segmentation_node.GetSegmentation()
    ids = {s.name: seg.GetSegmentIdBySegmentName(s.name) for s in checked.inside}
    curves = {}
    for role in ("planned", "fraction"):
        # the planned anatomy sees the planned dose as it is (M = identity gives it back, 5e-14 Gy, in ~1 s)
        seen = dose if role == "planned" else dose_seen_by_planned_anatomy(dose, placement.matrix_lps)
        node = _dose_node(scene, seen, f"IGRT dose seen by the planned anatomy ({role})", dose.units)
        try:
            curves[role] = _slicerrt_curves(node, segmentation_node, list(ids.values()))
        finally:
            scene.RemoveNode(node)
    rows = [
        {
            "name": s.name,
            "color": s.color,
            "volume_cc": curves["planned"][ids[s.name]]["volume_cc"],
            **{role: curves[role][ids[s.name]] for role in ("planned", "fraction")},
        }
        for s in checked.inside
    ]
    return impact_from_curves(checked, rows, SLICERRT_ENGINE)


def impact_on_nodes(
    engine: str, dose: Dose, structures: StructureSet, placement: AnatomyPlacement, segmentation_node
) -> dict:
    """The dose-impact document of one placement by ``engine`` (:func:`dvh_engine`'s answer)."""
    if engine == SLICERRT_ENGINE:
        return impact_with_slicerrt(dose, structures, placement, segmentation_node)
    return compute_impact(dose, structures, [placement])
