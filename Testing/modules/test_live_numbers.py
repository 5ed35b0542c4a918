"""Manual fine adjustment with live numbers: moving the match transform re-derives the tables at once.

Under slicer-core: the Daily Match Logic runs a real match, then the transform's matrix is set by hand
(as the interaction handles do: ``SetMatrixTransformToParent`` fires TransformModifiedEvent) and the
result table and the Couch Shift table are read back, with no button pressed.

Hand-worked numbers. The node's to-parent matrix maps the daily image onto the planning image, in RAS
(igrt.mrml.transforms): for a patient displaced by d (LPS) with the isocenters identified it is a
translation by F·(−d), F = diag(−1, −1, 1). d = (5, −3, 2) mm → to-parent translation (5, −3, −2).
HFS (IEC 61217): table-top lateral = LPS x, longitudinal = LPS z, vertical = −LPS y, and the couch moves
against the displacement: lateral −5, longitudinal −2, vertical −3 mm ("couch moves").
"""

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
import vtk  # noqa: E402

from conftest import import_module_file, make_block_phantom, move_patient  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.mrml import couch as couchnodes  # noqa: E402
from igrt.mrml import volumes  # noqa: E402


@pytest.fixture(scope="module")
def modules():
    return import_module_file("IGRTDailyMatch"), import_module_file("IGRTCouchShift")


@pytest.fixture(scope="module")
def matched(modules):
    """A real match of a small phantom: patient 3 mm superior, HFS recorded on both images."""
    daily_module, _ = modules
    scene = slicer.vtkMRMLScene()
    phantom = make_block_phantom(size=(64, 56, 40), spacing=(3.0, 3.0, 3.5))
    iso = np.array(phantom.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in phantom.GetSize()]))
    planning = volumes.node_from_image(scene, phantom, "planning")
    daily = volumes.node_from_image(
        scene, move_patient(phantom, geometry.rigid_matrix(translation=(0, 0, 3))), "daily"
    )
    for node in (planning, daily):
        node.SetAttribute(volumes.IDENTITY_ATTRIBUTES["patient_position"], "HFS")
    logic = daily_module.IGRTDailyMatchLogic()
    out = logic.process(planning, daily, method="bone", planningIsocenterLps=iso, dailyIsocenterLps=iso)
    np.testing.assert_allclose(out.result.translation_mm, [0, 0, 3], atol=0.3)
    return scene, logic, iso


def _rows(table_node) -> dict:
    return {label: value for label, value, _, _ in couchnodes.read_table(table_node)}


def _set_to_parent(node, matrix) -> None:
    """What the interaction handles do: set the node's to-parent matrix (fires TransformModifiedEvent)."""
    m = vtk.vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            m.SetElement(i, j, float(matrix[i][j]))
    node.SetMatrixTransformToParent(m)


def _value(rows, start) -> float:
    (value,) = [v for label, v in rows.items() if label.startswith(start)]
    return value


