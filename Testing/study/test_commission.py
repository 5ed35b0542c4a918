"""``igrt commission`` on the tiny bundled phantom: known offsets in, every axis within 0.5 mm / 0.2°."""

from __future__ import annotations

import json

import pytest

from igrt.cli.main import main
from igrt.errors import IGRTInputError
from igrt.study.commission import check_offsets, default_offsets, read_offsets


def test_commission_tiny_phantom_passes_and_writes_the_report(tmp_path, capsys):
    offsets = tmp_path / "offsets.csv"
    # Couch moves: 5 mm to the patient's left; then a combined 6-DOF offset.
    offsets.write_text(
        "known_lateral_mm,known_longitudinal_mm,known_vertical_mm,known_rotation_deg,known_pitch_deg,known_roll_deg\n"
        "5,0,0,0,0,0\n-3,4,-2,1,-1,1\n"
    )
    out = tmp_path / "com"
    code = main(
        [
            "commission",
            "--phantom",
            "tiny",
            "--offsets",
            str(offsets),
            "--out",
            str(out),
            "--workers",
            "1",
            "--tolerance-mm",
            "0.5",
            "--tolerance-deg",
            "0.2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "commissioning PASS" in err and "2 ok, 0 failed" in err
    stats = json.loads((out / "stats.json").read_text())
    known = stats["known_shift"]
    assert (
        known["pass"]
        and known["fractions"] == 2
        and set(known["axes"])
        == {"lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg"}
    )
    first = known["rows"][0]
    assert first["lateral_mm"]["known"] == pytest.approx(5.0, abs=1e-3)
    assert abs(first["lateral_mm"]["measured"] - 5.0) < 0.5  # measured as applied: couch moves +5
    assert "Known-shift accuracy: PASS" in (out / "report.html").read_text()
    assert (out / "manifest.csv").read_text().count("\n") == 3


def test_offsets_are_checked_before_any_image_is_made(tmp_path):
    assert len(default_offsets()) == 34
    path = tmp_path / "o.csv"
    path.write_text("known_lateral_mm,known_vertical_mm\n5,\n")
    assert read_offsets(path)[0] == {
        "lateral_mm": 5.0,
        "longitudinal_mm": 0.0,
        "vertical_mm": 0.0,
        "rotation_deg": 0.0,
        "pitch_deg": 0.0,
        "roll_deg": 0.0,
    }
    for text, message in [
        ("lateral\n5\n", "no known_"),
        ("known_lateral_mm,x\n5,1\n", "unknown column"),
        ("known_lateral_mm\nfive\n", "not a number"),
        ("known_lateral_mm\n", "no offset"),
    ]:
        path.write_text(text)
        with pytest.raises(IGRTInputError, match=message):
            read_offsets(path)
    with pytest.raises(IGRTInputError, match="beyond ±10"):
        check_offsets(
            [dict(lateral_mm=0, longitudinal_mm=0, vertical_mm=0, rotation_deg=0, pitch_deg=0, roll_deg=45.0)]
        )
