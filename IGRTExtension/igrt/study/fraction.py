"""One fraction of a study, as a Dask task runs it on a worker: match → shift, files, one study row.

The task receives a :class:`igrt.study.manifest.FractionSpec` (paths and options only) and the output
folder; it reads the images itself (on the worker), runs the same workflows as ``igrt match`` and
``igrt shift``, and writes ``<out>/fractions/<patient>/<fraction>/result.json`` then ``shift.json``,
each atomically, and ``dose_impact.json`` when the row gives dose and structures. ``shift.json``
records the fraction's spec (``inputs.study_fraction``): a fraction is complete when its files read
back, are valid and were made from the same spec. A fraction that fails writes ``failure.json`` with its reason instead and leaves no
result of an earlier run behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import traceback
from pathlib import Path

from igrt.couch.shift import SHIFT_KIND
from igrt.couch.workflow import couch_shift
from igrt.dose.workflow import dose_impact
from igrt.errors import IGRTInputError
from igrt.registration.match import MatchFailedError, MatchOptions
from igrt.registration.workflow import daily_match_files
from igrt.result import escalation, load_result, write_json
from igrt.study.manifest import FractionSpec

COUCH_COLUMNS = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")
TRANSLATION_COLUMNS = ("translation_x_mm", "translation_y_mm", "translation_z_mm")
ROTATION_COLUMNS = ("rotation_x_deg", "rotation_y_deg", "rotation_z_deg")
ERROR_COLUMNS = tuple(f"error_{c}" for c in COUCH_COLUMNS)
ROW_COLUMNS = (
    ("patient", "fraction", "status", "reason")
    + TRANSLATION_COLUMNS
    + ROTATION_COLUMNS
    + COUCH_COLUMNS
    + ("verdict", "similarity", "uncertainty_mm_95", "uncertainty_deg_95", "escalate", "elapsed_s")
)


def fraction_folder(out_dir, spec: FractionSpec) -> Path:
    return Path(out_dir) / "fractions" / spec.patient / spec.fraction


def spec_record(spec: FractionSpec) -> dict:
    """The spec as JSON (without the manifest line number, which may change without changing the work)."""
    record = dataclasses.asdict(spec)
    record.pop("line")
    return json.loads(json.dumps(record))


def _round(v, nd=4):
    return round(float(v), nd) + 0.0


def study_row(spec: FractionSpec, result: dict, shift: dict, elapsed_s: float) -> dict:
    """The ``study.csv`` row of a finished fraction (translation/rotation: patient is displaced; couch: couch moves)."""
    couch = shift["couch"]
    row = {"patient": spec.patient, "fraction": spec.fraction, "status": "ok", "reason": ""}
    row.update({c: _round(v) for c, v in zip(TRANSLATION_COLUMNS, result["translation_mm"], strict=True)})
    row.update({c: _round(v) for c, v in zip(ROTATION_COLUMNS, result["rotation_deg"], strict=True)})
    row.update({c: _round(couch[c]) for c in COUCH_COLUMNS})
    row["verdict"] = couch["verdict"]
    row["similarity"] = _round(result["quality"]["similarity_after"])
    said = escalation(result)  # the one rule the report, the shift and Slicer show
    for column, key in (
        ("uncertainty_mm_95", "translation_mm_95"),
        ("uncertainty_deg_95", "rotation_deg_95"),
    ):
        row[column] = _round(said[key]) if said.get(key) is not None else ""
    row["escalate"] = ("yes" if said["escalate"] else "no") if said["known"] else ""
    row["elapsed_s"] = _round(elapsed_s, 3)
    if spec.known:
        row.update({f"error_{c}": _round(couch[c] - spec.known[c]) for c in spec.known})
    return row


def failed_row(spec: FractionSpec, reason: str, elapsed_s: float = 0.0) -> dict:
    return {
        "patient": spec.patient,
        "fraction": spec.fraction,
        "status": "failed",
        "reason": " ".join(str(reason).split())[:500],
        "elapsed_s": _round(elapsed_s, 3),
    }


def completed_row(out_dir, spec: FractionSpec) -> dict | None:
    """The row of a fraction already complete and valid in ``out_dir`` for this same spec, else None."""
    folder = fraction_folder(out_dir, spec)
    try:
        result = load_result(folder / "result.json")
        shift = json.loads((folder / "shift.json").read_text())
        if shift.get("kind") != SHIFT_KIND or shift["inputs"].get("study_fraction") != spec_record(spec):
            return None
        if not all(math.isfinite(float(shift["couch"][c])) for c in COUCH_COLUMNS):
            return None
        if (
            spec.dose
            and json.loads((folder / "dose_impact.json").read_text()).get("kind") != "igrt.dose_impact"
        ):
            return None
        return study_row(spec, result, shift, shift["inputs"]["study_elapsed_s"])
    except (IGRTInputError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _clear(folder: Path, names) -> None:
    for name in names:
        (folder / name).unlink(missing_ok=True)


def run_fraction(spec: FractionSpec, out_dir: str) -> dict:
    """Run one fraction (on a worker) and return its study row; failures become a row, never an exception.

    Parameters
    ----------
    spec : FractionSpec
        Paths and options of the fraction (the images are read here, not sent).
    out_dir : str
        The study folder; files go to ``fractions/<patient>/<fraction>/``.

    Returns
    -------
    dict
        The ``study.csv`` row (status ``ok`` or ``failed`` with its reason).
    """
    t0 = time.perf_counter()
    folder = fraction_folder(out_dir, spec)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        options = MatchOptions(
            method=spec.method,
            planning_isocenter_lps=spec.isocenter,
            daily_isocenter_lps=spec.daily_isocenter,
            orientation=spec.orientation,
        )
        for limit in ("uncertainty_limit_mm", "uncertainty_limit_deg"):  # unset: the match's default
            if getattr(spec, limit) is not None:
                setattr(options, limit, getattr(spec, limit))
        result, _, _ = daily_match_files(
            spec.planning, spec.daily, options, plan_path=spec.plan, target_mask_path=spec.target_mask
        )
        shift = couch_shift(
            result, couch=spec.couch, max_rotation_deg=spec.max_rotation, orientation=spec.orientation
        )
    except (IGRTInputError, MatchFailedError) as exc:
        reason = str(exc)
    except Exception as exc:  # a bad image can fail anywhere inside ITK: record it, the study goes on
        reason = f"{type(exc).__name__}: {exc} ({traceback.extract_tb(exc.__traceback__)[-1].name})"
    else:
        elapsed = time.perf_counter() - t0
        shift["inputs"].update({"study_fraction": spec_record(spec), "study_elapsed_s": _round(elapsed, 3)})
        _clear(folder, ("shift.json", "failure.json", "dose_impact.json"))
        write_json(folder / "result.json", result)
        write_json(folder / "shift.json", shift)
        if not spec.dose:
            return study_row(spec, result, shift, elapsed)
        try:  # the residual after this fraction's couch correction, on the plan's dose (igrt dose-impact)
            write_json(
                folder / "dose_impact.json",
                dose_impact(str(folder / "shift.json"), spec.dose, spec.structures),
            )
            return study_row(spec, result, shift, elapsed)
        except IGRTInputError as exc:
            reason = f"dose impact: {exc}"
        except Exception as exc:
            reason = f"dose impact: {type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - t0
    _clear(folder, ("shift.json", "result.json", "dose_impact.json"))
    write_json(folder / "failure.json", {"study_fraction": spec_record(spec), "reason": reason})
    return failed_row(spec, reason, elapsed)
