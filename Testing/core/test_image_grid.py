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
