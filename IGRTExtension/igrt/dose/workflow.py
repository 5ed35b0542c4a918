"""The dose workflows (issue 11): the DVH document (``igrt dvh``) and the dose impact of a setup error
(``igrt dose-impact``). The CLI and Slicer call these; every check lives here.

Frames: the structures and the dose must share a frame of reference (refused otherwise, one line);
the match result's matrix is in the planning frame, which is the dose's frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from igrt import __version__
from igrt.dose.corrections import AnatomyPlacement
from igrt.dose.dvh import (
    dose_at_points,
    dvh_curve,
    dvh_metrics,
    dvh_step_gy,
    metrics_delta,
    metrics_from_curve,
)
from igrt.dose.model import Dose, Structure, StructureSet
from igrt.dose.sampling import Samples, auto_spacing_mm, sample_structure
from igrt.dose.seen_dose import dose_at_placed_points
from igrt.errors import IGRTInputError
from igrt.identity import check_same_frame

SCHEMA_VERSION = "1.0"
CORE_ENGINE = "igrt core"  # which engine computed a DVH, as the documents and tables say it
COVERAGE_WARN = 0.999  # warn when less than this share of a structure lies inside the dose grid

APPROXIMATION = (
    "rigid anatomy, static dose cloud: the planned dose stays fixed in the room while the planned anatomy "
    "moves rigidly by the placement matrix (a planned point p receives the planned dose at matrix·p); "
    "no change of density, depth or heterogeneity, no deformation; dose trilinear between dose voxels"
)


@dataclass
class SampledStructure:
    structure: Structure
    samples: Samples


def check_frames(dose: Dose, structures: StructureSet) -> list[str]:
    """Refuse structures and dose of different frames of reference or patients; warnings when unknown."""
    return check_same_frame(structures, "structures", dose, "dose")


def _input_warnings(dose: Dose, structures: StructureSet) -> list[str]:
    """What the readers noticed, the frame check, and relative dose units said in words."""
    warnings = list(dose.warnings) + list(structures.warnings) + check_frames(dose, structures)
    if dose.units == "RELATIVE":
        warnings.append("dose units RELATIVE (PS3.3 C.8.8.3): every *_gy number is relative dose, not Gy")
    return warnings


def select_structures(structures: StructureSet, names=None) -> list[Structure]:
    """The structures named (all non-empty ones by default); a missing or empty name is refused."""
    if not names:
        return list(structures.structures)
    by_name = {s.name: s for s in structures.structures}
    chosen = []
    for name in names:
        if name in by_name:
            chosen.append(by_name[name])
        elif name in structures.empty:
            raise IGRTInputError(f"structure {name!r} is empty in {structures.path} (no contour or voxel)")
        else:
            raise IGRTInputError(
                f"no structure {name!r} in {structures.path} (it has: {', '.join(structures.names())})"
            )
    return chosen


def sample_structures(dose: Dose, chosen: list[Structure], spacing_mm=None) -> list[SampledStructure]:
    """Weighted sample points of every structure, no coarser than the dose grid (finer when small)."""
    finest = float(min(dose.image.GetSpacing()))
    return [
        SampledStructure(s, sample_structure(s, spacing_mm or auto_spacing_mm(s, finest))) for s in chosen
    ]


def _coverage(sampled: list[SampledStructure], dose: Dose, named: bool) -> tuple[list, list[str], list[str]]:
    """(structures inside the dose grid with their doses, outside names, warnings); refuses when none is."""
    kept, outside, warnings = [], [], []
    for item in sampled:
        if len(item.samples.points) == 0:
            raise IGRTInputError(f"structure {item.structure.name!r} has no volume at its sampling")
        values, inside = dose_at_points(dose, item.samples.points)
        fraction = float(inside.mean())
        if fraction == 0.0:
            if named:
                raise IGRTInputError(f"structure {item.structure.name!r} lies outside the dose grid")
            outside.append(item.structure.name)
            continue
        if fraction < COVERAGE_WARN:
            warnings.append(
                f"structure {item.structure.name!r} is only {100 * fraction:.1f} % inside the dose grid: "
                "its DVH is of that part"
            )
        kept.append((item, values, fraction))
    if not kept:
        raise IGRTInputError(f"every structure lies outside the dose grid ({', '.join(outside)})")
    if outside:
        warnings.append(f"structures outside the dose grid (left out): {', '.join(outside)}")
    return kept, outside, warnings


def compute_dvh(dose: Dose, structures: StructureSet, names=None, v_doses_gy=(), spacing_mm=None) -> dict:
    """The DVH document of already-read dose and structures (see :func:`dvh_document`)."""
    t0 = time.perf_counter()
    _check_v_doses(v_doses_gy)
    warnings = _input_warnings(dose, structures)
    sampled = sample_structures(dose, select_structures(structures, names), spacing_mm)
    kept, outside, more = _coverage(sampled, dose, named=bool(names))
    step = dvh_step_gy(dose.max_gy())
    rows = []
    for item, values, fraction in kept:
        rows.append(
            {
                **_identity(item, fraction),
                "metrics": _rounded(dvh_metrics(values, item.samples.weight_mm3, v_doses_gy)),
                "dvh": dvh_curve(values, step),
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "igrt.dvh",
        "dvh_engine": CORE_ENGINE,
        "dose": _dose_info(dose),
        "structure_set": {
            "path": structures.path,
            "frame_of_reference_uid": structures.frame_of_reference_uid,
        },
        "structures": rows,
        "dvh_step_gy": step,
        "dvh_sense": "cumulative: volume_pct is the share of the structure receiving at least dose_gy",
        "empty_structures": list(structures.empty),
        "outside_dose_grid": outside,
        "method": _method_text(),
        "warnings": warnings + more,
        "software": {"name": "IGRTExtension", "version": __version__},
        "elapsed_s": round(time.perf_counter() - t0, 3),
    }


def _structure_set(structures) -> StructureSet:
    """A StructureSet as given, or read from its path (:func:`igrt.io.structures.read_structures`)."""
    if isinstance(structures, StructureSet):
        return structures
    from igrt.io.structures import read_structures

    return read_structures(structures)


def dvh_document(
    dose_paths, structures_path, *, names=None, sum_doses=False, v_doses_gy=(), spacing_mm=None
) -> dict:
    """The DVH JSON (``igrt dvh``) of a dose and a structure file.

    Parameters
    ----------
    dose_paths : path or list of paths
        RTDOSE file(s) (summed when ``sum_doses``) or one dose volume file in Gy.
    structures_path : path or StructureSet
        RTSTRUCT, Slicer ``.seg.nrrd`` or label-map volume (or structures already read, e.g. a ``.seg.vtm``
        by :func:`igrt.mrml.seg_vtm.read_seg_vtm`).
    names : list of str, optional
        Structures to report (default: every non-empty one).
    v_doses_gy : sequence of float
        Doses x (Gy) whose Vx is reported (``V{x}Gy_pct``, ``V{x}Gy_cc``).
    spacing_mm : float, optional
        Structure sample spacing (default: automatic, see :mod:`igrt.dose.sampling`).

    Returns
    -------
    dict
        ``schema_version``, ``kind`` "igrt.dvh", ``structures``: [{name, volume_cc, metrics, dvh}], ...
    """
    from igrt.io.dose import read_dose

    _check_v_doses(v_doses_gy)
    dose = read_dose(dose_paths, sum_doses=sum_doses)
    structures = _structure_set(structures_path)
    return compute_dvh(dose, structures, names=names, v_doses_gy=v_doses_gy, spacing_mm=spacing_mm)


def compute_impact(
    dose: Dose,
    structures: StructureSet,
    placements: list[AnatomyPlacement],
    *,
    fractions: int | None = None,
    names=None,
    v_doses_gy=(),
    spacing_mm=None,
) -> dict:
    """The dose-impact document of already-read inputs (see :func:`dose_impact`)."""
    t0 = time.perf_counter()
    _check_v_doses(v_doses_gy)
    n, warnings = check_impact_inputs(dose, structures, placements, fractions)
    sampled = sample_structures(dose, select_structures(structures, names), spacing_mm)
    kept, outside, more = _coverage(sampled, dose, named=bool(names))
    warnings += more
    step = dvh_step_gy(dose.max_gy())
    rows, per_fraction = (
        [],
        [{"source": p.source, "correction": p.correction, "structures": []} for p in placements],
    )
    for item, planned_values, fraction_in in kept:
        w = item.samples.weight_mm3
        # the planned DVH on the samples inside the grid; the fraction DVH on the same samples, moved
        points = item.samples.points[_inside_mask(dose, item.samples.points)]
        course = np.zeros(len(points))
        for k, p in enumerate(placements):
            values, ok = dose_at_placed_points(dose, p.matrix_lps, points)
            warnings += _moved_out_warning(p, item.structure, ok)
            course += values
            per_fraction[k]["structures"].append(
                {"name": item.structure.name, "metrics": _rounded(dvh_metrics(values, w, v_doses_gy))}
            )
        course /= len(placements)
        planned = dvh_metrics(planned_values, w, v_doses_gy)
        delivered = dvh_metrics(course, w, v_doses_gy)
        rows.append(
            {
                **_identity(item, fraction_in),
                "planned": _rounded(planned),
                "fraction": _rounded(delivered),
                "delta": _rounded(metrics_delta(delivered, planned)),
                "dvh": {"planned": dvh_curve(planned_values, step), "fraction": dvh_curve(course, step)},
                "dvh_engine": {"planned": CORE_ENGINE, "fraction": CORE_ENGINE},
            }
        )
    document = impact_envelope(dose, structures, placements, n, rows, warnings, outside, t0)
    document["per_fraction"] = per_fraction if len(placements) > 1 else []
    document["dvh_step_gy"] = step
    return document


def check_impact_inputs(dose: Dose, structures: StructureSet, placements, fractions=None) -> tuple[int, list]:
    """(number of fractions, warnings) of a dose impact's inputs; refuses placements of another frame."""
    if not placements:
        raise IGRTInputError("no match result or shift given")
    n = _check_fractions(fractions, len(placements))
    warnings = _input_warnings(dose, structures)
    for p in placements:
        pf = p.planning_frame_of_reference_uid
        if pf and dose.frame_of_reference_uid and pf != dose.frame_of_reference_uid:
            raise IGRTInputError(
                f"{p.source} was matched on planning frame of reference {pf}, the dose is in "
                f"{dose.frame_of_reference_uid}"
            )
    return n, warnings


