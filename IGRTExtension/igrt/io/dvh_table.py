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
        m = _VALUE.match(header[j])
        if not m or "Dose" not in header[j - 1]:
            continue
        dose, pct, dropped = [], [], 0
        for r in rows[1:]:
            if len(r) > j and r[j - 1].strip() and r[j].strip():
                d = float(r[j - 1])
                if dose and d <= dose[-1]:
                    dropped += 1
                    continue
                dose.append(d)
                pct.append(float(r[j]))
        out[m.group("name").strip()] = {
            "volume_cc": float(m.group("cc")),
            "dose_gy": np.asarray(dose),
            "volume_pct": np.asarray(pct),
            "dropped_rows": dropped,
        }
    if not out:
        raise IGRTInputError(f"{path}: no '<name> Value (% of V cc)' column: not a DVH table")
    return out
