"""IGRTDoseImpactLogic imported from the module file and run on real MRML (slicer-core, no Qt), on the
case of the module's self-test (IGRTDoseImpactLib.syntheticcase): dose 10 Gy + 0.1 Gy/mm · x, a 20 mm
cube at the isocenter, the patient displaced 5 mm to the left and turned 2° about z. Hand-worked: no
correction → the cube's centroid moved 5 mm in x, mean +0.5 Gy; 3-DOF → the 2° turn about the centroid
stays, the mean is unchanged but the cube reaches further in x (max up, min down); 6-DOF → the plan.
"""

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

from conftest import import_module_file  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402


@pytest.fixture(scope="module")
def module():
    return import_module_file("IGRTDoseImpact")


@pytest.fixture
def case():
    from IGRTDoseImpactLib import syntheticcase

    scene = slicer.vtkMRMLScene()
    return (scene, *syntheticcase.linear_dose_cube_case(scene))


def test_no_correction_3dof_and_6dof(module, case):
    scene, dose_node, segmentation, match = case
    logic = module.IGRTDoseImpactLogic()
    out = logic.process(dose_node, segmentation, match, "none")
    (row,) = out["document"]["structures"]
    assert row["volume_cc"] == pytest.approx(8.0)
    assert row["delta"]["mean_gy"] == pytest.approx(0.5, abs=1e-4)
    assert "patient is displaced" in out["document"]["placements"][0]["sense"]
    three = logic.process(dose_node, segmentation, match, "3dof")["document"]["structures"][0]["delta"]
    assert three["mean_gy"] == pytest.approx(0.0, abs=1e-4)
    # the turned cube reaches further in x: its outermost samples (x = ±9.875 mm, |y| ≤ 9.875 mm) go to
    # ±9.875·(cos 2° + sin 2°), so the max rises and the min falls by 0.1 Gy/mm × 0.339 mm
    reach = 0.1 * 9.875 * (np.cos(np.radians(2)) + np.sin(np.radians(2)) - 1)
    assert three["max_gy"] == pytest.approx(reach, abs=2e-3) and three["min_gy"] == pytest.approx(
        -reach, abs=2e-3
    )
    six = logic.process(dose_node, segmentation, match, "6dof")
    assert max(abs(v) for v in six["document"]["structures"][0]["delta"].values() if v is not None) < 1e-5
    assert six["chart"].GetNumberOfPlotSeriesNodes() == 2
    assert six["metrics"] is out["metrics"] or six["metrics"].GetTable().GetNumberOfRows() == 3
    assert "Correction: couch 6dof" in module.IGRTDoseImpactLogic.summary(six["document"])


def test_bad_input_is_refused(module, case):
    scene, dose_node, segmentation, match = case
    logic = module.IGRTDoseImpactLogic()
    with pytest.raises(IGRTInputError, match="select the dose volume"):
        logic.process(None, segmentation, match)
    with pytest.raises(IGRTInputError, match="select the IGRT match transform"):
        logic.process(dose_node, segmentation, None)
    with pytest.raises(IGRTInputError, match="correction 'twist'"):
        logic.process(dose_node, segmentation, match, "twist")


def test_under_slicer_core_the_igrt_core_computes_every_dvh_and_says_so(module, case):
    """slicer-core has no SlicerRT: "auto" is the core, written in the document, the table and the summary;
    asking for SlicerRT is refused with one line before any work."""
    from conftest import table_column

    scene, dose_node, segmentation, match = case
    logic = module.IGRTDoseImpactLogic()
    out = logic.process(dose_node, segmentation, match, "none")
    doc = out["document"]
    assert doc["dvh_engine"] == "igrt core"
    assert doc["structures"][0]["dvh_engine"] == {"planned": "igrt core", "fraction": "igrt core"}
    assert table_column(out["metrics"], "dvh engine") == ["igrt core"] * 3
    assert out["metrics"].GetAttribute("IGRT.DVHEngine") == "igrt core"
    assert module.IGRTDoseImpactLogic.summary(doc).endswith("DVH: igrt core")
    with pytest.raises(IGRTInputError, match="SlicerRT's Dose Volume Histogram module is not loaded"):
        logic.process(dose_node, segmentation, match, "none", engine="slicerrt")
