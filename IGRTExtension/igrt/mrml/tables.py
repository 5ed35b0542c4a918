"""Match result → vtkMRMLTableNode, with every number saying in words what it means (docs/CONVENTIONS.md).

Rows come from the result JSON (``MatchResult.to_dict()``), so the table and the JSON never disagree.
"""

from __future__ import annotations

import vtk

from igrt.couch.correction import COUCH_MOVES, PATIENT_DISPLACED

COLUMNS = ("quantity", "value", "unit", "sense")
PATIENT = PATIENT_DISPLACED
COUCH = COUCH_MOVES


def result_rows(result_json: dict) -> list[tuple[str, float, str, str]]:
    """(quantity, value, unit, sense) rows: displacement at the isocenter, then the couch correction."""
    t, r = result_json["translation_mm"], result_json["rotation_deg"]
    rows = [
        ("translation x (+ = towards patient left)", t[0], "mm", PATIENT),
        ("translation y (+ = towards patient posterior)", t[1], "mm", PATIENT),
        ("translation z (+ = towards patient superior)", t[2], "mm", PATIENT),
        ("rotation about x (left axis)", r[0], "deg", PATIENT),
        ("rotation about y (posterior axis)", r[1], "deg", PATIENT),
        ("rotation about z (superior axis)", r[2], "deg", PATIENT),
    ]
    couch = result_json.get("couch") or {}
    for key, label, unit in (
        ("lateral_mm", "couch lateral", "mm"),
        ("longitudinal_mm", "couch longitudinal", "mm"),
        ("vertical_mm", "couch vertical", "mm"),
        ("rotation_deg", "couch rotation", "deg"),
        ("pitch_deg", "couch pitch", "deg"),
        ("roll_deg", "couch roll", "deg"),
    ):
        if key in couch:
            rows.append(
                (f"{label} ({couch.get('orientation', '')} IEC 61217 table top)", couch[key], unit, COUCH)
            )
    quality = result_json.get("quality") or {}
    if "similarity_after" in quality:
        rows.append(("similarity after match (NCC)", quality["similarity_after"], "", "quality"))
    return [(q, round(float(v), 2), u, s) for q, v, u, s in rows]


def write_rows(node, rows, columns=COLUMNS) -> None:
    """Replace a table node's content with (label, value, unit, sense) rows under ``columns``."""
    table = node.GetTable()
    table.Initialize()
    arrays = [vtk.vtkStringArray(), vtk.vtkDoubleArray(), vtk.vtkStringArray(), vtk.vtkStringArray()]
    for array, name in zip(arrays, columns, strict=True):
        array.SetName(name)
        table.AddColumn(array)
    table.SetNumberOfRows(len(rows))
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            table.SetValue(i, j, value)


def update_table_node(node, result_json: dict):
    """Replace the table's content with the rows of ``result_json``."""
    write_rows(node, result_rows(result_json))
    node.SetAttribute("IGRT.Sense", "translation/rotation: patient is displaced; couch rows: couch moves")
    node.Modified()
    return node


def table_node_from_result(scene, result_json: dict, node=None, name="IGRT match result"):
    """Create (or update) the result table node."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    return update_table_node(node, result_json)
