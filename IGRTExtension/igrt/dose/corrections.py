"""Where the planned anatomy is during a fraction, from a match result or a shift JSON (docs/CONVENTIONS.md §2).

- A match result (``igrt match``, kind ``igrt.registration.match``): no couch correction was applied,
  the anatomy is displaced by its ``matrix_lps`` M.
- A shift JSON (``igrt shift``, kind ``igrt.couch.shift``): the couch correction C
  (``couch.couch_matrix_lps``) was applied, the anatomy is where C·M puts it
  (:func:`igrt.geometry.after_correction`; C = M⁻¹ for a full 6-DOF couch).

Both matrices are LPS mm in the planning frame; the dose grid is in that frame too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igrt import geometry
from igrt.couch.correction import COUCH_MODELS
from igrt.couch.shift import SHIFT_KIND
from igrt.couch.workflow import couch_shift
from igrt.errors import IGRTInputError
from igrt.result import RESULT_KIND, check_result, read_json

MATCH_KIND = RESULT_KIND


@dataclass
class AnatomyPlacement:
    """The 4×4 ``matrix_lps`` taking a planned-anatomy point to where it is in this fraction."""

    matrix_lps: np.ndarray
    source: str
    correction: str  # "none" or "couch 6dof" ...
    sense: str
    planning_frame_of_reference_uid: str | None = None


def read_placement(path) -> AnatomyPlacement:
    """Read a result or shift JSON file into an :class:`AnatomyPlacement`."""
    return placement_from_document(read_json(path, "result or shift JSON"), str(path))


def placement_from_document(doc, source: str = "document") -> AnatomyPlacement:
    """The placement a result or shift document describes (see the module docstring); the result part is
    checked as every consumer of a result checks it (:func:`igrt.result.check_result`)."""
    if not isinstance(doc, dict):
        raise IGRTInputError(f"{source}: not a result or shift JSON object")
    kind = doc.get("kind")
    if kind == SHIFT_KIND:
        couch = doc.get("couch") if isinstance(doc.get("couch"), dict) else {}
        result = check_result(doc.get("result"), f"{source} (its result)")
        m = np.asarray(result["matrix_lps"], float)
        c = _rigid(couch.get("couch_matrix_lps"), f"{source}: couch.couch_matrix_lps")
        inputs = result.get("inputs") or {}
        return AnatomyPlacement(
            matrix_lps=geometry.after_correction(c, m),
            source=source,
            correction=f"couch {couch.get('couch') or couch.get('dof') or '?'}",
            sense="patient is displaced by the residual after the couch correction (C·M)",
            planning_frame_of_reference_uid=_planning_for(inputs),
        )
    if kind == MATCH_KIND or (kind is None and "matrix_lps" in doc):
        check_result(doc, source)
        return AnatomyPlacement(
            matrix_lps=np.asarray(doc["matrix_lps"], float),
            source=source,
            correction="none",
            sense="patient is displaced by the match result (M), no couch correction",
            planning_frame_of_reference_uid=_planning_for(doc.get("inputs") or {}),
        )
    raise IGRTInputError(f"{source}: kind {kind!r} is neither a match result nor a couch shift JSON")


CORRECTIONS = ("none", *COUCH_MODELS)  # no couch correction, or one of the couches


def placement_after(
    result: dict, correction: str = "none", source: str = "the match result", **couch_options
):
    """Where the anatomy is for a result document and a couch correction: "none" → M; "3dof", "4dof",
    "6dof" → C·M of :func:`igrt.couch.workflow.couch_shift` with that couch (``couch_options``: its other
    keywords, e.g. ``max_rotation_deg``, ``orientation``)."""
    if correction not in CORRECTIONS:
        raise IGRTInputError(f"correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")
    if correction == "none":
        return placement_from_document(result, source)
    shift = couch_shift(result, couch=correction, source=source, **couch_options)
    return placement_from_document(shift, f"{source} after the {correction} couch correction")


def study_placements(patient_folder, corrected: bool = True) -> list[AnatomyPlacement]:
    """One placement per fraction of a study patient (``<study>/fractions/<patient>/<fraction>/``, written by
    ``igrt study run``), in fraction-folder order: ``shift.json`` (after that fraction's couch correction,
    as treated) or, with ``corrected=False``, ``result.json`` (no correction). A fraction that failed or
    is incomplete is refused, so the course is never summed over fewer fractions than it had."""
    folder = Path(patient_folder)
    fractions = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not fractions:
        raise IGRTInputError(f"{folder}: no fraction folders (give a study's fractions/<patient> folder)")
    name = "shift.json" if corrected else "result.json"
    out = []
    for f in fractions:
        if (f / "failure.json").is_file():
            raise IGRTInputError(
                f"fraction {f.name} of {folder} failed (see {f / 'failure.json'}): not accumulated"
            )
        if not (f / name).is_file():
            raise IGRTInputError(f"fraction {f.name} of {folder} has no {name} (incomplete study)")
        out.append(read_placement(f / name))
    return out


def _planning_for(inputs: dict) -> str | None:
    planning = inputs.get("planning") if isinstance(inputs, dict) else None
    return planning.get("frame_of_reference_uid") if isinstance(planning, dict) else None


def _rigid(value, what: str) -> np.ndarray:
    try:
        m = np.asarray(value, float)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if not geometry.is_rigid(m, tol=1e-4):
        raise IGRTInputError(f"{what} is not a rigid 4×4 transform")
    return m
