"""``igrt demo`` end to end (on the tiny generated case, to keep the suite fast)."""

import json
import re

import numpy as np
import pydicom
import SimpleITK as sitk

import igrt.synth.cases as cases
from igrt import geometry
from igrt.demo import run_demo


def test_demo_writes_report_result_and_reg(tmp_path, monkeypatch):
    monkeypatch.setattr(cases, "demo_case", lambda: cases.tiny_marker_case())
    out = tmp_path / "demo"
    lines = []
    assert run_demo(out, progress=lines.append) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "daily_markers.json",
        "dose_impact_3dof.json",
        "dose_impact_6dof.json",
        "dose_impact_uncorrected.json",
        "dvh.png",
        "marker_result.json",
        "panels",
        "planning_markers.json",
        "registration.dcm",
        "report.html",
        "result.json",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    result = json.loads((out / "result.json").read_text())
    extra = result["extra"]
    assert extra["translation error at isocenter (mm)"] < 0.8 and extra["rotation error (°)"] < 0.6
    markers = json.loads((out / "marker_result.json").read_text())
    assert markers["method"] == "fiducial" and len(markers["quality"]["pairs"]) == 4
    assert markers["extra"]["translation error at isocenter (mm)"] < 0.5
    assert len(json.loads((out / "daily_markers.json").read_text())["markers"]) == 4
    page = (out / "report.html").read_text()
    assert "Marker match beside the image match" in page and "marker − image (mm)" in page
    assert "couch moves" in page and "patient is displaced" in page
    assert "Verdict (TG-142" in page
    # No "nan" anywhere a user reads (the rotation rows of the marker table showed "+nan").
    assert not re.search(r"\bnan\b", page, re.IGNORECASE)
    angle = geometry.rotation_angle_deg(np.asarray(markers["matrix_lps"]))
    assert f"<td>{angle:+.2f}</td></tr>" in page  # the marker match's rotation magnitude, not "–"
    for name in ("fusion_after", "checkerboard_after", "difference_after", "contours_after"):
        assert f"panels/{name}.png" in page and (out / "panels" / f"{name}.png").is_file()
    # dose impact on the analytic plan: the 6-DOF correction gives the plan back (static dose cloud)
    six = json.loads((out / "dose_impact_6dof.json").read_text())
    uncorrected = json.loads((out / "dose_impact_uncorrected.json").read_text())
    assert [s["name"] for s in six["structures"]] == ["PTV", "Rectum"]
    for s in six["structures"]:
        assert max(abs(v) for v in s["delta"].values() if v is not None) < 0.02, s["name"]
    assert abs(uncorrected["structures"][1]["delta"]["mean_gy"]) > 0.05  # the rectum moved in the gradient
    assert "static dose cloud" in six["approximation"]
    assert any(line.strip().startswith("PTV D95_gy: planned") for line in lines)
    # the contour panels draw the planning PTV (red) and rectum, not HU thresholds
    assert "Planning structures (PTV, Rectum) on the daily image" in page
    contours = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "panels" / "contours_after.png")))
    assert np.any(np.all(contours == (255, 0, 0), axis=-1))
    reg = pydicom.dcmread(out / "registration.dcm")
    assert reg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.1"
    moving = np.array(
        reg.RegistrationSequence[1]
        .MatrixRegistrationSequence[0]
        .MatrixSequence[0]
        .FrameOfReferenceTransformationMatrix,
        float,
    ).reshape(4, 4)
    assert np.allclose(moving[3], [0, 0, 0, 1]) and not np.allclose(moving, np.eye(4))