@dataclass
class CheckedImpact:
    """The inputs of another engine's dose impact, checked before its work (:func:`check_for_curves`)."""

    dose: Dose
    structures: StructureSet
    placement: AnatomyPlacement
    fractions: int
    inside: list[Structure]  # the structures to compute, each at least partly inside the dose grid
    covered: dict[str, float]  # share of each inside the dose grid
    outside: list[str]
    warnings: list[str]
    t0: float


def check_for_curves(
    dose: Dose, structures: StructureSet, placement: AnatomyPlacement, names=None
) -> CheckedImpact:
    """Everything the core checks before another DVH engine runs: frames, the structures chosen, how much
    of each lies inside the dose grid and moves outside it (sampled at the dose grid's spacing)."""
    t0 = time.perf_counter()
    n, warnings = check_impact_inputs(dose, structures, [placement])
    chosen = select_structures(structures, names)
    sampled = sample_structures(dose, chosen, spacing_mm=float(max(dose.image.GetSpacing())))
    kept, outside, more = _coverage(sampled, dose, named=bool(names))
    for item, _, _ in kept:  # as compute_impact: of the part inside the grid, the share moving out
        points = item.samples.points[_inside_mask(dose, item.samples.points)]
        more += _moved_out_warning(
            placement, item.structure, dose_at_placed_points(dose, placement.matrix_lps, points)[1]
        )
    return CheckedImpact(
        dose=dose,
        structures=structures,
        placement=placement,
        fractions=n,
        inside=[item.structure for item, _, _ in kept],
        covered={item.structure.name: fraction for item, _, fraction in kept},
        outside=outside,
        warnings=warnings + more,
        t0=t0,
    )


