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


def test_box_volume_and_its_cone_end_caps():
    """20×10 mm rectangles on z = 0, 2.5, …, 10: a 2000 mm³ body between the end planes and a cone cap of
    200·2.5/6 = 83.3 mm³ beyond each (the end section shrinking to its centre over half a slab).

    At h = 0.5 a slab has 6 sub-planes, 3 on each cap at s = 5/6, 1/2, 1/6: the 16.67×8.33, 10×5 and
    3.33×1.67 mm rectangles about (10, 5), which hold 34×16, 20×10 and 6×4 grid points (x, y = 0.25 + 0.5·k),
    each point 0.25 mm² of a 2.5/6 mm thick sub-plane.
    """
    box = Structure("box", contours=box_contours(0, 20, 0, 10, np.arange(0, 10.1, 2.5)), slab_mm=2.5)
    samples = sample_structure(box, 0.5)
    z = samples.points[:, 2]
    assert np.count_nonzero((z > 0) & (z < 10)) * samples.weight_mm3 == pytest.approx(2000.0, rel=1e-12)
    assert samples.volume_mm3 == pytest.approx(2000 + 2 * 0.25 * (544 + 200 + 24) * 2.5 / 6, rel=1e-12)
    assert z.min() > -1.25 and z.max() < 11.25
    assert samples.points[:, 0].min() > 0 and samples.points[:, 0].max() < 20
    fine = sample_structure(box, 0.1).volume_mm3  # the caps converge on the cone's volume
    assert fine == pytest.approx(2000 + 2 * 200 * 2.5 / 6, rel=1e-3)
    single = Structure("one plane", contours=[rectangle(0, 4, 0, 5, 7.5)], slab_mm=2.5)
    # both sides of a one-plane structure are ends: two cones, 20·2.5/3 mm³
    assert sample_structure(single, 0.1).volume_mm3 == pytest.approx(4 * 5 * 2.5 / 3, rel=1e-2)


def test_mask_sampling_and_a_structure_on_any_grid():
    a = np.zeros((6, 6, 6), np.uint8)
    a[1:5, 1:5, 1:5] = 1
    mask = sitk.GetImageFromArray(a)
    mask.SetSpacing((2.0, 2.0, 2.0))
    samples = sample_structure(Structure("cube", mask=mask), 0.5)
    assert samples.volume_mm3 == pytest.approx(64 * 8.0)
    assert len(samples.points) == 64 * 4**3
    # The box x 0..10, y 0..6, z 0..4 on a 1 mm grid whose voxels span i−½ … i+½: the voxels at x = 0
    # and x = 10 are half inside, so are the ones at y = 0, 6. At z = 0 (and 4) the body fills half a voxel
    # and the cone cap (slab 2: section scale 1 − t over t = 0 … 1, sub-planes at t = 0.125, 0.375) the
    # other half where its section (5 ± 5s, 3 ± 3s, s ≥ 0.625) covers the voxel, as in the middle.
    box = Structure("box", contours=box_contours(0, 10, 0, 6, [0.0, 2.0, 4.0]), slab_mm=2.0)
    ref = sitk.Image(14, 9, 7, sitk.sitkFloat32)
    frac = sitk.GetArrayFromImage(structure_fraction(box, ref, spacing_mm=0.25))
    assert frac[2, 3, 5] == pytest.approx(1.0)
    assert frac[2, 3, 0] == pytest.approx(0.5) and frac[2, 3, 10] == pytest.approx(0.5)
    assert frac[0, 3, 5] == pytest.approx(1.0) and frac[2, 0, 0] == pytest.approx(0.25)
    assert frac[0, 3, 0] == pytest.approx(0.25)  # the cap's section starts at x = 0.625: the body's quarter
    assert frac[2, 3, 11] == 0.0
    assert frac[1:4].sum() == pytest.approx(10 * 6 * 3)  # z 0.5 … 3.5: the body only
    label = sitk.GetArrayFromImage(structure_label(box, ref))
    # at least half inside: the 9×5×3 inner voxels and the face voxels (½), not edges (¼) or corners (⅛);
    # beyond the end planes (z = 5) the cap holds at most 7/16 of a voxel
    assert label.sum() == 9 * 5 * 3 + 2 * 5 * 3 + 9 * 2 * 3 + 9 * 5 * 2
