"""The STATS.json of ``igrt review``: population statistics, margins and offline protocols of a table.

Built by :func:`review_statistics`; files are read and written by :func:`igrt.review.workflow.review`.
"""

from __future__ import annotations

import numpy as np

from igrt import __version__
from igrt.review import protocols
from igrt.review.statistics import per_patient, population_statistics, statistics_notes
from igrt.review.table import ROTATION_COLUMNS, ShiftTable

STATS_SCHEMA_VERSION = "1.0"
TRANSLATION_AXES = ("lateral", "longitudinal", "vertical")
ROTATION_AXES = ("rotation", "pitch", "roll")
SETUP_ERROR_SENSE = (
    "patient is displaced: the set-up error of a fraction is the negative of its couch correction "
    "(the table's lateral_mm ... roll_deg, couch moves), IEC 61217 table-top axes"
)


def _axes(table: ShiftTable, values: np.ndarray) -> dict:
    n_p = len(table.patients)
    out = population_statistics(table.group, values[:, :3], n_p, "mm", TRANSLATION_AXES)
    if table.columns[3:] == ROTATION_COLUMNS:
        out.update(population_statistics(table.group, values[:, 3:], n_p, "deg", ROTATION_AXES))
    return out


def _per_patient_rows(table: ShiftTable) -> list:
    counts, means, sds = per_patient(table.group, table.errors, len(table.patients))
    names = TRANSLATION_AXES + (ROTATION_AXES if len(table.columns) > 3 else ())
    return [
        {
            "patient": p,
            "fractions": int(counts[i]),
            "mean": {n: round(float(means[i, a]), 4) for a, n in enumerate(names)},
            "sd": {
                n: None if np.isnan(sds[i, a]) else round(float(sds[i, a]), 4) for a, n in enumerate(names)
            },
        }
        for i, p in enumerate(table.patients)
    ]


def review_statistics(
    table: ShiftTable, *, nal_fractions=3, enal_period=5, sal_alpha_mm=9.0, sal_nmax=2
) -> dict:
    """STATS.json of a read table: statistics of the set-up errors and of each protocol's residuals.

    Parameters
    ----------
    table : ShiftTable
        From :func:`igrt.review.table.read_shift_table` (errors: patient is displaced).
    nal_fractions, enal_period : int
        N_m and P of NAL/eNAL (fractions).
    sal_alpha_mm : float
        SAL initial action level α (mm, on the 3-D translation).
    sal_nmax : int
        SAL N_max (measurements without action after which imaging stops).

    Returns
    -------
    dict
        ``patients``, ``fractions``, ``axes.<axis>.{M_mm, Sigma_mm, sigma_mm, margin_van_herk_mm,
        margin_stroom_mm}`` (``_deg`` for rotation, pitch, roll), ``protocols.<name>`` with ``axes`` and
        ``imaged_fractions``, ``per_patient``, ``notes``.
    """
    protocols.check_parameters(nal_fractions, enal_period, sal_alpha_mm, sal_nmax)
    counts = np.bincount(table.group, minlength=len(table.patients))
    single, notes = statistics_notes(counts, table.patients)
    if table.excluded:
        notes.append(
            f"{len(table.excluded)} fraction(s) left out: status not ok (listed in excluded_fractions)"
        )
    params = {
        "nal_fractions": int(nal_fractions),
        "enal_period": int(enal_period),
        "sal_alpha_mm": float(sal_alpha_mm),
        "sal_nmax": int(sal_nmax),
    }
    simulated = {}
    for name in protocols.PROTOCOLS:
        residual, imaged = protocols.simulate(
            name,
            table.group,
            table.position,
            table.errors,
            nal_fractions=params["nal_fractions"],
            enal_period=params["enal_period"],
            sal_alpha_mm=params["sal_alpha_mm"],
            sal_nmax=params["sal_nmax"],
        )
        simulated[name] = {
            "axes": _axes(table, residual),
            "imaged_fractions": int(imaged.sum()),
            "sense": "residual set-up error after the protocol's corrections (patient is displaced)",
        }
    return {
        "schema_version": STATS_SCHEMA_VERSION,
        "kind": "igrt.review.statistics",
        "source": table.path,
        "patients": len(table.patients),
        "fractions": len(table.fractions),
        "sense": SETUP_ERROR_SENSE,
        "method": {
            "per_patient": "m_p = mean, s_p = SD (n−1) of the patient's set-up errors",
            "M": "mean of m_p",
            "Sigma": "SD of m_p over patients (n−1), systematic error",
            "sigma": "sqrt(mean of s_p²) over patients with ≥ 2 fractions, random error",
            "margin_van_herk": "2.5 Σ + 0.7 σ (van Herk et al. 2000)",
            "margin_stroom": "2 Σ + 0.7 σ (Stroom et al. 1999)",
            "fraction_order": table.fraction_order,
            "protocols": protocols.__doc__.strip(),
        },
        "patients_in_sigma": int((counts >= 2).sum()),
        "single_fraction_patients": single,
        "notes": notes,
        "axes": _axes(table, table.errors),
        "protocols": simulated,
        "parameters": params,
        "per_patient": _per_patient_rows(table),
        "excluded_fractions": table.excluded,
        "software": {"name": "IGRTExtension", "version": __version__},
    }
