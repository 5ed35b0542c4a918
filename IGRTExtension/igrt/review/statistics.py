"""Population statistics of set-up errors and the CTV→PTV margin recipes (van Herk 2000; RCR "On target").

Per axis, over the set-up errors e (patient is displaced) of fractions grouped by patient p:

- m_p = mean of patient p's errors, s_p = their standard deviation (n − 1);
- group mean M = mean of m_p; systematic Σ = SD of m_p (n − 1, over patients);
- random σ = RMS of s_p = sqrt(mean of s_p²) over the patients with at least 2 fractions: a patient
  with a single fraction counts for M and Σ but has no s_p, so not for σ;
- margins: van Herk 2.5 Σ + 0.7 σ (van Herk et al. 2000, IJROBP 47:1121) and Stroom 2 Σ + 0.7 σ
  (Stroom et al. 1999, IJROBP 43:905).

Σ needs 2 patients and σ one patient with 2 fractions; a statistic that cannot be had is ``None``
(JSON null) and the reason is said, never NaN.
"""

from __future__ import annotations

import numpy as np

VAN_HERK = (2.5, 0.7)
STROOM = (2.0, 0.7)


def per_patient(group: np.ndarray, values: np.ndarray, n_patients: int) -> tuple:
    """(counts (P,), m_p (P, k), s_p (P, k) with NaN where a patient has one fraction) — vectorised."""
    values = np.asarray(values, float).reshape(len(group), -1)
    counts = np.bincount(group, minlength=n_patients).astype(float)
    sums = np.stack([np.bincount(group, values[:, a], n_patients) for a in range(values.shape[1])], 1)
    means = sums / counts[:, None]
    dev2 = (values - means[group]) ** 2
    ss = np.stack([np.bincount(group, dev2[:, a], n_patients) for a in range(values.shape[1])], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sds = np.sqrt(ss / (counts - 1)[:, None])
    sds[counts < 2] = np.nan
    return counts, means, sds


def _value(x, nd=4):
    return None if x is None else round(float(x), nd)


def population_statistics(group, values, n_patients: int, unit: str, names) -> dict:
    """Per-axis M, Σ, σ and the margins of set-up errors ``values`` (n, k); see the module docstring.

    Parameters
    ----------
    group : (n,) int array
        Patient index of each fraction (0 .. n_patients − 1).
    values : (n, k) array
        Set-up errors (patient is displaced), one column per axis in ``unit``.
    n_patients : int
    unit : str
        ``"mm"`` or ``"deg"``: the suffix of the output keys.
    names : sequence of str
        Axis names (``lateral``, ``longitudinal``, ...), one per column.

    Returns
    -------
    dict
        axis name → ``{M_<unit>, Sigma_<unit>, sigma_<unit>, margin_van_herk_<unit>, margin_stroom_<unit>}``.
    """
    counts, means, sds = per_patient(group, values, n_patients)
    multi = counts >= 2
    out = {}
    for a, name in enumerate(names):
        big_m = means[:, a].mean()
        big_sigma = means[:, a].std(ddof=1) if n_patients >= 2 else None
        small_sigma = np.sqrt(np.mean(sds[multi, a] ** 2)) if multi.any() else None
        both = big_sigma is not None and small_sigma is not None
        out[name] = {
            f"M_{unit}": _value(big_m),
            f"Sigma_{unit}": _value(big_sigma),
            f"sigma_{unit}": _value(small_sigma),
            f"margin_van_herk_{unit}": _value(VAN_HERK[0] * big_sigma + VAN_HERK[1] * small_sigma)
            if both
            else None,
            f"margin_stroom_{unit}": _value(STROOM[0] * big_sigma + STROOM[1] * small_sigma)
            if both
            else None,
        }
    return out


def statistics_notes(counts: np.ndarray, patients: list) -> tuple[list, list]:
    """(single-fraction patient ids, notes in words) for the STATS.json."""
    single = [p for p, n in zip(patients, counts, strict=True) if n < 2]
    notes = []
    if single:
        notes.append(
            f"{len(single)} patient(s) with a single fraction count for M and Σ but not for σ "
            f"(no within-patient SD): {', '.join(single[:10])}{' ...' if len(single) > 10 else ''}"
        )
    if len(patients) < 2:
        notes.append("Σ (and the margins) need at least 2 patients: null")
    if len(single) == len(patients):
        notes.append("σ (and the margins) need a patient with at least 2 fractions: null")
    return single, notes
