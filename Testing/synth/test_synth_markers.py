"""Gold markers of the known-transform generator: shape, partial-volume rendering through a PSF, motion."""

import numpy as np
import pytest

from igrt import geometry
from igrt.synth.markers import Marker, add_to_array, fraction_patches, prostate_marker_set

# The CBCT simulator's grid axes: RTK (x, y, z) = LPS (left, superior, anterior) — columns in LPS.
RTK_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def test_inside_hand_points():
    mk = Marker("cylinder", (10.0, -5.0, 2.0), axis=(0.0, 0.0, 2.0), length_mm=3.0, diameter_mm=1.0)
    pts = np.array(
        [[10, -5, 3.4], [10, -5, 3.6], [10.49, -5, 2], [10.51, -5, 2], [10.3, -5.3, 0.6], [10.36, -5.36, 2]]
    )
    # on the axis 1.4 mm (in) and 1.6 mm (out) from the centre; radial 0.49 (in) and 0.51 (out);
    # radial 0.424 at 1.4 mm along (in); radial 0.509 (out).
    np.testing.assert_array_equal(mk.inside(pts), [True, False, True, False, True, False])
    sphere = Marker("sphere", (0.0, 0.0, 0.0), diameter_mm=1.5)
    # |p| = 0.74, 0.7448 (in); 0.7621, 0.866 (out) against the 0.75 mm radius
    pts = np.array([[0.74, 0, 0], [0.43, 0.43, 0.43], [0.44, 0.44, 0.44], [0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(sphere.inside(pts), [True, True, False, False])


@pytest.mark.parametrize(
    "marker",
    [
        Marker("cylinder", (3.3, -41.7, 12.9), (0.3, 0.5, 0.81), 3.0, 1.0),
        Marker("sphere", (-2.2, -38.4, 9.1), diameter_mm=1.5, length_mm=1.5),
        Marker("coil", (0.7, -40.2, 11.3), (1.0, 0.2, 0.1), 10.0, 0.75),
    ],
)
@pytest.mark.parametrize("rtk_axes", [False, True])
def test_rendered_centroid_and_volume(marker, rtk_axes):
    """On a coarse CT grid (2 × 2 × 3 mm), the rendered marker's centroid is its centre to 0.02 mm."""
    spacing = np.array([1.953125, 1.953125, 3.0])
    # Both grids cover the markers (LPS x ≈ −3…4, y ≈ −42…−38, z ≈ 9…13): the RTK grid's index y runs
    # superior (+z) from z = −20, its index z anterior (−y) from y = 47.
    direction = RTK_AXES if rtk_axes else np.eye(3)
    origin = np.array([-30.0, 47.0, -20.0]) if rtk_axes else np.array([-30.0, -70.0, -20.0])
    patches = fraction_patches([marker], origin, spacing, direction, (40, 60, 60))
    ((sl, frac),) = patches
    idx = np.argwhere(np.ones(frac.shape, bool)) + [s.start for s in sl]  # (z, y, x)
    w = frac.ravel()
    centroid = origin + (direction * spacing) @ ((idx * w[:, None]).sum(axis=0) / w.sum())[::-1]
    np.testing.assert_allclose(centroid, marker.center_lps, atol=0.02)
    if marker.shape == "sphere":
        volume = np.pi / 6 * 1.5**3
    else:
        volume = np.pi * (marker.diameter_mm / 2) ** 2 * marker.length_mm * marker.fill()
    assert w.sum() * np.prod(spacing) == pytest.approx(volume, rel=3e-3)  # PSF tails cut at 3σ
    assert frac.max() < 1.0


def test_blend_into_array():
    arr = np.full((20, 20, 20), 40.0)
    mk = Marker("sphere", (10.0, 10.0, 10.0), diameter_mm=3.0)
    add_to_array(arr, [mk], (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), np.eye(3), 30040.0)
    # The excess over the 40 HU background integrates to 30000 HU × the sphere's volume.
    assert (arr - 40).sum() == pytest.approx(30000 * np.pi / 6 * 27, rel=1e-3)
    assert np.unravel_index(np.argmax(arr), arr.shape) == (10, 10, 10)


def test_moved_marker_hand_values():
    # 90° about LPS z through the origin, then 5 mm to the left: (10, 0, 0) → (0, 10, 0) + (5, 0, 0).
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 90), (0, 0, 0), (5, 0, 0))
    moved = Marker("cylinder", (10.0, 0.0, 0.0), axis=(1.0, 0.0, 0.0)).moved(m)
    np.testing.assert_allclose(moved.center_lps, (5.0, 10.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(moved.axis, (0.0, 1.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(moved.shifted((0, 0, 4)).center_lps, (5.0, 10.0, 4.0), atol=1e-12)


def test_marker_sets_are_spread_and_reproducible():
    a = prostate_marker_set((0.0, 0.0, 0.0), seed=7, n=4)
    assert a == prostate_marker_set((0.0, 0.0, 0.0), seed=7, n=4)
    c = np.array([m.center_lps for m in a])
    d = np.linalg.norm(c[:, None] - c[None], axis=2)[np.triu_indices(4, 1)]
    assert d.min() >= 10.0 - 0.02  # rounded to 0.01 mm
    assert np.all((np.linalg.norm(c, axis=1) >= 8.0 - 0.02) & (np.linalg.norm(c, axis=1) <= 18.0 + 0.02))
