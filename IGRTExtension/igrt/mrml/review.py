"""A study review on MRML nodes: statistics and protocol tables, shift-history and population-scatter
charts, and one fraction's images and match transform loaded from a study folder.

The numbers come from the core review workflow (:func:`igrt.review.workflow.review`, read with
:func:`igrt.review.table.read_shift_table`); this module only converts them to table, plot series and
plot chart nodes. Every plotted set-up error is **patient is displaced** (− the couch correction, IEC
61217 table-top axes), and the nodes say so (attribute ``IGRT.Sense``).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import slicer
import vtk

from igrt.errors import IGRTInputError
from igrt.review.statistics import per_patient
from igrt.review.table import ShiftTable

SENSE = "set-up error, patient is displaced (= − couch correction), IEC 61217 table-top axes"
AXES = ("lateral", "longitudinal", "vertical")
AXIS_COLORS = ((0.85, 0.2, 0.2), (0.2, 0.6, 0.2), (0.2, 0.3, 0.85))


def _table(scene, node, name):
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    node.GetTable().Initialize()
    return node


def _columns(node, strings, numbers) -> None:
    table = node.GetTable()
    for title in strings:
        a = vtk.vtkStringArray()
        a.SetName(title)
        table.AddColumn(a)
    for title in numbers:
        a = vtk.vtkDoubleArray()
        a.SetName(title)
        table.AddColumn(a)


def _fill(node, rows) -> None:
    table = node.GetTable()
    table.SetNumberOfRows(len(rows))
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            table.SetValue(i, j, float("nan") if v is None else v)
    node.SetAttribute("IGRT.Sense", SENSE)
    node.Modified()


def statistics_table_node(scene, stats: dict, node=None, name: str = "IGRT population statistics"):
    """One row per axis: M, Σ, σ, van Herk and Stroom margins (mm or degrees; a missing value is NaN)."""
    node = _table(scene, node, name)
    _columns(node, ("axis", "unit"), ("M", "Sigma", "sigma", "margin van Herk", "margin Stroom"))
    rows = []
    for axis, a in stats["axes"].items():
        u = "mm" if "M_mm" in a else "deg"
        keys = ("M", "Sigma", "sigma", "margin_van_herk", "margin_stroom")
        rows.append((axis, u, *[a[f"{k}_{u}"] for k in keys]))
    _fill(node, rows)
    node.SetAttribute("IGRT.Notes", " | ".join(stats["notes"]))
    return node


def protocols_table_node(scene, stats: dict, node=None, name: str = "IGRT offline protocols"):
    """One row per protocol: imaged fractions, then residual Σ, σ and van Herk margin per translation axis."""
    node = _table(scene, node, name)
    numbers = ["imaged fractions"] + [f"{a} {q} (mm)" for a in AXES for q in ("Sigma", "sigma", "van Herk")]
    _columns(node, ("protocol",), numbers)
    rows = []
    for protocol, p in stats["protocols"].items():
        values = [float(p["imaged_fractions"])]
        for a in AXES:
            ax = p["axes"][a]
            values += [ax["Sigma_mm"], ax["sigma_mm"], ax["margin_van_herk_mm"]]
        rows.append((protocol, *values))
    _fill(node, rows)
    return node


def _series(scene, chart, table_node, x, y, name, color, scatter_only=False):
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    series.SetAndObserveTableNodeID(table_node.GetID())
    series.SetXColumnName(x)
    series.SetYColumnName(y)
    series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
    if scatter_only:
        series.SetLineStyle(slicer.vtkMRMLPlotSeriesNode.LineStyleNone)
    series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
    series.SetColor(*color)
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return series


def _chart(scene, chart, name):
    if chart is None:
        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    old = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    chart.RemoveAllPlotSeriesNodeIDs()
    for series in old:
        if series is not None:
            scene.RemoveNode(series)
    return chart


def shift_history(scene, table: ShiftTable, patient: str, nodes: dict | None = None) -> dict:
    """A patient's set-up error per fraction: table (order, fraction, three axes in mm) and a chart.

    Returns ``{"table": vtkMRMLTableNode, "chart": vtkMRMLPlotChartNode}`` (``nodes`` are reused).
    """
    nodes = nodes or {}
    if patient not in table.patients:
        raise IGRTInputError(f"patient {patient!r} is not in the study table")
    sel = table.group == table.patients.index(patient)
    node = _table(scene, nodes.get("table"), f"IGRT shift history {patient}")
    _columns(node, ("fraction",), ("order", *[f"{a} (mm)" for a in AXES]))
    fractions = np.asarray(table.fractions, dtype=object)[sel]
    _fill(
        node,
        [
            (str(f), float(o), *map(float, e[:3]))
            for f, o, e in zip(fractions, table.position[sel], table.errors[sel], strict=True)
        ],
    )
    chart = _chart(scene, nodes.get("chart"), f"IGRT shift history {patient}")
    for a, color in zip(AXES, AXIS_COLORS, strict=True):
        _series(scene, chart, node, "order", f"{a} (mm)", f"{patient} {a}", color)
    chart.SetTitle(f"{patient}: set-up error per fraction (patient is displaced)")
    chart.SetXAxisTitle("fraction (order)")
    chart.SetYAxisTitle("set-up error (mm)")
    return {"table": node, "chart": chart}


def population_scatter(scene, table: ShiftTable, x: str = "lateral", y: str = "vertical", nodes=None) -> dict:
    """Every fraction's set-up error and every patient's mean m_p, ``x`` against ``y`` (mm), as a chart."""
    nodes = nodes or {}
    ix, iy = AXES.index(x), AXES.index(y)
    means = per_patient(table.group, table.errors[:, :3], len(table.patients))[1]
    fr = _table(scene, nodes.get("fractions"), "IGRT population fractions")
    _columns(fr, ("patient", "fraction"), (f"{x} (mm)", f"{y} (mm)"))
    _fill(
        fr,
        [
            (table.patients[g], str(f), float(e[ix]), float(e[iy]))
            for g, f, e in zip(table.group, table.fractions, table.errors, strict=True)
        ],
    )
    mp = _table(scene, nodes.get("means"), "IGRT population patient means")
    _columns(mp, ("patient",), (f"{x} (mm)", f"{y} (mm)"))
    _fill(mp, [(p, float(m[ix]), float(m[iy])) for p, m in zip(table.patients, means, strict=True)])
    chart = _chart(scene, nodes.get("chart"), "IGRT population scatter")
    _series(scene, chart, fr, f"{x} (mm)", f"{y} (mm)", "fractions", (0.3, 0.45, 0.7), scatter_only=True)
    _series(
        scene, chart, mp, f"{x} (mm)", f"{y} (mm)", "patient means m_p", (0.8, 0.2, 0.2), scatter_only=True
    )
    chart.SetTitle("Population: set-up error per fraction and patient means (patient is displaced)")
    chart.SetXAxisTitle(f"{x} (mm)")
    chart.SetYAxisTitle(f"{y} (mm)")
    return {"fractions": fr, "means": mp, "chart": chart}


def load_fraction(scene, study_dir, patient: str, fraction: str) -> dict:
    """One fraction of a study folder in the scene: planning and daily volume nodes and the match transform.

    Reads ``fractions/<patient>/<fraction>/result.json`` and the image paths its ``shift.json`` recorded;
    a fraction that failed or is incomplete is refused with one line.
    """
    from igrt.io.volumes import read_volume
    from igrt.mrml.transforms import transform_node_from_result
    from igrt.mrml.volumes import node_from_volume
    from igrt.result import load_result

    folder = Path(study_dir) / "fractions" / patient / fraction
    if (folder / "failure.json").is_file():
        reason = json.loads((folder / "failure.json").read_text()).get("reason", "")
        raise IGRTInputError(f"fraction {patient}/{fraction} failed: {reason}")
    try:
        shift = json.loads((folder / "shift.json").read_text())
        spec = shift["inputs"]["study_fraction"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IGRTInputError(f"fraction {patient}/{fraction} is not complete in {study_dir}") from exc
    result = load_result(folder / "result.json")
    planning = node_from_volume(scene, read_volume(spec["planning"]), f"{patient} {fraction} planning")
    daily = node_from_volume(scene, read_volume(spec["daily"]), f"{patient} {fraction} daily")
    placed = SimpleNamespace(
        **{k: result[k] for k in ("matrix_lps", "planning_isocenter_lps", "daily_isocenter_lps")}
    )
    transform = transform_node_from_result(
        scene, placed, planning, daily, name=f"IGRT match {patient} {fraction}"
    )
    return {"planning": planning, "daily": daily, "transform": transform, "result": result, "shift": shift}
