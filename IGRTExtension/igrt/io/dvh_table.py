"""Cumulative DVH tables exported by a planning system or SlicerRT (CSV), to compare DVHs against.

Both exports put two columns per structure: ``<name>… Dose (Gy)`` and ``<name>… Value (% of V cc)``
(Eclipse via SlicerRT: ``BODY_DvhArray Dose (Gy)``; SlicerRT: ``BODY Dose (GY)``), rows from 0 Gy up,
columns of different lengths padded with empty cells. A row whose dose does not rise above the row
before is dropped and counted (``dropped_rows``): SlicerRT's copy of the Eclipse prostate table has one,
35.604 Gy written as 0.00035604 between 35.558 and 35.65 Gy.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from igrt.errors import IGRTInputError

_VALUE = re.compile(r"^(?P<name>.*?)(_DvhArray)?\s+Value \(% of (?P<cc>[0-9.eE+-]+) cc\)\s*$")


def volume_header(title: str) -> tuple[str, float] | None:
    """(structure name, total volume cc) of a ``<name> Value (% of V cc)`` column title, else None."""
    m = _VALUE.match(title.strip())
    return (m.group("name").strip(), float(m.group("cc"))) if m else None


def curve_from_cells(dose_cells, pct_cells) -> dict:
    """``{dose_gy, volume_pct, dropped_rows}`` of a dose column and its volume column (text or numbers).

    Empty cells (padding) end the curve; a row whose dose does not rise above the row before is dropped
    and counted.
    """
    dose, pct, dropped = [], [], 0
    for d, v in zip(dose_cells, pct_cells, strict=False):
        if str(d).strip() == "" or str(v).strip() == "":
            continue
        d = float(d)
        if dose and d <= dose[-1]:
            dropped += 1
            continue
        dose.append(d)
        pct.append(float(v))
    return {"dose_gy": np.asarray(dose), "volume_pct": np.asarray(pct), "dropped_rows": dropped}


def read_dvh_table(path) -> dict[str, dict]:
    """{structure name: {"volume_cc", "dose_gy" array, "volume_pct" array}} of a DVH table CSV."""
    try:
        rows = list(csv.reader(Path(path).read_text().splitlines()))
    except OSError as e:
        raise IGRTInputError(f"cannot read DVH table {path}: {e}") from e
    if not rows:
        raise IGRTInputError(f"{path}: empty DVH table")
    header = [h.strip() for h in rows[0]]
    out = {}
    for j in range(1, len(header)):
        found = volume_header(header[j])
        if not found or "Dose" not in header[j - 1]:
            continue
        column = [(r[j - 1], r[j]) if len(r) > j else ("", "") for r in rows[1:]]
        out[found[0]] = {"volume_cc": found[1], **curve_from_cells(*zip(*column, strict=True))}
    if not out:
        raise IGRTInputError(f"{path}: no '<name> Value (% of V cc)' column: not a DVH table")
    return out
