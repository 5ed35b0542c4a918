"""Offline correction protocols simulated on measured set-up errors.

Fractions are taken per patient in the order of the ``fraction`` column (position f = 1, 2, ...). With
e_f the set-up error (patient is displaced) and c_f the correction in force at f, the residual is
r_f = e_f − c_f. Every axis (translations and, when given, rotations) is corrected the same way.

- ``none``: c_f = 0; nothing imaged.
- ``online``: daily imaging, c_f = e_f, residual 0 by construction; every fraction imaged.
- ``NAL`` (no action level, de Boer & Heijmen 2001, IJROBP 50:1350): fractions 1..N_m imaged;
  c_f = 0 for f ≤ N_m; c_f = mean of e_1..e_{N_m} for f > N_m.
- ``eNAL`` (extended NAL, de Boer & Heijmen 2007, IJROBP 67:1586): NAL plus imaging at f = N_m + k·P
  (k ≥ 1); c_f = 0 for f ≤ N_m; for f > N_m, c_f = mean of e over all imaged fractions before f.
- ``SAL`` (shrinking action level, Bel et al. 1993, Radiother Oncol 29:253), applied exactly so:
  imaging starts at fraction 1 with c = 0 and an empty list of measurements. At each imaged fraction f
  the residual e_f − c (c as in force at f) is measured and appended; with N measurements in the list
  and their mean m, if the length of m's translation part |m| (3-D, mm) exceeds α/√N, the correction
  becomes c + m from fraction f + 1 on (all axes) and the list is emptied; otherwise, once N reaches
  N_max, imaging stops and c stays. A fraction is imaged only while imaging goes on.
"""

from __future__ import annotations

import numpy as np

from igrt.errors import IGRTInputError

PROTOCOLS = ("none", "NAL", "eNAL", "SAL", "online")


def _group_starts(group: np.ndarray) -> np.ndarray:
    """Index of each fraction's patient's first fraction (fractions sorted by patient)."""
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    return starts[np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1]


def _exclusive_group_cumsum(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Sum of x over the same patient's earlier fractions (sorted by patient, then position)."""
    total = np.cumsum(x, axis=0) - x
    first = _group_starts(group)
    return total - total[first]


def _mean_of_imaged_before(group, position, errors, imaged, n_m: int) -> np.ndarray:
    """c_f = mean of e over the patient's imaged fractions before f, for f > N_m; 0 for f ≤ N_m."""
    w = imaged[:, None].astype(float)
    s = _exclusive_group_cumsum(errors * w, group)
    n = _exclusive_group_cumsum(w, group)
    later = position > n_m  # at least the N_m first fractions were imaged before, so n ≥ 1 there
    c = np.zeros_like(errors)
    c[later] = s[later] / n[later]
    return c


def nal(group, position, errors, n_m: int) -> tuple:
    """(corrections (n, k), imaged (n,)) of the NAL protocol; see the module docstring."""
    imaged = position <= n_m
    return _mean_of_imaged_before(group, position, errors, imaged, n_m), imaged


def enal(group, position, errors, n_m: int, period: int) -> tuple:
    """(corrections, imaged) of the eNAL protocol; see the module docstring."""
    imaged = (position <= n_m) | ((position - n_m) % period == 0)
    return _mean_of_imaged_before(group, position, errors, imaged, n_m), imaged


def sal(group, errors, alpha_mm: float, n_max: int) -> tuple:
    """(corrections, imaged) of the SAL protocol; see the module docstring (sequential per patient)."""
    c_all = np.zeros_like(errors)
    imaged = np.zeros(len(errors), bool)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], len(errors)], strict=True):
        c = np.zeros(errors.shape[1])
        measured: list = []
        active = True
        for f in range(lo, hi):
            c_all[f] = c
            if not active:
                continue
            imaged[f] = True
            measured.append(errors[f] - c)
            m = np.mean(measured, axis=0)
            if np.linalg.norm(m[:3]) > alpha_mm / np.sqrt(len(measured)):
                c = c + m
                measured = []
            elif len(measured) >= n_max:
                active = False
    return c_all, imaged


def check_parameters(nal_fractions: int, enal_period: int, sal_alpha_mm: float, sal_nmax: int) -> None:
    """Refuse protocol parameters that make no sense, before any work."""
    if int(nal_fractions) != nal_fractions or nal_fractions < 1:
        raise IGRTInputError(f"--nal-fractions {nal_fractions}: need a whole number ≥ 1")
    if int(enal_period) != enal_period or enal_period < 1:
        raise IGRTInputError(f"--enal-period {enal_period}: need a whole number ≥ 1")
    if not (np.isfinite(sal_alpha_mm) and sal_alpha_mm > 0):
        raise IGRTInputError(f"--sal-alpha {sal_alpha_mm} mm: need a positive number")
    if int(sal_nmax) != sal_nmax or sal_nmax < 1:
        raise IGRTInputError(f"--sal-nmax {sal_nmax}: need a whole number ≥ 1")


def simulate(name, group, position, errors, *, nal_fractions=3, enal_period=5, sal_alpha_mm=9.0, sal_nmax=2):
    """(residuals r = e − c (n, k), imaged (n,) bool) of protocol ``name`` (one of :data:`PROTOCOLS`)."""
    errors = np.asarray(errors, float)
    if name == "none":
        return errors.copy(), np.zeros(len(errors), bool)
    if name == "online":
        return np.zeros_like(errors), np.ones(len(errors), bool)
    if name == "NAL":
        c, imaged = nal(group, position, errors, nal_fractions)
    elif name == "eNAL":
        c, imaged = enal(group, position, errors, nal_fractions, enal_period)
    elif name == "SAL":
        c, imaged = sal(group, errors, sal_alpha_mm, sal_nmax)
    else:
        raise IGRTInputError(f"unknown protocol {name!r} (one of {', '.join(PROTOCOLS)})")
    return errors - c, imaged