def impact_from_curves(checked: CheckedImpact, curves: list[dict], engine: str) -> dict:
    """The dose-impact document of one placement from DVH curves another engine computed.

    ``checked``: :func:`check_for_curves` (run before the engine). ``curves``: one ``{name, color,
    volume_cc, planned: {dose_gy, volume_pct}, fraction: {...}}`` per structure of ``checked.inside``,
    the fraction curve being the planned structure's DVH on the dose seen by the planned anatomy
    (:func:`igrt.dose.seen_dose.dose_seen_by_planned_anatomy`). Metrics are read off the curves by
    :func:`igrt.dose.dvh.metrics_from_curve`, so the keys are the core's.
    """
    rows = []
    for c in curves:
        planned = metrics_from_curve(c["planned"]["dose_gy"], c["planned"]["volume_pct"], c["volume_cc"])
        delivered = metrics_from_curve(c["fraction"]["dose_gy"], c["fraction"]["volume_pct"], c["volume_cc"])
        rows.append(
            {
                "name": c["name"],
                "color": list(c["color"]) if c.get("color") else None,
                "volume_cc": round(float(c["volume_cc"]), 4),
                "covered_fraction": round(checked.covered[c["name"]], 5),
                "planned": _rounded(planned),
                "fraction": _rounded(delivered),
                "delta": _rounded(metrics_delta(delivered, planned)),
                "dvh": {role: _listed(c[role]) for role in ("planned", "fraction")},
                "dvh_engine": {"planned": engine, "fraction": engine},
            }
        )
    if not rows:
        raise IGRTInputError(f"{engine} gave no DVH")
    document = impact_envelope(
        checked.dose,
        checked.structures,
        [checked.placement],
        checked.fractions,
        rows,
        checked.warnings,
        checked.outside,
        checked.t0,
    )
    document["dvh_step_gy"] = float(np.median(np.diff(curves[0]["planned"]["dose_gy"])))
    document["method"] = (
        f"DVH curves computed by {engine}; the fraction curve on the dose seen by the planned anatomy "
        "(the planned dose resampled through the placement matrix on the dose grid, trilinear); metrics "
        "read off the curves (linear interpolation; mean by trapezoids)"
    )
    return document


