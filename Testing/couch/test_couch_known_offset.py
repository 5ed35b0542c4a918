"""The displacement of a known couch offset (known-shift tests): hand-worked signs and the round trip."""

from __future__ import annotations

import numpy as np
import pytest

from igrt.couch.correction import displacement_from_couch_correction, full_couch_correction

KEYS = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")


def test_translation_only_offset_hand_worked():
    """HFS: table top Xt = +x (left), Yt = +z (superior), Zt = −y (anterior).

    The couch moves lateral +5 (to the patient's left), longitudinal −2 (to the foot), vertical +10 (up):
    it corrects a patient displaced 5 mm right (x −5), 2 mm superior (z +2), 10 mm posterior (y +10).
    FFS (Xt = −x, Yt = −z, Zt = −y): the same couch numbers mean x +5, z −2, y +10.
    """
    k = dict(zip(KEYS, (5.0, -2.0, 10.0, 0.0, 0.0, 0.0), strict=True))
    m = displacement_from_couch_correction(k, (1.0, -40.0, 270.0), "HFS")
    np.testing.assert_allclose(m[:3, 3], [-5.0, 10.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(m[:3, :3], np.eye(3), atol=1e-12)
    m = displacement_from_couch_correction(k, (1.0, -40.0, 270.0), "FFS")
    np.testing.assert_allclose(m[:3, 3], [5.0, 10.0, -2.0], atol=1e-12)


@pytest.mark.parametrize("orientation", ["HFS", "HFP", "FFS", "FFP", "HFDL", "HFDR", "FFDL", "FFDR"])
def test_known_offset_round_trip_every_position(orientation):
    k = dict(zip(KEYS, (3.0, -4.0, 2.5, 1.5, -2.0, 0.75), strict=True))
    iso = np.array([12.0, -30.0, 250.0])
    m = displacement_from_couch_correction(k, iso, orientation)
    c = full_couch_correction(m, iso, orientation)
    assert [c[key] for key in KEYS] == pytest.approx(list(k.values()), abs=1e-9)
