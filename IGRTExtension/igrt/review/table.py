"""Read a table of per-fraction couch corrections (``study.csv`` or a review station's export).

Columns (header names are case- and space-insensitive): ``patient``, ``fraction``, ``lateral_mm``,
``longitudinal_mm``, ``vertical_mm`` (IEC 61217 table top, **couch moves**), optionally all three of
``rotation_deg``, ``pitch_deg``, ``roll_deg``, and optionally ``status``: a row whose status is not
``ok`` (a failed fraction of ``igrt study run``) is left out and listed, never read as zeros.

The set-up error of a fraction is the patient displacement, the negative of its couch correction
(docs/CONVENTIONS.md: the couch correction brings the displaced anatomy back; to first order it is the
displacement negated, exactly so for the translations at the isocenter when there is no rotation).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from pathlib import Path

import numpy as np

from igrt.errors import IGRTInputError

TRANSLATION_COLUMNS = ("lateral_mm", "longitudinal_mm", "vertical_mm")
ROTATION_COLUMNS = ("rotation_deg", "pitch_deg", "roll_deg")
REQUIRED_COLUMNS = ("patient", "fraction", *TRANSLATION_COLUMNS)


@dataclasses.dataclass
class ShiftTable:
    """Fractions sorted by patient, then by the ``fraction`` column.

    ``errors`` (n, k): set-up errors, **patient is displaced** (= − couch correction), mm then degrees,
    columns named by ``columns`` (the couch column names). ``group`` (n,) patient index into
    ``patients``; ``position`` (n,) 1-based order of the fraction within its patient.
    """

    path: str
    patients: list
    fractions: list
    group: np.ndarray
    position: np.ndarray
    errors: np.ndarray
    columns: tuple
    excluded: list
    fraction_order: str


def _natural_key(label: str) -> tuple:
    """F2 before F10: digit runs compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", label) if p)


def finite_number(text: str, where: str) -> float:
    """``float(text)``, refusing text that is not a finite number in one line naming ``where``."""
    try:
        value = float(text)
    except ValueError:
        raise IGRTInputError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise IGRTInputError(f"{where}: {text!r} is not a finite number")
    return value


def read_rows(path) -> tuple[list[str], list[dict]]:
    """(normalised header, rows as dicts) of a CSV file; one clear line when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IGRTInputError(f"cannot read table {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        reader = csv.reader(text.splitlines())
        header = [h.strip().lower() for h in next(reader, [])]
        rows = [r for r in reader if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise IGRTInputError(f"{path}: not a CSV table ({exc})") from exc
    if not header or not any(header):
        raise IGRTInputError(f"{path}: empty table (no header row)")
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise IGRTInputError(f"{path}: column(s) {', '.join(dupes)} appear more than once")
    out = []
    for i, r in enumerate(rows, start=2):
        if len(r) > len(header):
            raise IGRTInputError(f"{path} line {i}: {len(r)} cells but {len(header)} columns")
        out.append({h: (r[j].strip() if j < len(r) else "") for j, h in enumerate(header)})
    return header, out


def check_header(path, header: list, required=(), allowed=None, hint: str = "") -> None:
    """Refuse a table that misses a ``required`` column or has one outside ``allowed`` (one line)."""
    missing = [c for c in required if c not in header]
    if missing:
        raise IGRTInputError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if allowed is not None and c not in allowed]
    if unknown:
        raise IGRTInputError(f"{path}: unknown column(s) {', '.join(unknown)}{hint}")


def fraction_order(labels: list[str]) -> tuple[list, str]:
    """Sort keys for fraction labels: numeric when every label is a number, else natural order."""
    try:
        keys = [float(x) for x in labels]
        if all(math.isfinite(k) for k in keys):
            return keys, "numeric"
    except ValueError:
        pass
    return [_natural_key(x) for x in labels], "natural (text with numbers compared as numbers)"


def read_shift_table(path) -> ShiftTable:
    """Read and check a per-fraction couch-correction table; see the module docstring.

    Parameters
    ----------
    path : str or Path
        CSV file.

    Returns
    -------
    ShiftTable
        Fractions sorted per patient by the ``fraction`` column, set-up errors (patient is displaced).
    """
    header, rows = read_rows(path)
    check_header(path, header, REQUIRED_COLUMNS)
    rot_given = [c for c in ROTATION_COLUMNS if c in header]
    if rot_given and len(rot_given) != 3:
        raise IGRTInputError(f"{path}: give all of {', '.join(ROTATION_COLUMNS)} or none")
    columns = TRANSLATION_COLUMNS + (ROTATION_COLUMNS if rot_given else ())
    kept, excluded, seen = [], [], {}
    for line, row in enumerate(rows, start=2):
        patient, fraction = row["patient"], row["fraction"]
        if not patient or not fraction:
            raise IGRTInputError(f"{path} line {line}: empty patient or fraction")
        status = row.get("status", "ok") or "ok"
        if status.lower() != "ok":
            excluded.append(
                {"patient": patient, "fraction": fraction, "status": status, "reason": row.get("reason", "")}
            )
            continue
        key = (patient, fraction)
        if key in seen:
            raise IGRTInputError(
                f"{path} line {line}: patient {patient!r} fraction {fraction!r} repeats line {seen[key]}"
            )
        seen[key] = line
        values = [finite_number(row[c], f"{path} line {line} {c}") for c in columns]
        kept.append((patient, fraction, values))
    if not kept:
        raise IGRTInputError(f"{path}: no fraction with status ok to review")
    patients = sorted({p for p, _, _ in kept}, key=_natural_key)
    index = {p: i for i, p in enumerate(patients)}
    keys, order_name = fraction_order([f for _, f, _ in kept])
    by_patient = {}
    for (p, f, _), k in zip(kept, keys, strict=True):
        if k in by_patient.setdefault(p, {}):
            raise IGRTInputError(f"{path}: patient {p!r} has fraction {f!r} twice ({by_patient[p][k]!r})")
        by_patient[p][k] = f
    order = sorted(range(len(kept)), key=lambda i: (index[kept[i][0]], keys[i]))
    group = np.array([index[kept[i][0]] for i in order], dtype=np.int64)
    starts = np.searchsorted(group, np.arange(len(patients)))
    position = np.arange(len(group)) - starts[group] + 1
    couch = np.array([kept[i][2] for i in order], float).reshape(len(order), len(columns))
    return ShiftTable(
        path=str(path),
        patients=patients,
        fractions=[kept[i][1] for i in order],
        group=group,
        position=position,
        errors=-couch,
        columns=columns,
        excluded=excluded,
        fraction_order=order_name,
    )