def impact_envelope(dose, structures, placements, n: int, rows, warnings, outside, t0: float) -> dict:
    """Everything of a dose-impact document around its structure rows (inputs, placements, sense)."""
    engines = sorted({e for r in rows for e in r["dvh_engine"].values()})
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "igrt.dose_impact",
        "dvh_engine": " + ".join(engines),
        "approximation": APPROXIMATION,
        "fractions": n,
        "accumulation": (
            "one placement: the fraction DVH is the whole plan dose delivered with this placement"
            if len(placements) == 1
            else f"course of {n} fractions: each fraction's placement applied to dose/{n}, summed per sample "
            "point of the moving anatomy"
        ),
        "placements": [
            {
                "source": p.source,
                "correction": p.correction,
                "sense": p.sense,
                "matrix_lps": np.asarray(p.matrix_lps, float).tolist(),
            }
            for p in placements
        ],
        "dose": _dose_info(dose),
        "structure_set": {
            "path": structures.path,
            "frame_of_reference_uid": structures.frame_of_reference_uid,
        },
        "structures": rows,
        "per_fraction": [],
        "delta_sense": "fraction − planned (Gy; percent points for V*_pct)",
        "empty_structures": list(structures.empty),
        "outside_dose_grid": outside,
        "method": _method_text(),
        "warnings": warnings,
        "software": {"name": "IGRTExtension", "version": __version__},
        "elapsed_s": round(time.perf_counter() - t0, 3),
    }


