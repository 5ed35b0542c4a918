"""Even–odd polygon fill, structure sampling and masks on a grid: hand-counted grid points and volumes."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from dose_fixtures import box_contours, rectangle

from igrt.dose.model import Structure
from igrt.dose.rasterize import fill_polygons, polygon_area_mm2, self_intersects
from igrt.dose.sampling import sample_structure, structure_fraction, structure_label


def test_square_with_a_hole_and_an_island_by_even_odd():
    """Grid points at 0.05 + 0.1·k (never on an edge): outer 10×10 mm, hole 4×4, island 2×2 in the hole."""
    outer = rectangle(0, 10, 0, 10, 0)
    hole = rectangle(3, 7, 3, 7, 0)
    island = rectangle(4, 6, 4, 6, 0)
    inside = fill_polygons([outer, hole], 0.05, 0.05, 0.1, 120, 120)
    assert inside.sum() == 100 * 100 - 40 * 40
    assert not inside[50, 50] and inside[10, 10]  # (5.05, 5.05) is in the hole, (1.05, 1.05) is not
    with_island = fill_polygons([outer, hole, island], 0.05, 0.05, 0.1, 120, 120)
    assert with_island.sum() == 100 * 100 - 40 * 40 + 20 * 20
    two = fill_polygons([rectangle(0, 2, 0, 2, 0), rectangle(5, 6, 0, 3, 0)], 0.05, 0.05, 0.1, 80, 40)
    assert two.sum() == 20 * 20 + 10 * 30  # two separate contours on one plane: both kept


def test_a_vertex_on_a_scanline_is_counted_once():
    """Arrow (0,0)-(10,5)-(0,10)-(5,5): its reflex vertex (5,5) lies on the row y=5 (h=0.5, exact in binary).

    On that row only 5 < x < 10 is inside: columns x = 5.25 … 9.75, 10 points. Counting the vertex
    twice (or not at all) would flip the parity for the rest of the row.
    """
    arrow = np.array([[0, 0], [10, 5], [0, 10], [5, 5]], float)
    inside = fill_polygons([arrow], 0.25, 0.0, 0.5, 24, 24)
    xs = 0.25 + 0.5 * np.flatnonzero(inside[10])
    assert xs.tolist() == pytest.approx(np.arange(5.25, 10.0, 0.5).tolist())


def test_circle_area_converges_and_crossings_are_found():
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    circle = np.column_stack([10 * np.cos(t), 10 * np.sin(t)])
    inside = fill_polygons([circle], -10.5, -10.5, 0.05, 430, 430)
    assert inside.sum() * 0.05**2 == pytest.approx(polygon_area_mm2(circle), rel=2e-3)
    assert polygon_area_mm2(circle) == pytest.approx(np.pi * 100, rel=1e-3)
    assert self_intersects([[0, 0], [10, 10], [10, 0], [0, 10]])  # bow tie
    assert not self_intersects([[0, 0], [10, 0], [10, 5], [5, 5], [5, 10], [0, 10]])  # concave L
    assert not self_intersects(circle)


def test_box_volume_is_exact_and_ends_at_its_end_planes():
    """20×10 mm rectangles on z = 0, 2.5, …, 10: the box spans z 0…10 (end slabs halved) = 2000 mm³."""
    box = Structure("box", contours=box_contours(0, 20, 0, 10, np.arange(0, 10.1, 2.5)), slab_mm=2.5)
    samples = sample_structure(box, 0.5)
    assert samples.volume_mm3 == pytest.approx(2000.0, rel=1e-12)
    assert samples.points[:, 2].min() > 0 and samples.points[:, 2].max() < 10
    assert samples.points[:, 0].min() > 0 and samples.points[:, 0].max() < 20
    single = Structure("one plane", contours=[rectangle(0, 4, 0, 5, 7.5)], slab_mm=2.5)
    assert sample_structure(single, 0.25).volume_mm3 == pytest.approx(4 * 5 * 2.5)  # keeps its whole slab


def test_mask_sampling_and_a_structure_on_any_grid():
    a = np.zeros((6, 6, 6), np.uint8)
    a[1:5, 1:5, 1:5] = 1
    mask = sitk.GetImageFromArray(a)
    mask.SetSpacing((2.0, 2.0, 2.0))
    samples = sample_structure(Structure("cube", mask=mask), 0.5)
    assert samples.volume_mm3 == pytest.approx(64 * 8.0)
    assert len(samples.points) == 64 * 4**3
    # The box x 0..10, y 0..6, z 0..4 on a 1 mm grid whose voxels span i−½ … i+½: the voxels at x = 0
    # and x = 10 are half inside, so are the ones at y = 0, 6 and z = 0, 4.
    box = Structure("box", contours=box_contours(0, 10, 0, 6, [0.0, 2.0, 4.0]), slab_mm=2.0)
    ref = sitk.Image(14, 9, 7, sitk.sitkFloat32)
    frac = sitk.GetArrayFromImage(structure_fraction(box, ref, spacing_mm=0.25))
    assert frac[2, 3, 5] == pytest.approx(1.0)
    assert frac[2, 3, 0] == pytest.approx(0.5) and frac[2, 3, 10] == pytest.approx(0.5)
    assert frac[0, 3, 5] == pytest.approx(0.5) and frac[2, 0, 0] == pytest.approx(0.25)
    assert frac[2, 3, 11] == 0.0
    assert frac.sum() == pytest.approx(10 * 6 * 4)
    label = sitk.GetArrayFromImage(structure_label(box, ref))
    # at least half inside: the 9×5×3 inner voxels and the face voxels (½), not edges (¼) or corners (⅛)
    assert label.sum() == 9 * 5 * 3 + 2 * 5 * 3 + 9 * 2 * 3 + 9 * 5 * 2
