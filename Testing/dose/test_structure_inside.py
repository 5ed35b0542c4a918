"""Points inside a structure (drawing structures on slices): a box with a hole, its end planes, a mask."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from dose_fixtures import rectangle

from igrt.dose.inside import structure_contains
from igrt.dose.model import Structure


def test_contours_with_a_hole_and_the_end_planes():
    planes = [0.0, 2.5, 5.0]
    contours = [c for z in planes for c in (rectangle(0, 10, 0, 10, z), rectangle(3, 7, 3, 7, z))]
    s = Structure("ring", contours=contours, slab_mm=2.5)
    points = np.array(
        [
            [1.0, 1.0, 2.5],  # in the ring
            [5.0, 5.0, 2.5],  # in the hole
            [1.0, 1.0, 0.1],  # just inside the first plane
            [1.0, 1.0, -0.1],  # on the cap: 0.1 mm beyond, the ring scaled by 0.92 about (5, 5): x 0.4 … 9.6
            [1.0, 1.0, -0.5],  # 0.5 mm beyond: scaled by 0.6, x 2 … 8: outside
            [2.5, 2.5, -0.5],  # … but (2.5, 2.5) is in that ring
            [4.0, 4.0, -0.5],  # … and (4, 4) in its hole (3.8 … 6.2)
            [5.0, 1.0, -1.3],  # beyond half a slab: outside
            [1.0, 1.0, 5.0],  # on the last plane
            [11.0, 1.0, 2.5],  # beside it
            [1.0, 1.0, 3.7],  # between planes: the nearer plane (5.0) holds it
        ]
    )
    expected = [True, False, True, True, False, True, False, False, True, False, True]
    assert structure_contains(s, points).tolist() == expected
    gap = Structure("gap", contours=[rectangle(0, 10, 0, 10, z) for z in (0.0, 2.5, 10.0)], slab_mm=2.5)
    assert structure_contains(gap, [[5, 5, 6.0], [5, 5, 8.9], [5, 5, 4.0]]).tolist() == [False, True, False]


def test_mask_structure():
    a = np.zeros((4, 5, 6), np.uint8)
    a[1:3, 1:4, 2:5] = 1
    mask = sitk.GetImageFromArray(a)
    mask.SetSpacing((2.0, 2.0, 2.0))
    mask.SetOrigin((10.0, 0.0, 0.0))
    s = Structure("m", mask=mask)
    inside = structure_contains(s, [[10 + 2 * 3, 2 * 2, 2 * 1.4], [10 + 2 * 1, 2 * 2, 2 * 1], [-50, 0, 0]])
    assert inside.tolist() == [True, False, False]
