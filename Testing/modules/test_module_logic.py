"""IGRTDailyMatchLogic imported from the module file and run on real MRML (slicer-core, no Qt)."""

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

from conftest import import_module_file, move_patient  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import volumes  # noqa: E402


@pytest.fixture(scope="module")
def module():
    return import_module_file("IGRTDailyMatch")


def test_module_imports_headless(module):
    assert module.IN_SLICER_APP is False  # GUI classes replaced by stand-ins; the Logic is real
    assert [m.value for m in module.MatchMethod] == ["auto", "bone", "soft"]
    assert [m.value for m in module.ComparisonMode] == [
        "fusion",
        "checkerboard",
        "difference",
        "flicker",
        "contours",
    ]


def test_logic_runs_on_a_scene_and_refuses_bad_input(module, block_phantom):
    scene = slicer.vtkMRMLScene()
    # Patient 3 mm superior and rotated 1.5° about LPS z at the isocenter.
    iso = np.array(
        block_phantom.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in block_phantom.GetSize()])
    )
    truth = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 1.5), iso, (0, 0, 3))
    planning = volumes.node_from_image(scene, block_phantom, "planning")
    daily = volumes.node_from_image(scene, move_patient(block_phantom, truth, noise=10), "daily")
    markups = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "iso")
    markups.AddControlPoint(*geometry.lps_to_ras_point(iso))

    logic = module.IGRTDailyMatchLogic()
    planning_iso = logic.planningIsocenterLps("markups", markupsNode=markups, planningVolume=planning)
    np.testing.assert_allclose(planning_iso, iso)
    out = logic.process(
        planning,
        daily,
        method="bone",
        planningIsocenterLps=planning_iso,
        dailyIsocenterLps=iso,
        clipBoxMm=(180, 150, 140),
    )
    np.testing.assert_allclose(out.result.translation_mm, [0, 0, 3], atol=0.2)
    np.testing.assert_allclose(out.result.rotation_deg, [0, 0, 1.5], atol=0.1)
    assert logic.showComparison("difference") == 0  # no slice views without the application
    assert "+ left" in logic.summary(out.result)

    # A second run reuses the output nodes instead of piling up new ones.
    n_nodes = scene.GetNumberOfNodes()
    logic.process(
        planning,
        daily,
        method="bone",
        planningIsocenterLps=iso,
        dailyIsocenterLps=iso,
        outputTransform=out.transform_node,
        resultTable=out.table_node,
        clipBoxMm=(180, 150, 140),
    )
    assert scene.GetNumberOfNodes() == n_nodes

    with pytest.raises(IGRTInputError):
        logic.process(planning, None)
    with pytest.raises(IGRTInputError):
        logic.process(planning, planning)
    with pytest.raises(IGRTInputError):
        logic.planningIsocenterLps("plan", planNode=None)