def test_moving_the_transform_updates_the_result_and_couch_rows(matched):
    scene, logic, iso = matched
    seen = []
    logic.resultChanged = lambda outputs, problem: seen.append(
        (outputs.result.translation_mm.copy(), problem)
    )
    node, table = logic.outputs.transform_node, logic.outputs.table_node
    # Patient displaced by (5, −3, 2) mm LPS: to-parent RAS translation (5, −3, −2) (module docstring).
    _set_to_parent(node, [[1, 0, 0, 5], [0, 1, 0, -3], [0, 0, 1, -2], [0, 0, 0, 1]])
    rows = _rows(table)
    assert _value(rows, "translation x") == pytest.approx(5.0, abs=1e-6)
    assert _value(rows, "translation y") == pytest.approx(-3.0, abs=1e-6)
    assert _value(rows, "translation z") == pytest.approx(2.0, abs=1e-6)
    for axis in "xyz":
        assert _value(rows, f"rotation about {axis}") == pytest.approx(0.0, abs=1e-6)
    assert _value(rows, "couch lateral") == pytest.approx(-5.0, abs=1e-6)
    assert _value(rows, "couch longitudinal") == pytest.approx(-2.0, abs=1e-6)
    assert _value(rows, "couch vertical") == pytest.approx(-3.0, abs=1e-6)
    assert logic.outputs.result.method.endswith("+manual") and logic.comparisonStale
    assert len(seen) == 1 and seen[0][1] is None
    np.testing.assert_allclose(seen[0][0], [5, -3, 2], atol=1e-9)

    # Turned by 2° about the superior axis around the isocenter: the same turn about RAS S (F·Rz·F = Rz),
    # inverted (to parent), about the isocenter in RAS; no translation at the isocenter.
    iso_ras = geometry.lps_to_ras_point(iso)
    turn = vtk.vtkTransform()
    turn.Translate(*iso_ras)
    turn.RotateZ(-2.0)
    turn.Translate(*(-np.asarray(iso_ras)))
    m = turn.GetMatrix()
    _set_to_parent(node, [[m.GetElement(i, j) for j in range(4)] for i in range(4)])
    rows = _rows(table)
    assert _value(rows, "rotation about z") == pytest.approx(2.0, abs=0.01)  # the table rounds to 0.01
    for start in ("translation x", "translation y", "translation z", "rotation about x", "rotation about y"):
        assert _value(rows, start) == pytest.approx(0.0, abs=1e-6), start


def test_couch_shift_follows_the_transform_and_withdraws_unreadable_numbers(matched, modules):
    _, couch_module = modules
    scene, daily_logic, iso = matched
    node = daily_logic.outputs.transform_node
    _set_to_parent(node, np.eye(4))
    couch = couch_module.IGRTCouchShiftLogic()
    first = couch.process(node)
    assert [v for _, v, _, _ in first.rows[:3]] == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    problems = []
    couch.resultChanged = lambda outputs, problem: problems.append(problem)

    _set_to_parent(node, [[1, 0, 0, 5], [0, 1, 0, -3], [0, 0, 1, -2], [0, 0, 0, 1]])
    lateral, longitudinal, vertical = (
        couch.outputs.shift[k] for k in ("lateral_mm", "longitudinal_mm", "vertical_mm")
    )
    assert (lateral, longitudinal, vertical) == pytest.approx((-5.0, -2.0, -3.0), abs=1e-6)
    table_rows = couchnodes.read_table(couch.outputs.table_node)
    assert (
        table_rows[0][:2] == ("lateral", pytest.approx(-5.0, abs=1e-6)) and table_rows[0][3] == "couch moves"
    )
    assert couch.outputs.table_node is first.table_node  # the same table, refilled
    assert problems == [None]

    # Scaled by hand: not a rigid transform any more. Both tables are emptied, with the reason.
    _set_to_parent(node, [[1.1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    for table in (first.table_node, daily_logic.outputs.table_node):
        assert table.GetTable().GetNumberOfRows() == 0
        assert "not rigid" in table.GetAttribute("IGRT.Problem")
    assert couch.outputs is None and "not rigid" in problems[-1]
    with pytest.raises(Exception, match="compute the couch shift first"):
        couch.exportReport("never.html")

    # Back to a rigid transform: the numbers come back and the reason goes.
    _set_to_parent(node, [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    assert couch.outputs.shift["lateral_mm"] == pytest.approx(-1.0, abs=1e-6)
    assert first.table_node.GetAttribute("IGRT.Problem") is None
    assert _value(_rows(daily_logic.outputs.table_node), "translation x") == pytest.approx(1.0, abs=1e-6)


def test_the_logic_writing_its_own_transform_is_not_a_hand_edit(matched):
    scene, logic, _ = matched
    _set_to_parent(logic.outputs.transform_node, [[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    assert logic.comparisonStale
    assert logic.showComparison("checkerboard") == 0  # recomputes the stale comparison volumes first
    assert not logic.comparisonStale
    assert _value(_rows(logic.outputs.table_node), "translation x") == pytest.approx(2.0, abs=1e-6)
    assert logic.automaticResult.method == "bone"  # hand edits are measured against the automatic match
