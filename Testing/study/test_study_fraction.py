"""One fraction as the Dask task runs it, in this process: files, completeness, the dose impact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.study.fraction import completed_row, run_fraction
from igrt.study.manifest import read_manifest
from igrt.synth.cases import tiny_case


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """The tiny case with a dose (60 Gy inside 20 mm of the isocenter, 0 beyond 40 mm) and a target label."""
    case = tiny_case()
    root = tmp_path_factory.mktemp("fraction")
    planning = sitk.ReadImage(str(case.planning_path))
    idx = np.indices(sitk.GetArrayViewFromImage(planning).shape).reshape(3, -1)[::-1].T.astype(float)
    pts = (
        np.asarray(planning.GetOrigin())
        + (idx * planning.GetSpacing()) @ np.reshape(planning.GetDirection(), (3, 3)).T
    )
    r = np.linalg.norm(pts - case.planning_isocenter_lps, axis=1).reshape(
        sitk.GetArrayViewFromImage(planning).shape
    )
    dose = sitk.GetImageFromArray(np.clip((40 - r) / 20, 0, 1).astype(np.float32) * 60)
    dose.CopyInformation(planning)
    sitk.WriteImage(dose, str(root / "dose.mha"))
    label = sitk.GetImageFromArray((r < 12).astype(np.uint8))
    label.CopyInformation(planning)
    sitk.WriteImage(label, str(root / "target.nrrd"))
    iso = ",".join(f"{v:.4f}" for v in case.planning_isocenter_lps)
    (root / "m.csv").write_text(
        "patient,fraction,planning,daily,isocenter,orientation,dose,structures\n"
        f'P1,1,{case.planning_path},{case.daily_path},"{iso}",HFS,dose.mha,target.nrrd\n'
    )
    return root


def test_fraction_with_dose_writes_the_dose_impact_and_is_complete(manifest, tmp_path):
    spec = read_manifest(manifest / "m.csv").fractions[0]
    row = run_fraction(spec, str(tmp_path))
    assert row["status"] == "ok", row
    folder = tmp_path / "fractions" / "P1" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["dose_impact.json", "result.json", "shift.json"]
    impact = json.loads((folder / "dose_impact.json").read_text())
    target = impact["structures"][0]
    # The 12 mm target sits inside the 20 mm 60 Gy core; after the 6-DOF correction the residual is < 1 mm,
    # so the fraction's target still gets 60 Gy everywhere.
    assert impact["kind"] == "igrt.dose_impact" and target["name"] == "label 1"
    assert target["volume_cc"] == pytest.approx(4 / 3 * np.pi * 12**3 / 1000, rel=0.03)  # 7.24 cc
    assert target["planned"]["D98_gy"] == pytest.approx(60.0, abs=0.05)
    assert target["fraction"]["D98_gy"] == pytest.approx(60.0, abs=0.05)
    assert completed_row(tmp_path, spec) == {**row, "elapsed_s": row["elapsed_s"]}
    (folder / "dose_impact.json").rename(folder / "dose_impact.json.bak")
    assert completed_row(tmp_path, spec) is None  # incomplete without its dose impact: rerun


def test_dose_without_structures_is_refused(manifest):
    text = (manifest / "m.csv").read_text().replace(",dose,structures", ",dose").replace(",target.nrrd", "")
    (manifest / "bad.csv").write_text(text)
    with pytest.raises(IGRTInputError, match="needs both dose and structures"):
        read_manifest(manifest / "bad.csv")


def test_the_uncertainty_limit_of_a_row_flags_the_fraction_and_the_row_says_so(manifest, tmp_path):
    """uncertainty_limit_mm = 0.001 (far below any 95 % bound): the fraction is flagged "escalate" with the
    workflow's own reason; at 50 mm / 50° (far above; the tiny case's bound is about 1 mm, which the
    default 1 mm limit flags) the same fraction is not. The row's bounds are the result's."""
    iso_row = (manifest / "m.csv").read_text().splitlines()[1]
    (manifest / "limits.csv").write_text(
        "patient,fraction,planning,daily,isocenter,orientation,dose,structures,uncertainty_limit_mm,"
        "uncertainty_limit_deg\n"
        f"{iso_row},0.001,\n" + iso_row.replace("P1,1,", "P1,2,", 1) + ",50,50\n"
    )
    tight, loose = read_manifest(manifest / "limits.csv").fractions
    assert (tight.uncertainty_limit_mm, tight.uncertainty_limit_deg) == (0.001, None)
    assert (loose.uncertainty_limit_mm, loose.uncertainty_limit_deg) == (50.0, 50.0)
    rows = [run_fraction(spec, str(tmp_path)) for spec in (tight, loose)]
    for row, fraction in zip(rows, ("1", "2"), strict=True):
        assert row["status"] == "ok", row
        result = json.loads((tmp_path / "fractions" / "P1" / fraction / "result.json").read_text())
        u = result["quality"]["uncertainty"]
        assert row["uncertainty_mm_95"] == pytest.approx(u["translation_mm_95"], abs=1e-4)
        assert row["uncertainty_deg_95"] == pytest.approx(u["rotation_deg_95"], abs=1e-4)
    assert rows[0]["escalate"] == "yes" and rows[1]["escalate"] == "no"
    tight_result = json.loads((tmp_path / "fractions" / "P1" / "1" / "result.json").read_text())
    assert any("exceeds 0.001 mm" in r for r in tight_result["quality"]["uncertainty"]["reasons"])
