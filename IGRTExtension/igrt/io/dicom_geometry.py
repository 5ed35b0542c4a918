"""Slice geometry of a DICOM image series: order the slices and refuse grids that are not a 3-D box.

DICOM PS3.3 C.7.6.2.1.1 (Image Position and Image Orientation (Patient)): Image Position is the LPS
centre of the first transmitted voxel of a slice; Image Orientation holds the direction cosines of a
row (direction of increasing column index) and of a column (increasing row index). Slices are stacked
along the normal n = row × column. PS3.3 10.7.1.3: Pixel Spacing = (between rows, between columns).
A SimpleITK image built from it has direction columns (row, column, n), spacing (col sp., row sp.,
slice gap) and origin at the first slice's position: LPS like DICOM, so nothing is flipped.

Instance Number and file names are never used for ordering: scanners and exports reorder them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igrt.errors import IGRTInputError

COSINE_TOL = 1e-4  # same orientation across slices: direction cosines agree to 1e-4 (0.006°)
ORTHO_TOL = 1e-3  # row ⟂ column within 0.06°
SPACING_TOL_MM = 1e-3  # same Pixel Spacing across slices
SHEAR_TOL_MM = 0.05  # largest in-plane offset of a slice from the first slice's normal line
GRID_TOL_MM = 0.02  # slice positions may deviate from a uniform grid by max(this, GRID_TOL_FRACTION·gap)
GRID_TOL_FRACTION = 0.05


@dataclass
class SliceGeometry:
    """What one slice header says about its place in space (all LPS mm)."""

    name: str
    position: np.ndarray  # Image Position (Patient)
    orientation: np.ndarray  # Image Orientation (Patient), 6 cosines
    pixel_spacing: np.ndarray  # (row spacing, column spacing)
    rows: int
    columns: int


@dataclass
class Grid:
    """The validated 3-D grid: ``order`` indexes the input slices from first to last along n."""

    order: list[int]
    origin: np.ndarray
    spacing: np.ndarray  # x (along a row), y (along a column), z (between slices)
    direction: np.ndarray  # 3×3, columns = row cosines, column cosines, normal
    size: tuple[int, int, int]


def series_grid(slices: list[SliceGeometry], where: str) -> Grid:
    """Order ``slices`` along the slice normal and check they form one uniform box; ``where`` names the series."""
    if len(slices) < 2:
        raise IGRTInputError(f"{where} has only {len(slices)} image slice: a 3-D series is needed")
    first = slices[0]
    row, col = _orientation(first, where)
    for s in slices[1:]:
        if np.max(np.abs(s.orientation - first.orientation)) > COSINE_TOL:
            raise IGRTInputError(
                f"{where}: slices have different orientations ({_fmt(first.orientation)} in {first.name}, "
                f"{_fmt(s.orientation)} in {s.name})"
            )
        if np.max(np.abs(s.pixel_spacing - first.pixel_spacing)) > SPACING_TOL_MM:
            raise IGRTInputError(
                f"{where}: slices have different pixel spacings ({_fmt(first.pixel_spacing)} mm in "
                f"{first.name}, {_fmt(s.pixel_spacing)} mm in {s.name})"
            )
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise IGRTInputError(
                f"{where}: slices have different sizes ({first.rows}×{first.columns} in {first.name}, "
                f"{s.rows}×{s.columns} in {s.name})"
            )
    normal = np.cross(row, col)
    positions = np.array([s.position for s in slices])
    along = positions @ normal
    order = [int(i) for i in np.argsort(along, kind="stable")]
    along = along[order]
    positions = positions[order]
    gaps = np.diff(along)
    k = int(np.argmin(gaps))
    if gaps[k] < 1e-3:
        a, b = slices[order[k]].name, slices[order[k + 1]].name
        raise IGRTInputError(
            f"{where}: two slices at the same position {_fmt(positions[k])} ({a} and {b}): "
            "duplicate slices or two acquisitions in one series"
        )
    _check_shear(positions, normal, along, where)
    spacing_z = (along[-1] - along[0]) / (len(along) - 1)
    _check_uniform(along, gaps, spacing_z, where)
    return Grid(
        order=order,
        origin=positions[0],
        spacing=np.array([first.pixel_spacing[1], first.pixel_spacing[0], spacing_z]),
        direction=_clean_cosines(np.column_stack([row, col, normal])),
        size=(first.columns, first.rows, len(slices)),
    )


def _clean_cosines(direction: np.ndarray) -> np.ndarray:
    """Direction cosines below 1e-12 set to 0: far below any scanner's precision, and denormal values
    (e.g. 1e-310 written by another tool) make ITK's SVD of the direction fail with NaN."""
    d = np.array(direction, float)
    d[np.abs(d) < 1e-12] = 0.0
    return d


def _orientation(s: SliceGeometry, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit row and column cosines, refusing a non-orthogonal pair (PS3.3 C.7.6.2.1.1 requires ⟂)."""
    row, col = s.orientation[:3], s.orientation[3:]
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if abs(nr - 1) > ORTHO_TOL or abs(nc - 1) > ORTHO_TOL:
        raise IGRTInputError(
            f"{where}: Image Orientation (Patient) {_fmt(s.orientation)} in {s.name} is not made of unit vectors"
        )
    row, col = row / nr, col / nc
    dot = float(row @ col)
    if abs(dot) > ORTHO_TOL:
        angle = np.degrees(np.arccos(np.clip(dot, -1, 1)))
        raise IGRTInputError(
            f"{where}: rows and columns are not orthogonal ({angle:.3f}° apart in {s.name}): "
            "non-orthogonal image grids are not supported"
        )
    col = col - dot * row
    return row, col / np.linalg.norm(col)


def _check_shear(positions: np.ndarray, normal: np.ndarray, along: np.ndarray, where: str) -> None:
    """Slices must stack straight along the normal; a sheared stack is a gantry-tilted acquisition."""
    offsets = positions - positions[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    dist = np.linalg.norm(in_plane, axis=1)
    k = int(np.argmax(dist))
    if dist[k] > SHEAR_TOL_MM:
        tilt = np.degrees(np.arctan2(dist[k], along[k] - along[0]))
        raise IGRTInputError(
            f"{where}: slices are sheared (slice {k} is {dist[k]:.2f} mm off the first slice's normal, "
            f"a {tilt:.2f}° tilt): gantry-tilted series are not supported, resample it first"
        )


def _check_uniform(along: np.ndarray, gaps: np.ndarray, spacing: float, where: str) -> None:
    """Every slice must lie on the uniform grid first..last, within max(0.02 mm, 5 % of the gap)."""
    grid = along[0] + spacing * np.arange(len(along))
    deviation = np.abs(along - grid)
    if deviation.max() > max(GRID_TOL_MM, GRID_TOL_FRACTION * spacing):
        k = int(np.argmax(np.abs(gaps - np.median(gaps))))
        raise IGRTInputError(
            f"{where}: non-uniform slice spacing: gaps from {gaps.min():.3f} to {gaps.max():.3f} mm "
            f"(a {gaps[k]:.3f} mm gap at {along[k]:.2f} mm along the slice normal; missing slice?)"
        )


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.6g}" for x in np.asarray(v, float).ravel()) + ")"
