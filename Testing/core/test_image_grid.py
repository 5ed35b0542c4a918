"""igrt.image_grid's interpolators, against functions they must reproduce exactly."""

import numpy as np

from igrt.image_grid import cubic, trilinear


def _grid(fn, shape=(12, 13, 14)):
    z, y, x = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]].astype(float)
    return fn(x, y, z)


def test_cubic_reproduces_a_quadratic_and_its_gradient():
    """Keys' a = −½ kernel is exact for polynomials up to degree 2 (Keys 1981), derivatives included."""

    def q(x, y, z):
        return 0.3 * x * x - 0.2 * x * y + 0.1 * y * y + 0.5 * z + 1.0

    idx = np.random.default_rng(0).uniform(1, 10, (500, 3))
    value, grad = cubic(_grid(q), idx, gradient=True)
    x, y, z = idx.T
    np.testing.assert_allclose(value, q(x, y, z), atol=1e-12)
    np.testing.assert_allclose(
        grad, np.stack([0.6 * x - 0.2 * y, 0.2 * y - 0.2 * x, 0.5 + 0 * x], 1), atol=1e-12
    )


def test_cubic_takes_the_voxel_value_at_a_voxel_and_is_nan_within_a_voxel_of_the_faces():
    arr = np.random.default_rng(1).normal(size=(12, 13, 14))
    out = cubic(arr, np.array([[5.0, 6.0, 7.0], [0.5, 5, 5], [12.5, 5, 5], [5, 5, 10.2]]))
    assert out[0] == arr[7, 6, 5]
    assert np.isnan(out[1:]).all()


def test_trilinear_is_exact_for_a_plane_where_cubic_is_too():
    def plane(x, y, z):
        return 2.0 * x - y + 0.25 * z

    idx = np.array([[3.3, 4.7, 5.1], [1.5, 1.5, 1.5]])
    expected = plane(*idx.T)
    np.testing.assert_allclose(trilinear(_grid(plane), idx), expected, atol=1e-12)
    np.testing.assert_allclose(cubic(_grid(plane), idx), expected, atol=1e-12)


def test_cubic_smoothing_adds_a_third_of_its_fraction_as_variance_along_its_axis_only():
    """The cubic B-spline reproduces x² as x² + 1/3 (its variance, 1/3 voxel²), Keys' kernel as x²: a blend
    with fraction s along z reads x² + z² as x² + z² + s/3, with the exact derivatives (2x, 0, 2z)."""

    def q(x, y, z):
        return x * x + z * z

    idx = np.random.default_rng(2).uniform(1, 10, (300, 3))
    value, grad = cubic(_grid(q), idx, gradient=True, smoothing=(0.0, 0.0, 0.375))
    x, y, z = idx.T
    np.testing.assert_allclose(value, q(x, y, z) + 0.125, atol=1e-9)
    np.testing.assert_allclose(grad, np.stack([2 * x, 0 * x, 2 * z], 1), atol=1e-9)


def test_cubic_smoothing_spreads_a_single_voxel_over_its_neighbours():
    """At a voxel the B-spline weighs it 4/6 and each neighbour 1/6; a half blend with Keys' (1 and 0):
    5/6 and 1/12."""
    arr = np.zeros((12, 13, 14))
    arr[6, 6, 7] = 1.0
    at = np.array([[7.0, 6.0, 6.0], [7.0, 6.0, 5.0]])
    np.testing.assert_allclose(cubic(arr, at, smoothing=(0, 0, 1.0)), [4 / 6, 1 / 6], atol=1e-12)
    np.testing.assert_allclose(cubic(arr, at, smoothing=(0, 0, 0.5)), [5 / 6, 1 / 12], atol=1e-12)
    np.testing.assert_allclose(cubic(arr, at), [1.0, 0.0], atol=1e-12)  # Keys' kernel interpolates
