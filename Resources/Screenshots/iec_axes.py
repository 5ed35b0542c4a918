"""Draw Resources/Screenshots/iec-axes.png: the IEC 61217 table-top axes and the eight patient positions.

Run from the repository root with matplotlib installed: ``.venv/bin/python Resources/Screenshots/iec_axes.py``.
Not part of the package. The patient directions come from the hand-worked table
(Testing/data/couch/hand_worked.json, ``table_top_axes_lps``), not from the code under test.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse, FancyArrowPatch  # noqa: E402
from mpl_toolkits.mplot3d import proj3d  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
AXES = json.loads((ROOT / "Testing/data/couch/hand_worked.json").read_text())["table_top_axes_lps"]
ORDER = ("HFS", "HFP", "FFS", "FFP", "HFDL", "HFDR", "FFDL", "FFDR")
COLORS = {"X": "#d62728", "Y": "#2ca02c", "Z": "#1f77b4"}


def table_components(orientation, lps):
    """Table-top (Xt, Yt, Zt) components of an LPS direction, from the hand-derived axes."""
    a = AXES[orientation]
    return np.array([np.dot(a[k], lps) for k in ("Xt", "Yt", "Zt")], float)


def arc3d(ax, axis, color, radius=0.16, at=0.78):
    """Right-handed rotation arrow about a coordinate axis (0 = X, 1 = Y, 2 = Z), drawn around its tip."""
    t = np.linspace(0.3 * np.pi, 1.85 * np.pi, 60)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    pts = np.zeros((len(t), 3))
    pts[:, i], pts[:, j] = radius * np.cos(t), radius * np.sin(t)
    pts[:, axis] = at
    ax.plot(*pts.T, color=color, lw=1.8)
    d = pts[-1] - pts[-3]
    ax.quiver(*pts[-1], *d, color=color, length=0.08, normalize=True, arrow_length_ratio=1.0, lw=1.8)


def label(ax, xyz, text, offset, color="k", ha="left", size=9):
    """Text next to a 3-D point, offset in points on the page (no overlaps from perspective)."""
    x, y, _ = proj3d.proj_transform(*xyz, ax.get_proj())
    ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", color=color, ha=ha, fontsize=size)


def draw_3d(ax):
    ax.set_box_aspect((1.5, 3.2, 1.3), zoom=1.25)
    ax.set_proj_type("ortho")
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-2.2, 2.1)
    ax.set_zlim(-0.7, 1.1)
    ax.view_init(elev=24, azim=-68)
    ax.set_axis_off()
    # Couch top (table top) with a HFS patient on it; the gantry at +Y.
    x, y = np.meshgrid([-0.45, 0.45], [-2.1, 0.9])
    ax.plot_surface(x, y, np.full_like(x, -0.4), color="0.8", alpha=0.5)
    for xs in (-0.22, 0.22):
        ax.plot([xs, xs], [-1.9, 0.35], [-0.28, -0.28], color="0.5", lw=0.9)
    u = np.linspace(0, 2 * np.pi, 40)
    ax.plot(0.15 * np.cos(u), 0.55 + 0.18 * np.sin(u), np.full_like(u, -0.28), color="0.35", lw=1.2)
    theta = np.linspace(0, 2 * np.pi, 80)
    ax.plot(0.95 * np.cos(theta), np.full_like(theta, 2.0), 0.95 * np.sin(theta), color="0.6", lw=3)
    for vec, name in (((1, 0, 0), "X"), ((0, 1, 0), "Y"), ((0, 0, 1), "Z")):
        ax.quiver(0, 0, 0, *vec, color=COLORS[name], lw=2.8, arrow_length_ratio=0.1)
    arc3d(ax, 2, COLORS["Z"])
    arc3d(ax, 0, COLORS["X"])
    arc3d(ax, 1, COLORS["Y"])
    ax.scatter([0], [0], [0], color="k", s=25)
    label(ax, (0, 0, 1.0), "Zt: vertical, up", (6, 4), COLORS["Z"])
    label(ax, (0, 1.0, 0), "Yt: longitudinal,\ntowards the gantry", (8, 2), COLORS["Y"])
    label(ax, (1.0, 0, 0), "Xt: lateral, to the observer's right", (4, -16), COLORS["X"])
    label(ax, (-0.16, 0, 0.78), "couch rotation +", (-8, -3), COLORS["Z"], ha="right")
    label(ax, (0.78, 0, 0.16), "pitch +", (6, 4), COLORS["X"])
    label(ax, (0.0, 0.78, -0.16), "roll +", (8, -14), COLORS["Y"])
    label(ax, (0, 0, 0), "isocenter", (-8, 2), ha="right", size=8)
    label(ax, (-0.15, 0.55, -0.28), "head (HFS)", (-10, -16), "0.35", ha="right", size=8)
    label(ax, (0, 2.0, 0.95), "gantry", (0, 6), "0.45", ha="center")
    label(ax, (0, -2.1, -0.4), "observer at the couch foot, facing the gantry", (0, -16), ha="center", size=8)


def draw_position(ax, orientation):
    """End view from the couch foot: Xt to the right, Zt up; the body section with its left (L) and front (A)."""
    left = table_components(orientation, (1, 0, 0))
    ant = table_components(orientation, (0, -1, 0))
    sup = table_components(orientation, (0, 0, 1))
    lx, lz = left[0], left[2]
    angle = np.degrees(np.arctan2(lz, lx))
    ax.add_patch(Ellipse((0, 0), 1.6, 0.9, angle=angle, fc="#f3e3d3", ec="0.3"))
    ax.add_patch(Ellipse((0.62 * ant[0], 0.62 * ant[2]), 0.22, 0.22, fc="0.3"))  # nose: anterior
    ax.text(1.0 * lx, 1.0 * lz, "L", ha="center", va="center", fontsize=11, weight="bold", color="#7b3294")
    ax.text(-1.0 * lx, -1.0 * lz, "R", ha="center", va="center", fontsize=11, color="#7b3294")
    ax.text(0.92 * ant[0], 0.92 * ant[2], "A", ha="center", va="center", fontsize=10, weight="bold")
    ax.add_patch(FancyArrowPatch((-1.2, -1.05), (-0.7, -1.05), arrowstyle="->", color=COLORS["X"], lw=1.5))
    ax.add_patch(FancyArrowPatch((-1.2, -1.05), (-1.2, -0.55), arrowstyle="->", color=COLORS["Z"], lw=1.5))
    ax.text(-0.65, -1.1, "Xt", color=COLORS["X"], fontsize=8, va="center")
    ax.text(-1.2, -0.45, "Zt", color=COLORS["Z"], fontsize=8, ha="center")
    head = "head → gantry (+Yt)" if sup[1] > 0 else "feet → gantry (head −Yt)"
    ax.set_title(f"{orientation}\n{head}", fontsize=9)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.set_axis_off()


def main(out=ROOT / "Resources/Screenshots/iec-axes.png"):
    fig = plt.figure(figsize=(11, 9.5))
    fig.text(
        0.5,
        0.975,
        "IEC 61217 table-top axes: right-handed rotations, R = Rz(couch rotation)·Rx(pitch)·Ry(roll)",
        ha="center",
        fontsize=11,
        weight="bold",
    )
    ax3d = fig.add_axes((0.0, 0.45, 1.0, 0.52), projection="3d")
    draw_3d(ax3d)
    fig.text(
        0.5,
        0.44,
        "The eight patient positions seen from the couch foot (DICOM PS3.3 C.7.3.1.1.2; decubitus right/left = "
        "right/left side down).\nL = patient's left, A = anterior (the dot is the nose).",
        ha="center",
        fontsize=9.5,
    )
    for k, orientation in enumerate(ORDER):
        ax = fig.add_axes((0.01 + (k % 4) * 0.25, 0.215 - (k // 4) * 0.21, 0.23, 0.17))
        draw_position(ax, orientation)
    fig.savefig(out, dpi=100)
    print(out)


if __name__ == "__main__":
    main()
