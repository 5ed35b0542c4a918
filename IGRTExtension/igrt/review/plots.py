"""Pictures of a review (matplotlib, Agg backend, PNG): shift history per patient and distributions per axis.

Every axis label says the sense: the plotted numbers are set-up errors, **patient is displaced**
(− the couch correction), in IEC 61217 table-top axes.
"""

from __future__ import annotations

from pathlib import Path

from igrt.review.statistics import per_patient
from igrt.review.table import ShiftTable

AXIS_LABELS = ("lateral", "longitudinal", "vertical")
MAX_LINES = 40


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    """Write the PNG under a temporary name and rename it (no half-written picture)."""
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)


def shift_history(table: ShiftTable, path, tolerance_mm: float = 2.0) -> Path:
    """One panel per translation axis: each patient's set-up error against fraction order, tolerance band."""
    plt = _pyplot()
    path = Path(path)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True, constrained_layout=True)
    shown = range(min(len(table.patients), MAX_LINES))
    for a, ax in enumerate(axes):
        ax.axhspan(-tolerance_mm, tolerance_mm, color="#cfe8cf", label=f"±{tolerance_mm:g} mm tolerance")
        for p in shown:
            sel = table.group == p
            ax.plot(
                table.position[sel], table.errors[sel, a], marker="o", ms=3, lw=1, label=table.patients[p]
            )
        ax.axhline(0, color="#444", lw=0.6)
        ax.set_ylabel(f"{AXIS_LABELS[a]} (mm)")
    axes[0].set_title(
        "Set-up error per fraction (patient is displaced = − couch correction)"
        + (
            f"; first {MAX_LINES} of {len(table.patients)} patients"
            if len(table.patients) > MAX_LINES
            else ""
        )
    )
    axes[-1].set_xlabel("fraction (order within the patient)")
    if len(table.patients) <= 12:
        axes[0].legend(fontsize=7, ncol=4, loc="upper right")
    _save(fig, path)
    plt.close(fig)
    return path


def distributions(table: ShiftTable, path) -> Path:
    """Histograms of the set-up error per translation axis and a lateral–vertical scatter of all fractions."""
    plt = _pyplot()
    path = Path(path)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), constrained_layout=True)
    for a in range(3):
        axes[a].hist(table.errors[:, a], bins=min(40, max(5, len(table.errors) // 4)), color="#4a78b5")
        axes[a].set_xlabel(f"{AXIS_LABELS[a]} (mm, patient is displaced)")
        axes[a].set_ylabel("fractions")
    means = per_patient(table.group, table.errors[:, :3], len(table.patients))[1]
    axes[3].scatter(table.errors[:, 0], table.errors[:, 2], s=6, alpha=0.5, label="fraction")
    axes[3].scatter(means[:, 0], means[:, 2], s=18, color="#c33", marker="x", label="patient mean m_p")
    axes[3].set_xlabel("lateral (mm)")
    axes[3].set_ylabel("vertical (mm)")
    axes[3].legend(fontsize=7)
    axes[3].set_aspect("equal", adjustable="datalim")
    _save(fig, path)
    plt.close(fig)
    return path
