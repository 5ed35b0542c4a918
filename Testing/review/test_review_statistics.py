"""Population statistics, margins and offline protocols against values worked by hand.

The 3-patient table (Testing/data/review/hand_table.csv) (couch corrections, couch moves; the set-up error e is their negative):

    patient A, fractions 1..4: lateral couch −1, −2, −3, −6  → e = 1, 2, 3, 6
    patient B, fractions 1..3: lateral couch +2, 0, +4       → e = −2, 0, −4
    patient C, fraction 1:     lateral couch −5              → e = 5
    longitudinal couch: A −1 every fraction, B +1, C 0  → e: A +1, B −1, C 0
    vertical couch: +2 everywhere                       → e = −2 everywhere

Lateral by hand:
    m_A = (1+2+3+6)/4 = 3;   deviations −2, −1, 0, 3 → Σd² = 14 → s_A² = 14/3
    m_B = (−2+0−4)/3 = −2;   deviations 0, 2, −2     → Σd² = 8  → s_B² = 8/2 = 4
    m_C = 5; one fraction: no s_C (counts for M and Σ, not for σ)
    M = (3 − 2 + 5)/3 = 2
    Σ = SD(3, −2, 5) = sqrt(((3−2)² + (−2−2)² + (5−2)²)/2) = sqrt(26/2) = sqrt(13) = 3.6056
    σ = sqrt((14/3 + 4)/2) = sqrt(13/3) = 2.0817
    van Herk 2.5Σ + 0.7σ = 9.0139 + 1.4572 = 10.4711;  Stroom 2Σ + 0.7σ = 7.2111 + 1.4572 = 8.6683
Longitudinal: m = 1, −1, 0 → M = 0, Σ = sqrt((1 + 1 + 0)/2) = 1, σ = 0.
Vertical: M = −2 (patient is displaced 2 mm down while the couch moved 2 mm up), Σ = σ = 0.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from igrt.errors import IGRTInputError
from igrt.review import protocols
from igrt.review.table import read_shift_table
from igrt.review.workflow import review as review_table

HAND_TABLE = (Path(__file__).parents[1] / "data" / "review" / "hand_table.csv").read_text()


@pytest.fixture
def hand_table(tmp_path):
    path = tmp_path / "shifts.csv"
    path.write_text(HAND_TABLE)
    return path


def test_population_statistics_hand_worked(hand_table):
    stats = review_table(hand_table)
    assert (stats["patients"], stats["fractions"], stats["patients_in_sigma"]) == (3, 8, 2)
    assert stats["single_fraction_patients"] == ["C"]
    assert any("single fraction" in n and "not for σ" in n for n in stats["notes"])
    lat = stats["axes"]["lateral"]
    assert lat["M_mm"] == pytest.approx(2.0, abs=1e-4)
    assert lat["Sigma_mm"] == pytest.approx(math.sqrt(13), abs=1e-4)
    assert lat["sigma_mm"] == pytest.approx(math.sqrt(13 / 3), abs=1e-4)
    assert lat["margin_van_herk_mm"] == pytest.approx(10.4711, abs=2e-4)
    assert lat["margin_stroom_mm"] == pytest.approx(8.6683, abs=2e-4)
    lng = stats["axes"]["longitudinal"]
    assert (lng["M_mm"], lng["Sigma_mm"], lng["sigma_mm"]) == pytest.approx((0.0, 1.0, 0.0), abs=1e-4)
    vert = stats["axes"]["vertical"]
    assert (vert["M_mm"], vert["Sigma_mm"], vert["sigma_mm"]) == pytest.approx((-2.0, 0.0, 0.0), abs=1e-4)
    assert "patient is displaced" in stats["sense"]
    a = stats["per_patient"][0]
    assert a["patient"] == "A" and a["fractions"] == 4
    assert a["sd"]["lateral"] == pytest.approx(math.sqrt(14 / 3), abs=1e-4)
    assert stats["per_patient"][2]["sd"]["lateral"] is None


def test_protocols_hand_worked(hand_table):
    """NAL with N_m = 2 and eNAL with N_m = 2, P = 1 on the lateral errors of the module docstring.

    NAL: A: c_3 = c_4 = mean(1, 2) = 1.5 → r = 1, 2, 1.5, 4.5; B: c_3 = mean(−2, 0) = −1 → r = −2, 0, −3;
         C: r = 5. m_r = 2.25, −5/3, 5 → M = (2.25 − 1.6667 + 5)/3 = 1.8611. Imaged 2 + 2 + 1 = 5.
    eNAL (P = 1, every fraction imaged): A: c_3 = 1.5, c_4 = mean(1, 2, 3) = 2 → r = 1, 2, 1.5, 4;
         B as NAL; C: 5. m_r = 2.125, −5/3, 5 → M = 1.8194. Imaged 8.
    none: as the errors (M = 2), 0 imaged; online: everything 0, 8 imaged.
    """
    stats = review_table(hand_table, nal_fractions=2, enal_period=1)
    p = stats["protocols"]
    assert p["NAL"]["axes"]["lateral"]["M_mm"] == pytest.approx((2.25 - 5 / 3 + 5) / 3, abs=1e-4)
    assert p["NAL"]["imaged_fractions"] == 5
    assert p["eNAL"]["axes"]["lateral"]["M_mm"] == pytest.approx((2.125 - 5 / 3 + 5) / 3, abs=1e-4)
    assert p["eNAL"]["imaged_fractions"] == 8
    assert p["none"]["axes"] == stats["axes"] and p["none"]["imaged_fractions"] == 0
    assert p["online"]["imaged_fractions"] == 8
    assert p["online"]["axes"]["lateral"]["margin_van_herk_mm"] == 0.0
    # A constant offset per patient is removed entirely by NAL: longitudinal residual of fractions > N_m is 0.
    table = read_shift_table(hand_table)
    r, imaged = protocols.simulate("NAL", table.group, table.position, table.errors, nal_fractions=2)
    np.testing.assert_allclose(r[:, 0], [1, 2, 1.5, 4.5, -2, 0, -3, 5])
    np.testing.assert_allclose(r[:, 1], [1, 1, 0, 0, -1, -1, 0, 0])
    assert imaged.tolist() == [True, True, False, False, True, True, False, True]
    r, imaged = protocols.simulate(
        "eNAL", table.group, table.position, table.errors, nal_fractions=2, enal_period=2
    )
    # P = 2: imaged at 1, 2 and 4; c_3 = c_4 = mean(e_1, e_2) = 1.5 (fraction 3 not imaged).
    np.testing.assert_allclose(r[:4, 0], [1, 2, 1.5, 4.5])
    assert imaged[:4].tolist() == [True, True, False, True]


def test_sal_rule_hand_worked():
    """SAL, α = 4 mm, N_max = 2, lateral only.

    Patient 0, e = 5, 5, 1, 1, 1: f1 measures 5 > 4/√1 → c = 5 from f2 on; f2 measures 0 (N = 1, ≤ 4);
    f3 measures 1 − 5 = −4, mean of (0, −4) = −2, |−2| ≤ 4/√2 = 2.83 and N = 2 = N_max → imaging stops.
    Residuals 5, 0, −4, −4, −4; imaged T, T, T, F, F (a wild first fraction is over-corrected).
    Patient 1, e = 1, −1, 3: means 1 ≤ 4, then 0 ≤ 2.83 with N = 2 → stop, c = 0: residuals 1, −1, 3.
    """
    group = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    position = np.array([1, 2, 3, 4, 5, 1, 2, 3])
    errors = np.zeros((8, 3))
    errors[:, 0] = [5, 5, 1, 1, 1, 1, -1, 3]
    r, imaged = protocols.simulate("SAL", group, position, errors, sal_alpha_mm=4.0, sal_nmax=2)
    np.testing.assert_allclose(r[:, 0], [5, 0, -4, -4, -4, 1, -1, 3])
    assert imaged.tolist() == [True, True, True, False, False, True, True, False]
    # The decision uses the 3-D length: 3 mm lateral and 3 mm vertical (4.24 mm) exceed α = 4 mm.
    errors3 = np.array([[3.0, 0.0, 3.0]])
    r, _ = protocols.simulate("SAL", np.array([0]), np.array([1]), np.vstack([errors3]), sal_alpha_mm=4.0)
    np.testing.assert_allclose(r, errors3)  # corrected from the next fraction on; f1 itself keeps its error


def test_table_reading_order_exclusions_and_rotations(tmp_path):
    """Fractions sort numerically (10 after 9), failed rows are left out and listed, rotations are read."""
    path = tmp_path / "study.csv"
    path.write_text(
        "Patient , Fraction,status,reason,lateral_mm,longitudinal_mm,vertical_mm,rotation_deg,pitch_deg,roll_deg\n"
        "P1,10,ok,,1,0,0,0.5,0,0\n"
        "P1,9,ok,,2,0,0,1.5,0,0\n"
        "P1,11,failed,cannot read daily,,,,,,\n"
        "P2,1,ok,,0,0,0,0,0,0\n"
    )
    t = read_shift_table(path)
    assert t.fractions == ["9", "10", "1"] and t.position.tolist() == [1, 2, 1]
    np.testing.assert_allclose(t.errors[:2, 0], [-2, -1])
    assert t.excluded == [
        {"patient": "P1", "fraction": "11", "status": "failed", "reason": "cannot read daily"}
    ]
    stats = review_table(path)
    assert stats["axes"]["rotation"]["M_deg"] == pytest.approx((-1.0 + 0.0) / 2, abs=1e-4)
    assert stats["axes"]["rotation"]["sigma_deg"] == pytest.approx(math.sqrt(0.5), abs=1e-4)
    assert stats["fractions"] == 3 and "left out" in " ".join(stats["notes"])


def test_one_patient_gives_null_sigma_not_nan(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,1,1,1\nA,2,3,1,1\n")
    stats = review_table(path)
    lat = stats["axes"]["lateral"]
    assert lat["Sigma_mm"] is None and lat["margin_van_herk_mm"] is None
    assert lat["sigma_mm"] == pytest.approx(math.sqrt(2), abs=1e-4)
    assert any("at least 2 patients" in n for n in stats["notes"])


@pytest.mark.parametrize(
    "text, message",
    [
        ("patient,fraction,lateral_mm,vertical_mm\nA,1,0,0\n", "missing column(s) longitudinal_mm"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,0,0,nan\n", "not a finite number"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,0,0,1e999\n", "not a finite number"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,0,x,0\n", "'x' is not a number"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,0,0,0\nA,1,1,1,1\n", "repeats line 2"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,0,0,0\nA,1.0,1,1,1\n", "twice"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,0,0,0,7\n", "6 cells but 5 columns"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\n,1,0,0,0\n", "empty patient"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm,rotation_deg\nA,1,0,0,0,0\n", "or none"),
        ("patient,fraction,lateral_mm,longitudinal_mm,vertical_mm,status\nA,1,,,,failed\n", "no fraction"),
        ("", "empty table"),
    ],
)
def test_bad_tables_are_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(IGRTInputError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        review_table(path)
    assert "\n" not in str(err.value)


def test_unreadable_table_and_bad_parameters(tmp_path, hand_table):
    with pytest.raises(IGRTInputError, match="cannot read table"):
        review_table(tmp_path / "absent.csv")
    (tmp_path / "latin1.csv").write_bytes(b"patient,fraction\n\xe9,1\n")
    with pytest.raises(IGRTInputError, match="cannot read table"):
        review_table(tmp_path / "latin1.csv")
    with pytest.raises(IGRTInputError, match="--nal-fractions 0"):
        review_table(hand_table, nal_fractions=0)
    with pytest.raises(IGRTInputError, match="--sal-alpha"):
        review_table(hand_table, sal_alpha_mm=float("nan"))
