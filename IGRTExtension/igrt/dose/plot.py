"""A picture of dose-impact documents (matplotlib, Agg, PNG): one panel per structure, the planned DVH and
the DVH of the anatomy where each placement put it (patient is displaced; static dose cloud)."""

from __future__ import annotations

from pathlib import Path

from igrt.review.plots import _pyplot, _save  # the project's one matplotlib set-up and atomic PNG write

STYLES = ("--", "-.", ":", (0, (5, 1)))


def impact_dvh_png(docs: dict[str, dict], names, path, title: str = "DVH") -> Path:
    """``docs``: {label: dose-impact document}; ``names``: the structures to draw (in every document)."""
    plt = _pyplot()
    path = Path(path)
    fig, axes = plt.subplots(
        1, len(names), figsize=(5.5 * len(names), 4.2), constrained_layout=True, squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        planned = None
        for k, (label, doc) in enumerate(docs.items()):
            row = next(s for s in doc["structures"] if s["name"] == name)
            planned = row["dvh"]["planned"]
            curve = row["dvh"]["fraction"]
            ax.plot(curve["dose_gy"], curve["volume_pct"], STYLES[k % len(STYLES)], label=label)
        ax.plot(planned["dose_gy"], planned["volume_pct"], "k-", lw=1.2, label="planned")
        ax.set_title(name)
        ax.set_xlabel("dose (Gy)")
        ax.set_ylabel("volume (%) receiving at least the dose")
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title} — static dose cloud, anatomy moved rigidly (patient is displaced)")
    _save(fig, path)
    plt.close(fig)
    return path
