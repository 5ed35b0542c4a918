"""The study manifest: a CSV, one row per fraction, read and checked completely before anything runs.

Columns (header case- and space-insensitive): ``patient, fraction, planning, daily`` and optionally
``plan, isocenter, daily_isocenter, method, orientation, couch, max_rotation, uncertainty_limit_mm,
uncertainty_limit_deg`` (the 95 % bounds above which a match is flagged "escalate", as ``igrt match
--uncertainty-limit-mm/-deg``; default 1 mm / 1°), ``target_mask, dose, structures`` (dose impact of the fraction's residual error after the couch correction, ``igrt
dose-impact``) and, for known-shift studies, ``known_lateral_mm, known_longitudinal_mm,
known_vertical_mm, known_rotation_deg, known_pitch_deg, known_roll_deg`` (the couch correction that
should be found, IEC 61217 table top, couch moves). Paths are relative to the manifest's folder.
Points (``isocenter``, ``daily_isocenter``) are ``x,y,z`` in DICOM LPS mm (quote them in the CSV, or
separate by spaces or semicolons). An empty cell means "not given" (the single-case default).

Refused with one line (:class:`igrt.errors.IGRTInputError`, exit 2): a missing or unknown column, a
duplicate patient/fraction, a patient or fraction id that is not a safe folder name, a missing or
unreadable file, a bad number, an unknown method/orientation/couch, a known-shift row with some of the
known columns empty.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

from igrt import patient_position
from igrt.couch.workflow import check_shift_options
from igrt.errors import IGRTInputError
from igrt.registration.match import METHODS
from igrt.registration.workflow import check_uncertainty_limit
from igrt.review.table import check_header, finite_number, read_rows

REQUIRED = ("patient", "fraction", "planning", "daily")
PATH_COLUMNS = ("planning", "daily", "plan", "target_mask", "dose", "structures")
OPTION_COLUMNS = (
    "isocenter",
    "daily_isocenter",
    "method",
    "orientation",
    "couch",
    "max_rotation",
    "uncertainty_limit_mm",
    "uncertainty_limit_deg",
)
#: known column → the couch field it is compared with (measured − known).
KNOWN_COLUMNS = {
    "known_lateral_mm": "lateral_mm",
    "known_longitudinal_mm": "longitudinal_mm",
    "known_vertical_mm": "vertical_mm",
    "known_rotation_deg": "rotation_deg",
    "known_pitch_deg": "pitch_deg",
    "known_roll_deg": "roll_deg",
}
ALL_COLUMNS = REQUIRED + PATH_COLUMNS[2:] + OPTION_COLUMNS + tuple(KNOWN_COLUMNS)
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class FractionSpec:
    """One fraction to run: absolute paths and options only (what a Dask task receives; small, picklable)."""

    patient: str
    fraction: str
    planning: str
    daily: str
    line: int
    plan: str | None = None
    isocenter: tuple | None = None
    daily_isocenter: tuple | None = None
    method: str = "auto"
    orientation: str | None = None
    couch: str = "6dof"
    max_rotation: float | None = None
    uncertainty_limit_mm: float | None = None  # None: the match's default (igrt.registration.match.LIMIT_MM)
    uncertainty_limit_deg: float | None = None
    target_mask: str | None = None
    dose: str | None = None
    structures: str | None = None
    known: dict | None = None

    @property
    def key(self) -> tuple:
        return (self.patient, self.fraction)


@dataclasses.dataclass(frozen=True)
class Manifest:
    path: str
    fractions: tuple
    known_columns: tuple


def _where(path, line, column) -> str:
    return f"{path} line {line} {column}"


def _point(text: str, where: str) -> tuple:
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals):
        raise IGRTInputError(f"{where}: expected x,y,z in mm (DICOM LPS), got {text!r}")
    return vals


def _existing(text: str, base: Path, where: str) -> str:
    """Absolute path of a readable file or DICOM folder, relative paths taken from the manifest's folder."""
    p = Path(text).expanduser()
    p = p if p.is_absolute() else base / p
    if not p.exists():
        raise IGRTInputError(f"{where}: {p} does not exist")
    if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
        raise IGRTInputError(f"{where}: {p} is not readable")
    if p.is_dir() and not any(p.iterdir()):
        raise IGRTInputError(f"{where}: folder {p} is empty")
    return str(p.resolve())


