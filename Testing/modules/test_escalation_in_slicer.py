"""A match that flags itself ("escalate: match uncertain") says so in Slicer beside the verdict, as
`igrt shift` and the report do: the Daily Match summary, and the Couch Shift verdict line read through the
match transform node. A hand-adjusted transform no longer carries the automatic match's estimate."""

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

from conftest import import_module_file  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.mrml import transforms  # noqa: E402
from igrt.registration.match import MatchResult  # noqa: E402
from igrt.result import ESCALATE_TEXT  # noqa: E402


def _result(flag: bool) -> MatchResult:
    iso = np.array([0.0, 0.0, 0.0])
    uncertainty = {
        "translation_mm_95": 1.6 if flag else 0.2,
        "rotation_deg_95": 0.3,
        "flag": flag,
        "reasons": ["translation bound 1.60 mm > 1 mm"] if flag else [],
    }
    return MatchResult(
        matrix_lps=geometry.rigid_matrix(translation=(5.0, 0.0, 0.0)),
        planning_isocenter_lps=iso,
        daily_isocenter_lps=iso,
        method="bone",
        quality={"similarity_after": 0.8, "uncertainty": uncertainty},
        stages=[],
        warnings=[],
        elapsed_s=0.1,
    )


@pytest.mark.parametrize("flag", [True, False], ids=["flagged", "confident"])
def test_flag_is_shown_beside_the_verdict(flag):
    couch_module, match_module = import_module_file("IGRTCouchShift"), import_module_file("IGRTDailyMatch")
    scene = slicer.vtkMRMLScene()
    planning = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
    daily = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
    planning.SetAttribute("IGRT.PatientPosition", "HFS")
    result = _result(flag)
    node = transforms.transform_node_from_result(scene, result, planning, daily)

    line = match_module.IGRTDailyMatchLogic.summary(result)
    assert line.startswith(ESCALATE_TEXT) is flag and ("1.60 mm > 1 mm" in line) is flag

    out = couch_module.IGRTCouchShiftLogic().process(node)
    assert out.shift["escalate"] is flag and out.shift["lateral_mm"] == pytest.approx(-5.0)
    assert couch_module.IGRTCouchShiftLogic.summary(out).startswith(ESCALATE_TEXT) is flag

    # Moved by hand: the estimate was the automatic match's; the adjusted one is not flagged by it.
    moved = transforms.to_parent_ras_from_result(geometry.rigid_matrix(translation=(6.0, 0.0, 0.0)))
    node.SetMatrixTransformToParent(transforms._vtk_matrix(moved))
    again = couch_module.IGRTCouchShiftLogic().process(node)
    assert again.shift["escalate"] is False and again.shift["lateral_mm"] == pytest.approx(-6.0)
