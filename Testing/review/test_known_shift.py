"""Known-shift accuracy statistics against hand-worked values."""

from __future__ import annotations

import pytest

from igrt.review.known_shift import known_shift_html, known_shift_summary


def _rows():
    # Lateral errors 0.1, −0.3, 0.2: mean 0; SD = sqrt((0.01 + 0.09 + 0.04)/2) = sqrt(0.07) = 0.2646;
    # max |e| 0.3; |e| sorted 0.1, 0.2, 0.3 → 95th percentile at rank 0.95·2 = 1.9: 0.2 + 0.9·0.1 = 0.29.
    # Roll: one error 0.4° on the second row only.
    return [
        {"patient": "ph", "fraction": "1", "status": "ok", "lateral_mm": "5.1", "error_lateral_mm": "0.1"},
        {
            "patient": "ph",
            "fraction": "2",
            "status": "ok",
            "lateral_mm": "-2.3",
            "error_lateral_mm": "-0.3",
            "roll_deg": "1.4",
            "error_roll_deg": "0.4",
        },
        {"patient": "ph", "fraction": "3", "status": "ok", "lateral_mm": "0.2", "error_lateral_mm": "0.2"},
        {"patient": "ph", "fraction": "4", "status": "failed", "reason": "x"},
        {"patient": "ph", "fraction": "5", "status": "ok", "lateral_mm": "1.0", "error_lateral_mm": ""},
    ]


def test_known_shift_summary_hand_worked():
    s = known_shift_summary(_rows(), tolerance_mm=0.5, tolerance_deg=0.2)
    lat = s["axes"]["lateral_mm"]
    assert s["fractions"] == 3
    assert (lat["mean"], lat["sd"], lat["max_abs"], lat["p95_abs"]) == pytest.approx(
        (0.0, 0.2646, 0.3, 0.29), abs=1e-4
    )
    assert lat["pass"] and not s["axes"]["roll_deg"]["pass"] and not s["pass"]
    assert s["axes"]["roll_deg"]["sd"] is None  # one value: no SD, not NaN
    assert s["rows"][1]["lateral_mm"] == {"known": -2.0, "measured": -2.3, "error": -0.3}
    assert (
        known_shift_summary(_rows(), tolerance_mm=0.25, tolerance_deg=0.5)["axes"]["lateral_mm"]["pass"]
        is False
    )
    html = known_shift_html(s)
    assert "Known-shift accuracy: FAIL" in html and "+5.00 / +5.10 / +0.10" in html