def _known(row: dict, columns: tuple, where: str) -> dict | None:
    given = {c: row[c] for c in columns if row.get(c, "")}
    if not given:
        return None
    if len(given) != len(columns):
        empty = [c for c in columns if c not in given]
        raise IGRTInputError(f"{where}: known-shift row leaves {', '.join(empty)} empty")
    return {KNOWN_COLUMNS[c]: finite_number(v, f"{where} {c}") for c, v in given.items()}


def _fraction(row: dict, line: int, base: Path, path, known_columns) -> FractionSpec:
    at = lambda column: _where(path, line, column)  # noqa: E731
    for column in ("patient", "fraction"):
        if not _SAFE_ID.match(row[column]):
            raise IGRTInputError(
                f"{at(column)}: {row[column]!r} is not a usable id (letters, digits, '.', '_', '-'; it names a folder)"
            )
    paths = {c: _existing(row[c], base, at(c)) for c in PATH_COLUMNS if row.get(c, "")}
    for c in ("planning", "daily"):
        if c not in paths:
            raise IGRTInputError(f"{at(c)}: empty")
    if ("dose" in paths) != ("structures" in paths):
        raise IGRTInputError(f"{at('dose')}: dose impact needs both dose and structures (or neither)")
    method = row.get("method") or "auto"
    if method not in METHODS:
        raise IGRTInputError(f"{at('method')}: unknown method {method!r} (one of {', '.join(METHODS)})")
    couch = row.get("couch") or "6dof"
    orientation = row.get("orientation") or None
    max_rotation = finite_number(row["max_rotation"], at("max_rotation")) if row.get("max_rotation") else None
    try:  # the shift workflow's own checks, so that a study refuses exactly what `igrt shift` refuses
        check_shift_options(couch, max_rotation, orientation, None, None)
    except IGRTInputError as exc:
        raise IGRTInputError(f"{path} line {line}: {exc}") from None
    orientation = patient_position.normalise(orientation) if orientation else None
    limits = {}  # the match's rule for --uncertainty-limit-mm/-deg, per row
    for column, unit in (("uncertainty_limit_mm", "mm"), ("uncertainty_limit_deg", "°")):
        if row.get(column):
            value = finite_number(row[column], at(column))
            limits[column] = check_uncertainty_limit(value, f"uncertainty limit ({at(column)})", unit)
    if row.get("plan") and row.get("isocenter"):
        raise IGRTInputError(f"{at('isocenter')}: give either plan or isocenter, not both")
    return FractionSpec(
        patient=row["patient"],
        fraction=row["fraction"],
        planning=paths["planning"],
        daily=paths["daily"],
        line=line,
        plan=paths.get("plan"),
        isocenter=_point(row["isocenter"], at("isocenter")) if row.get("isocenter") else None,
        daily_isocenter=_point(row["daily_isocenter"], at("daily_isocenter"))
        if row.get("daily_isocenter")
        else None,
        method=method,
        orientation=orientation,
        couch=couch,
        max_rotation=max_rotation,
        uncertainty_limit_mm=limits.get("uncertainty_limit_mm"),
        uncertainty_limit_deg=limits.get("uncertainty_limit_deg"),
        target_mask=paths.get("target_mask"),
        dose=paths.get("dose"),
        structures=paths.get("structures"),
        known=_known(row, known_columns, _where(path, line, "")),
    )


def read_manifest(path) -> Manifest:
    """Read and check a study manifest; see the module docstring.

    Parameters
    ----------
    path : str or Path
        The manifest CSV.

    Returns
    -------
    Manifest
        ``fractions``: one :class:`FractionSpec` per row, in file order, every path absolute and readable.
    """
    path = Path(path)
    header, rows = read_rows(path)
    check_header(path, header, REQUIRED, ALL_COLUMNS, " (see igrt study run --help)")
    if not rows:
        raise IGRTInputError(f"{path}: no fraction (the manifest has a header only)")
    known_columns = tuple(c for c in KNOWN_COLUMNS if c in header)
    base = path.resolve().parent
    seen: dict = {}
    fractions = []
    for line, row in enumerate(rows, start=2):
        spec = _fraction(row, line, base, path, known_columns)
        if spec.key in seen:
            raise IGRTInputError(
                f"{path} line {line}: patient {spec.patient!r} fraction {spec.fraction!r} repeats line {seen[spec.key]}"
            )
        seen[spec.key] = line
        fractions.append(spec)
    return Manifest(path=str(path.resolve()), fractions=tuple(fractions), known_columns=known_columns)
