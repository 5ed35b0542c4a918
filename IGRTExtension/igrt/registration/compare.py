"""Visual comparison of the planning and daily images: fusion, checkerboard, difference, flicker frames.

Everything is computed on three orthogonal display slices through the isocenter (1 mm pixels, so the
pictures have the true aspect ratio). Orientation of the pictures (radiological convention): axial
with the patient's left on the picture's right and anterior up; coronal with superior up and the
patient's left on the right; sagittal with superior up and anterior on the left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt import geometry

#: Direction cosines (columns: picture x, picture y downwards, slice normal) of each view, in LPS.
VIEWS = {
    "axial": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "coronal": ((1, 0, 0), (0, 0, -1), (0, 1, 0)),
    "sagittal": ((0, 1, 0), (0, 0, -1), (-1, 0, 0)),
}


def slice_reference(view: str, center, size_mm=(200.0, 160.0), spacing_mm: float = 1.0) -> sitk.Image:
    """A one-slice reference grid through ``center`` for resampling a view."""
    cols = np.array(VIEWS[view], float).T  # 3×3, columns are the axes
    n = [int(round(size_mm[0] / spacing_mm)), int(round(size_mm[1] / spacing_mm)), 1]
    origin = (
        np.asarray(center, float)
        - cols[:, 0] * (n[0] - 1) / 2 * spacing_mm
        - cols[:, 1] * (n[1] - 1) / 2 * spacing_mm
    )
    ref = sitk.Image(n, sitk.sitkFloat32)
    ref.SetSpacing([spacing_mm] * 3)
    ref.SetOrigin([float(v) for v in origin])
    ref.SetDirection([float(v) for v in cols.ravel()])
    return ref


def planning_to_daily_transform(matrix_lps, planning_iso, daily_iso) -> sitk.AffineTransform:
    """Transform taking a planning-frame point to the daily-image point of the same anatomy.

    With ``matrix_lps`` = identity it is the plain isocenter alignment (the "before" picture).
    """
    m = geometry.planning_to_daily(matrix_lps, planning_iso, daily_iso)
    t = sitk.AffineTransform(3)
    t.SetMatrix([float(v) for v in m[:3, :3].ravel()])
    t.SetTranslation([float(v) for v in m[:3, 3]])
    return t


def resample_slice(image: sitk.Image, ref: sitk.Image, transform=None, default=np.nan) -> np.ndarray:
    """2-D array of ``image`` sampled on the one-slice grid ``ref`` (NaN outside the image)."""
    t = transform if transform is not None else sitk.Transform()
    out = sitk.Resample(image, ref, t, sitk.sitkLinear, float(default), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)[0]


def match_intensity(daily: np.ndarray, planning: np.ndarray) -> np.ndarray:
    """Map daily intensities linearly onto the planning HU scale (least squares where both are defined).

    CBCT numbers are not HU; the fit makes the difference image and the shared window meaningful.
    """
    a, b = linear_fit(daily, planning)
    return a * daily + b


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares (a, b) with y ≈ a·x + b where both are defined; identity when too few are."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 10:
        return 1.0, 0.0
    a, b = np.polyfit(x[ok], y[ok], 1)
    return float(a), float(b)


def to_gray(a: np.ndarray, level: float, width: float) -> np.ndarray:
    """Window an HU array to 0..1 (NaN → 0)."""
    g = (np.nan_to_num(a, nan=level - width) - (level - width / 2)) / width
    return np.clip(g, 0.0, 1.0)


def auto_window(a: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.7) -> np.ndarray:
    """Map an image to 0..1 by its own percentiles (NaN → 0): each modality gets its own window."""
    ok = np.isfinite(a)
    if ok.sum() < 10:
        return np.zeros(a.shape)
    lo, hi = np.percentile(a[ok], [low_pct, high_pct])
    return np.clip((np.nan_to_num(a, nan=lo) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def fusion_rgb(planning: np.ndarray, daily: np.ndarray) -> np.ndarray:
    """Two-colour fusion: planning in magenta, daily in green, each in its own window; aligned anatomy looks grey."""
    p, d = auto_window(planning), auto_window(daily)
    return np.stack([p, d, p], axis=-1)


def checkerboard(planning: np.ndarray, daily: np.ndarray, square_px: int = 20) -> np.ndarray:
    """Alternate squares of the two images (same window), for edge continuity checks."""
    yy, xx = np.indices(planning.shape)
    sel = ((yy // square_px) + (xx // square_px)) % 2 == 0
    return np.where(sel, planning, daily)


def difference(planning: np.ndarray, daily: np.ndarray) -> np.ndarray:
    """Daily minus planning (after the linear intensity match), HU."""
    return daily - planning


def outline(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a 2-D boolean mask (4-neighbourhood), for drawing contours."""
    m = np.asarray(mask, bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def contour_overlay(gray01: np.ndarray, masks: dict) -> np.ndarray:
    """Grey picture with coloured outlines: ``masks`` maps an RGB colour tuple to a 2-D boolean mask."""
    rgb = np.stack([gray01] * 3, axis=-1)
    for colour, mask in masks.items():
        rgb[outline(mask)] = colour
    return rgb


#: Planning structures drawn on the daily image when no segmentation is given: HU thresholds.
DEFAULT_CONTOURS = {"body": (-400.0, (0.0, 0.9, 1.0)), "bone": (200.0, (1.0, 0.85, 0.0))}


def _u8(rgb01: np.ndarray) -> np.ndarray:
    return np.clip(np.round(rgb01 * 255), 0, 255).astype(np.uint8)


def write_png(path, rgb01: np.ndarray) -> None:
    """Write a 2-D gray (H×W) or colour (H×W×3) picture with values in 0..1 as PNG."""
    arr = _u8(rgb01)
    img = sitk.GetImageFromArray(arr, isVector=arr.ndim == 3)
    sitk.WriteImage(img, str(path))


def comparison_slices(
    planning: sitk.Image,
    daily: sitk.Image,
    matrix_lps,
    planning_iso,
    daily_iso,
    size_mm=(280.0, 200.0),
    structures=None,
) -> dict:
    """Planning, daily-before and daily-after arrays for each view (daily on the planning HU scale).

    ``structures``: optional [(RGB 0–1, :class:`igrt.dose.model.Structure`)] of the planning frame; their
    cuts through each view are drawn instead of the HU-threshold contours (planned anatomy on the planning
    grid, so "after" shows them where the match put the daily anatomy).
    """
    before = planning_to_daily_transform(np.eye(4), planning_iso, daily_iso)
    after = planning_to_daily_transform(matrix_lps, planning_iso, daily_iso)
    views = {}
    for view in VIEWS:
        ref = slice_reference(view, planning_iso, size_mm)
        p = resample_slice(planning, ref)
        d0 = resample_slice(daily, ref, before)
        d1 = resample_slice(daily, ref, after)
        # One intensity map (fitted after the match, where the anatomy agrees) for both pictures.
        a, b = linear_fit(d1, p)
        views[view] = {"planning": p, "before": a * d0 + b, "after": a * d1 + b}
        if structures:
            views[view]["structures"] = _structure_cuts(ref, structures)
    return views


def _structure_cuts(ref: sitk.Image, structures) -> dict:
    """{RGB: 2-D mask} of each structure on the one-slice grid ``ref`` (pixel centres inside)."""
    from igrt.dose.inside import structure_contains
    from igrt.image_grid import index_to_lps

    nx, ny, _ = ref.GetSize()
    j, i = np.mgrid[0:ny, 0:nx]
    points = index_to_lps(ref, np.column_stack([i.ravel(), j.ravel(), np.zeros(i.size)]))
    return {tuple(rgb): structure_contains(s, points).reshape(ny, nx) for rgb, s in structures}


def write_panels(views: dict, folder, level=40.0, width=1000.0) -> dict:
    """Write the comparison pictures; returns {panel name: file name}. Each panel has the three views side by side."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def row(fn):
        parts = [fn(v) for v in views.values()]
        h = max(p.shape[0] for p in parts)
        pad = [np.pad(p, ((0, h - p.shape[0]), (0, 4)) + ((0, 0),) * (p.ndim - 2)) for p in parts]
        return np.concatenate(pad, axis=1)

    def gray3(a):
        g = to_gray(a, level, width)
        return np.stack([g, g, g], axis=-1)

    def diff3(a):
        d = np.clip(np.nan_to_num(a) / 300.0, -1, 1)  # ±300 HU full scale: blue negative, red positive
        return np.stack([np.clip(d, 0, 1), np.zeros_like(d), np.clip(-d, 0, 1)], axis=-1)

    panels = {
        "planning": lambda v: gray3(v["planning"]),
        "daily_before": lambda v: gray3(v["before"]),
        "daily_after": lambda v: gray3(v["after"]),
        "fusion_before": lambda v: fusion_rgb(v["planning"], v["before"]),
        "fusion_after": lambda v: fusion_rgb(v["planning"], v["after"]),
        "checkerboard_before": lambda v: gray3(checkerboard(v["planning"], v["before"])),
        "checkerboard_after": lambda v: gray3(checkerboard(v["planning"], v["after"])),
        "contours_before": lambda v: contour_overlay(to_gray(v["before"], level, width), _contours(v)),
        "contours_after": lambda v: contour_overlay(to_gray(v["after"], level, width), _contours(v)),
        "difference_before": lambda v: diff3(difference(v["planning"], v["before"])),
        "difference_after": lambda v: diff3(difference(v["planning"], v["after"])),
    }

    def _contours(v):
        if v.get("structures"):  # the planning structures themselves
            return dict(v["structures"])
        return {
            colour: np.nan_to_num(v["planning"], nan=-1000) > hu for hu, colour in DEFAULT_CONTOURS.values()
        }

    names = {}
    for name, fn in panels.items():
        fname = f"{name}.png"
        write_png(folder / fname, row(fn))
        names[name] = fname
    return names
