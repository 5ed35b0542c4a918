"""Vectorised maps between an image grid's voxel indices and LPS mm (sitk origin/spacing/direction).

SimpleITK (like DICOM, PS3.3 C.7.6.2.1.1) places index i at ``origin + direction · (spacing ∘ i)``;
these helpers apply that to N points at once (sitk's own methods take one point per call).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def index_to_lps_matrix(image: sitk.Image) -> np.ndarray:
    """4×4 mapping a continuous index (x, y, z) of ``image`` to LPS mm."""
    d = np.asarray(image.GetDirection(), float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = d @ np.diag(image.GetSpacing())
    m[:3, 3] = image.GetOrigin()
    return m


def lps_to_index(image: sitk.Image, points) -> np.ndarray:
    """Continuous (x, y, z) indices of N×3 LPS points in ``image``."""
    m = np.linalg.inv(index_to_lps_matrix(image))
    p = np.asarray(points, float)
    return p @ m[:3, :3].T + m[:3, 3]


def index_to_lps(image: sitk.Image, index) -> np.ndarray:
    """LPS mm of N×3 continuous (x, y, z) indices of ``image``."""
    m = index_to_lps_matrix(image)
    return np.asarray(index, float) @ m[:3, :3].T + m[:3, 3]