def dose_impact(
    placements,
    dose_paths,
    structures_path,
    *,
    fractions=None,
    names=None,
    sum_doses=False,
    v_doses_gy=(),
    corrected=True,
) -> dict:
    """The dose-impact JSON (``igrt dose-impact``): planned vs fraction DVH metrics per structure.

    Parameters
    ----------
    placements : path or list of paths
        Match result JSON(s) (anatomy displaced by ``matrix_lps``, no correction) or shift JSON(s)
        (the residual after that couch correction); several = one per fraction, accumulated. A folder is
        a study patient's ``fractions/<patient>`` folder (``igrt study run``): all its fractions.
    corrected : bool
        For study folders: each fraction's ``shift.json`` (as treated), else its ``result.json``.
    dose_paths, structures_path, names, sum_doses, v_doses_gy
        As :func:`dvh_document`.
    fractions : int, optional
        Number of fractions of the course (must equal the number of placements when several).

    Returns
    -------
    dict
        ``kind`` "igrt.dose_impact", ``structures``: [{name, planned, fraction, delta}], ``approximation``.
    """
    from igrt.dose.corrections import read_placement, study_placements
    from igrt.io.dose import read_dose

    paths = [placements] if isinstance(placements, str | Path) else list(placements)
    read = []
    for p in paths:  # a folder is a study patient's fractions (igrt study run), each as treated
        read += study_placements(p, corrected=corrected) if Path(p).is_dir() else [read_placement(p)]
    _check_v_doses(v_doses_gy)
    _check_fractions(fractions, len(read))
    dose = read_dose(dose_paths, sum_doses=sum_doses)
    structures = _structure_set(structures_path)
    return compute_impact(dose, structures, read, fractions=fractions, names=names, v_doses_gy=v_doses_gy)


def _check_fractions(fractions, given: int) -> int:
    """The number of fractions: as given (≥ 1; equal to the results given when several), else their count."""
    if fractions is None:
        return given
    n = int(fractions)
    if n < 1:
        raise IGRTInputError(f"--fractions {fractions}: a course has at least 1 fraction")
    if given > 1 and n != given:
        raise IGRTInputError(
            f"--fractions {n} but {given} fraction results given: give one result per fraction"
        )
    return n


def _inside_mask(dose: Dose, points) -> np.ndarray:
    return dose_at_points(dose, points)[1]


def _identity(item: SampledStructure, fraction: float) -> dict:
    s = item.structure
    return {
        "name": s.name,
        "color": list(s.color) if s.color else None,
        "volume_cc": round(item.samples.volume_mm3 / 1000.0, 4),
        "covered_fraction": round(fraction, 5),
        "sample_spacing_mm": round(item.samples.spacing_mm, 4),
        "sample_count": len(item.samples.points),
    }


def _dose_info(dose: Dose) -> dict:
    return {
        "paths": dose.paths,
        "units": dose.units,
        "summation_type": dose.summation_type,
        "dose_type": dose.dose_type,
        "frame_of_reference_uid": dose.frame_of_reference_uid,
        "max_gy": round(dose.max_gy(), 5),
        "size": list(dose.image.GetSize()),
        "spacing_mm": [round(s, 6) for s in dose.image.GetSpacing()],
    }


def _method_text() -> str:
    return (
        "structures sampled with weighted points (contours: even–odd fill per plane, the structure ends at "
        "its first and last contour planes; masks: sub-voxels), no coarser than the dose grid; dose trilinear"
    )


def _moved_out_warning(placement: AnatomyPlacement, structure: Structure, moved_in) -> list[str]:
    """The warning (none, or one) when part of a structure's samples moves outside the dose grid."""
    if moved_in.all():
        return []
    return [
        f"{placement.source}: {100 * (1 - moved_in.mean()):.1f} % of {structure.name!r} moves outside the "
        "dose grid (0 Gy taken there)"
    ]


def _listed(curve: dict) -> dict:
    return {k: [round(float(v), 6) for v in curve[k]] for k in ("dose_gy", "volume_pct")}


def _rounded(metrics: dict) -> dict:
    return {k: (None if v is None else round(float(v), 5)) for k, v in metrics.items()}


def _check_v_doses(v_doses_gy) -> None:
    for v in v_doses_gy:
        if not np.isfinite(float(v)) or float(v) < 0:
            raise IGRTInputError(f"Vx dose {v} Gy: it must be a finite dose ≥ 0")
