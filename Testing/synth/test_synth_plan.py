"""The analytic four-field box plan of the pelvis phantom: doses worked by hand, structure volumes from
the solids' formulas."""

from __future__ import annotations

import numpy as np
import pytest

from igrt.dose.dvh import dose_at_points
from igrt.dose.sampling import sample_structure
from igrt.synth.phantom import PROSTATE_SEMI_AXES, RECTUM_RADIUS_MM, RECTUM_Z_RANGE, prostate_ellipsoid_lps
from igrt.synth.plan import PRESCRIPTION_GY, PTV_MARGIN_MM, pelvis_plan


def test_four_field_box_doses_and_structure_volumes():
    dose, structures = pelvis_plan()
    c, semi = prostate_ellipsoid_lps()
    half = semi + PTV_MARGIN_MM + 5.0  # field half-widths (x 34, y 29, z 32 mm)
    points = np.array(
        [
            c,  # both pairs: the prescription
            c + [half[0] + 40.0, 0, 0],  # lateral pair only (beyond the AP fields in x): half of it
            c + [0, half[1] + 40.0, 0],  # AP pair only
            c + [0, 0, half[2] + 40.0],  # beyond every field in z: nothing
            c + [half[0], 0, 0],  # the AP field edge: half of the AP pair's 30 Gy, plus the lateral 30 Gy
        ]
    )
    values, inside = dose_at_points(dose, points)
    assert inside.all()
    expected = PRESCRIPTION_GY * np.array([1.0, 0.5, 0.5, 0.0, 0.75])
    np.testing.assert_allclose(values, expected, atol=0.05)
    volumes = {s.name: sample_structure(s, 0.5).volume_mm3 / 1000 for s in structures.structures}
    a, b, h = np.asarray(PROSTATE_SEMI_AXES)
    assert volumes["Prostate"] == pytest.approx(
        4 / 3 * np.pi * a * b * h / 1000, rel=0.04
    )  # tips past the end planes
    a, b, h = np.asarray(PROSTATE_SEMI_AXES) + PTV_MARGIN_MM
    assert volumes["PTV"] == pytest.approx(4 / 3 * np.pi * a * b * h / 1000, rel=0.04)
    length = RECTUM_Z_RANGE[1] - RECTUM_Z_RANGE[0]
    assert volumes["Rectum"] == pytest.approx(np.pi * RECTUM_RADIUS_MM**2 * length / 1000, rel=0.02)
