"""Parity: the Slicer modules' Logic and the `igrt` command line give the same documents and refuse the
same inputs, because both call the same core workflows (issue: one workflow per capability).

One known-transform case (the block phantom, patient displaced 2 mm left, 3 mm superior and turned
1.2° about z at the isocenter) is written as two DICOM series, as a clinic exports them (one patient,
the daily image in its own frame of reference). The CLI reads the series; the Slicer path loads the same
series into volume nodes with their DICOM identity (as Slicer's DICOM module does) and runs the
IGRTDailyMatch and IGRTCouchShift Logic classes on a real MRML scene (slicer-core).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

from conftest import move_patient  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.cli.main import main as igrt  # noqa: E402
from igrt.couch.shift import couch_summary  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.io.dicom_write import write_image_series  # noqa: E402
from igrt.io.volumes import read_volume  # noqa: E402
from igrt.mrml import volumes  # noqa: E402

MODULES = Path(__file__).resolve().parents[2] / "IGRTExtension"


def _import(name):
    folder = str(MODULES / name)
    sys.path.insert(0, folder)
    try:
        return __import__(name)
    finally:
        sys.path.remove(folder)


@pytest.fixture(scope="module")
def modules():
    return _import("IGRTDailyMatch"), _import("IGRTCouchShift"), _import("IGRTFiducials")


def _iso(image):
    return np.array(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()]))


@pytest.fixture(scope="module")
def case(tmp_path_factory, block_phantom):
    root = tmp_path_factory.mktemp("parity")
    iso = _iso(block_phantom)
    truth = geometry.rigid_about_point(geometry.rotation_xyz_deg(0, 0, 1.2), iso, (2.0, 0.0, 3.0))
    daily = move_patient(block_phantom, truth, noise=8)
    write_image_series(
        block_phantom, root / "planning", patient_id="PARITY-1", frame_of_reference_uid="1.2.3.4.1"
    )
    write_image_series(daily, root / "daily", patient_id="PARITY-1", frame_of_reference_uid="1.2.3.4.2")
    return root, iso, truth


def _node(scene, volume, name):
    """A volume node as Slicer's DICOM import leaves it: the voxels plus the series' DICOM identity."""
    node = volumes.node_from_image(scene, volume.image, name)
    for field, attribute in volumes.IDENTITY_ATTRIBUTES.items():
        value = getattr(volume, field)
        if value:
            node.SetAttribute(attribute, value)
    return node


def _cli(*argv):
    code = igrt([str(a) for a in argv])
    assert code == 0
    return code


def test_daily_match_and_shift_agree_field_by_field(modules, case, tmp_path):
    match_module, couch_module, _ = modules
    root, iso, truth = case
    point = ",".join(f"{v:.6f}" for v in iso)
    # Command line: igrt match → igrt shift.
    _cli("match", root / "planning", root / "daily", "--isocenter=" + point, "--daily-isocenter=" + point,
         "--method", "bone", "--out", tmp_path / "result.json")  # fmt: skip
    _cli("shift", tmp_path / "result.json", "--couch", "4dof", "--out", tmp_path / "shift.json")
    cli_result = json.loads((tmp_path / "result.json").read_text())
    cli_shift = json.loads((tmp_path / "shift.json").read_text())

    # Slicer: the same series as nodes, Daily Match Logic → match transform → Couch Shift Logic.
    scene = slicer.vtkMRMLScene()
    planning = _node(scene, read_volume(root / "planning"), "planning CT")
    daily = _node(scene, read_volume(root / "daily"), "daily CBCT")
    out = match_module.IGRTDailyMatchLogic().process(
        planning, daily, method="bone", planningIsocenterLps=iso, dailyIsocenterLps=iso
    )
    slicer_result = out.result.to_dict()
    shift = couch_module.IGRTCouchShiftLogic().process(out.transform_node, couchModel="4dof").shift

    # The documents keep their contract names (README: `kind`).
    assert cli_result["kind"] == slicer_result["kind"] == "igrt.match" and cli_shift["kind"] == "igrt.shift"
    # The match: the same matrix to 1e-9, and it is the known displacement.
    np.testing.assert_allclose(slicer_result["matrix_lps"], cli_result["matrix_lps"], atol=1e-9)
    np.testing.assert_allclose(cli_result["translation_mm"], [2.0, 0.0, 3.0], atol=0.2)
    for key in ("translation_mm", "rotation_deg", "couch", "quality", "stages", "orientation", "method"):
        assert slicer_result[key] == cli_result[key], key
    for role in ("planning", "daily"):
        for key in ("patient_id", "series_uid", "frame_of_reference_uid", "patient_position"):
            assert slicer_result["inputs"][role][key] == cli_result["inputs"][role][key]
    assert slicer_result["warnings"] == cli_result["warnings"]
    assert any("frames of reference" in w for w in cli_result["warnings"])

    # The shift: every couch number, the residuals, the verdict and the warnings.
    expected = couch_summary(cli_shift)
    for key in ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg",
                "residual_at_isocenter_mm", "residual_at_target_mm"):  # fmt: skip
        assert shift[key] == pytest.approx(expected[key], abs=1e-9), key
    assert (
        shift["verdict"] == expected["verdict"] and shift["orientation"] == expected["orientation"] == "HFS"
    )
    assert shift["uncorrected_rotation_deg"] == pytest.approx(expected["uncorrected_rotation_deg"], abs=1e-9)
    assert shift["warnings"] == expected["warnings"]
    # Hand-worked: +1.2° about LPS z = about the superior axis = table-top Yt (HFS), so the correction
    # is a roll of −1.2° (PS3.3 C.8.8.14.12), which a 4-DOF couch cannot make: it is left uncorrected.
    assert shift["rotation_deg"] == pytest.approx(0.0, abs=0.1)
    assert shift["uncorrected_rotation_deg"]["roll_deg"] == pytest.approx(-1.2, abs=0.1)


def test_marker_detection_and_match_agree(modules, tmp_path):
    _, _, fiducial_module = modules
    sys.path.insert(0, str(MODULES / "IGRTFiducials"))
    try:
        from IGRTFiducialsLib import syntheticcase
    finally:
        sys.path.remove(str(MODULES / "IGRTFiducials"))

    image, centers = syntheticcase.planning_image()
    iso = centers.mean(axis=0)
    truth = geometry.rigid_about_point(geometry.rotation_xyz_deg(1.0, 0.0, -1.5), iso, (-1.5, 2.0, 1.0))
    moved = syntheticcase.move_patient(image, truth)
    import SimpleITK as sitk

    sitk.WriteImage(image, str(tmp_path / "planning.nrrd"))
    sitk.WriteImage(moved, str(tmp_path / "daily.nrrd"))
    point = ",".join(f"{v:.6f}" for v in iso)
    _cli("fiducials", "detect", tmp_path / "planning.nrrd", "--out", tmp_path / "p.json")
    _cli("fiducials", "detect", tmp_path / "daily.nrrd", "--out", tmp_path / "d.json")
    _cli("fiducials", "match", tmp_path / "p.json", tmp_path / "d.json", "--isocenter=" + point,
         "--out", tmp_path / "markers_result.json")  # fmt: skip
    cli_result = json.loads((tmp_path / "markers_result.json").read_text())
    cli_planning = json.loads((tmp_path / "p.json").read_text())["markers"]

    scene = slicer.vtkMRMLScene()
    planning = volumes.node_from_image(scene, read_volume(tmp_path / "planning.nrrd").image, "planning")
    daily = volumes.node_from_image(scene, read_volume(tmp_path / "daily.nrrd").image, "daily")
    logic = fiducial_module.IGRTFiducialsLogic()
    p_list, d_list = logic.detect(planning, "planning"), logic.detect(daily, "daily")
    out = logic.process(p_list, d_list, planningIsocenterLps=iso)

    from igrt.mrml import fiducials as marker_nodes

    slicer_planning = [m.position_lps for m in marker_nodes.read_markers(p_list)]
    np.testing.assert_allclose(slicer_planning, [m["position_lps"] for m in cli_planning], atol=1e-3)
    # The markers file rounds positions to 0.1 µm: the matches agree to that.
    np.testing.assert_allclose(out.result["matrix_lps"], cli_result["matrix_lps"], atol=1e-5)
    np.testing.assert_allclose(cli_result["translation_mm"], [-1.5, 2.0, 1.0], atol=0.3)
    for key in ("translation_mm", "rotation_deg"):
        np.testing.assert_allclose(out.result[key], cli_result[key], atol=1e-3)
    assert out.result["quality"]["pairs"] == cli_result["quality"]["pairs"]
    assert out.result["warnings"] == cli_result["warnings"]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"daily": {"patient_position": "FFS"}}, "patient position mismatch"),
        ({"daily": {"patient_id": "SOMEONE-ELSE"}}, "patient ID mismatch"),
        ({"daily_origin_shift_mm": 600.0}, "overlap"),
    ],
    ids=["HFS-vs-FFS", "different-patients", "no-overlap"],
)
def test_slicer_refuses_what_the_cli_refuses(modules, block_phantom, tmp_path, capsys, change, words):
    match_module = modules[0]
    daily_image = move_patient(block_phantom, np.eye(4), noise=8)
    if "daily_origin_shift_mm" in change:
        origin = np.array(daily_image.GetOrigin()) + (0.0, 0.0, change["daily_origin_shift_mm"])
        daily_image.SetOrigin(tuple(origin))
    daily_identity = {"patient_id": "PARITY-1", "patient_position": "HFS", **change.get("daily", {})}
    write_image_series(
        block_phantom, tmp_path / "planning", patient_id="PARITY-1", frame_of_reference_uid="1.2.3.9"
    )
    write_image_series(daily_image, tmp_path / "daily", frame_of_reference_uid="1.2.3.9", **daily_identity)
    iso = ",".join(f"{v:.6f}" for v in _iso(block_phantom))

    code = igrt(["match", str(tmp_path / "planning"), str(tmp_path / "daily"), "--isocenter=" + iso,
                 "--out", str(tmp_path / "result.json")])  # fmt: skip
    cli_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and words in cli_line and not (tmp_path / "result.json").exists()

    scene = slicer.vtkMRMLScene()
    planning = _node(scene, read_volume(tmp_path / "planning"), "planning CT")
    daily = _node(scene, read_volume(tmp_path / "daily"), "daily CBCT")
    with pytest.raises(IGRTInputError) as refused:
        match_module.IGRTDailyMatchLogic().process(planning, daily, planningIsocenterLps=_iso(block_phantom))
    assert cli_line == f"igrt: error: {refused.value}"
    assert scene.GetNodesByClass("vtkMRMLLinearTransformNode").GetNumberOfItems() == 0
