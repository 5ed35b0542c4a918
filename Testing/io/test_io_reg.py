"""DICOM Spatial Registration export/import: valid IOD, direction pinned by hand, round trip, refusals."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import make_block_phantom
from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.io import reg
from igrt.io.dicom_write import write_image_series

F = np.diag([-1.0, -1.0, 1.0, 1.0])  # LPS ↔ RAS


def result(matrix, p_iso=(0.0, 0.0, 0.0), d_iso=None, planning=None, daily=None, method="auto"):
    return {
        "schema_version": "1.0",
        "method": method,
        "matrix_lps": np.asarray(matrix, float).tolist(),
        "planning_isocenter_lps": list(p_iso),
        "daily_isocenter_lps": list(p_iso if d_iso is None else d_iso),
        "orientation": "HFS",
        "inputs": {"planning": planning or {}, "daily": daily or {}},
    }


def tiny_series(tmp_path, name, **kw):
    img = sitk.GetImageFromArray(np.zeros((3, 4, 5), np.float32))
    img.SetSpacing((1.0, 1.0, 2.0))
    folder = write_image_series(img, tmp_path / name, patient_id="P1", **kw)
    ds = pydicom.dcmread(sorted(folder.iterdir())[0])
    ident = {
        "path": str(folder),
        "patient_id": "P1",
        "study_uid": ds.StudyInstanceUID,
        "series_uid": ds.SeriesInstanceUID,
        "frame_of_reference_uid": ds.FrameOfReferenceUID,
    }
    return folder, ident


def displacement():
    """A 6-DOF patient displacement about a planning isocenter (LPS mm, degrees)."""
    iso = np.array([12.0, -30.0, 240.0])
    return geometry.rigid_about_point(geometry.rotation_xyz_deg(2.0, -1.5, 3.0), iso, (4.0, -3.0, 6.0)), iso


def item_matrix(ds, k):
    seq = ds.RegistrationSequence[k].MatrixRegistrationSequence[0].MatrixSequence
    assert len(seq) == 1 and seq[0].FrameOfReferenceTransformationMatrixType == "RIGID"
    return np.array([float(v) for v in seq[0].FrameOfReferenceTransformationMatrix]).reshape(4, 4)


# ---------------------------------------------------------------------------------------- validity
def dciodvfy_errors(path):
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    report = run.stdout + run.stderr
    assert "SpatialRegistration" in report, report
    return [ln for ln in report.splitlines() if ln.startswith("Error")], report


def test_dciodvfy_no_errors_with_both_series_referenced(tmp_path):
    """CT planning and a CBCT in its own study and frame: both series and frames referenced (C.12.2)."""
    _, planning = tiny_series(tmp_path, "ct")
    _, daily = tiny_series(tmp_path, "cbct")
    m, iso = displacement()
    notes = []
    path = reg.write_reg(
        result(m, iso, (0, 0, 0), planning, daily), tmp_path / "out" / "reg.dcm", notes=notes
    )
    assert notes == []
    errors, report = dciodvfy_errors(path)
    assert errors == [], report
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == reg.REG_CLASS and ds.Modality == "REG"
    assert ds.StudyInstanceUID == planning["study_uid"]  # the REG joins the fixed image's study
    assert ds.FrameOfReferenceUID == planning["frame_of_reference_uid"]  # Registered RCS = planning
    items = ds.RegistrationSequence
    assert [it.FrameOfReferenceUID for it in items] == [
        planning["frame_of_reference_uid"],
        daily["frame_of_reference_uid"],
    ]
    assert all(len(it.ReferencedImageSequence) == 3 for it in items)
    assert [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence] == [planning["series_uid"]]
    (other,) = ds.StudiesContainingOtherReferencedInstancesSequence
    assert other.StudyInstanceUID == daily["study_uid"]
    assert [s.SeriesInstanceUID for s in other.ReferencedSeriesSequence] == [daily["series_uid"]]
    back = reg.read_reg(path)
    assert back["fixed"]["series_uids"] == [planning["series_uid"]]
    assert back["moving"]["series_uids"] == [daily["series_uid"]]
    assert back["moving"]["study_uids"] == [daily["study_uid"]]
    assert back["patient_id"] == "P1"
    assert not list(path.parent.glob(".*tmp"))  # nothing left of the atomic write


def test_dciodvfy_no_errors_without_identities(tmp_path):
    """Volume files: frames generated and said so; the REG is still a valid IOD."""
    notes = []
    path = reg.write_reg(result(np.eye(4)), tmp_path / "reg.dcm", notes=notes)
    assert sum("generated" in n for n in notes) == 2
    errors, report = dciodvfy_errors(path)
    assert errors == [], report
    back = reg.read_reg(path)
    assert back["fixed"]["frame_of_reference_uid"] != back["moving"]["frame_of_reference_uid"]


# ---------------------------------------------------------------------------------------- direction
def test_hand_worked_direction_patient_5mm_left_shared_frame(tmp_path):
    """Patient displaced 5 mm to the left (LPS +x) on a daily CT that shares the planning frame.

    docs/CONVENTIONS.md: M maps a planned point q to where it is now: M(q) = q + (5, 0, 0).
    PS3.3 C.20.2 / C.20.2.1.1: the moving item's matrix takes a point of the item's (daily) frame into
    the Registered RCS (planning frame): the anatomy seen at daily coordinate d was planned at d - 5 x.
    So the daily item must hold [[1,0,0,-5],[0,1,0,0],[0,0,1,0],[0,0,0,1]] and the planning item I.
    """
    shared = {"frame_of_reference_uid": "1.2.826.0.1.3680043.10.1459.99.1", "patient_id": "P1"}
    m = geometry.rigid_matrix(translation=(5.0, 0.0, 0.0))
    path = reg.write_reg(result(m, (0, 0, 100)), tmp_path / "reg.dcm", planning_identity=shared,
                         daily_identity=shared, notes=[])  # fmt: skip
    ds = pydicom.dcmread(path)
    expected = np.array([[1, 0, 0, -5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    np.testing.assert_array_equal(item_matrix(ds, 0), np.eye(4))
    np.testing.assert_array_equal(item_matrix(ds, 1), expected)
    assert ds.RegistrationSequence[1].FrameOfReferenceUID == shared["frame_of_reference_uid"]
    # SlicerRT's reader: product of all item matrices, LPS→RAS, set as to-parent of the node it applies
    # to the moving (daily) image: +5 mm along RAS x (to the patient's right) brings the image back.
    slicer_to_parent = F @ (item_matrix(ds, 0) @ item_matrix(ds, 1)) @ F
    np.testing.assert_allclose(slicer_to_parent[:3, 3], [5.0, 0.0, 0.0])
    back = reg.result_from_reg(path)
    np.testing.assert_allclose(back["matrix_lps"], m, atol=1e-12)
    assert back["translation_mm"] == pytest.approx([5.0, 0.0, 0.0])
    assert back["couch"]["sense"] == "couch moves"


def test_slicerrt_node_equals_our_transform_node(tmp_path):
    """What SlicerRT builds from our REG equals what igrt.mrml.transforms puts on the daily volume."""
    pytest.importorskip("slicer")
    from igrt.mrml.transforms import to_parent_ras_from_result

    m, iso = displacement()
    d_iso = np.array([0.5, -1.0, 2.0])
    ds = pydicom.dcmread(reg.write_reg(result(m, iso, d_iso), tmp_path / "reg.dcm", notes=[]))
    slicer_to_parent = F @ (item_matrix(ds, 0) @ item_matrix(ds, 1)) @ F
    np.testing.assert_allclose(slicer_to_parent, to_parent_ras_from_result(m, iso, d_iso), atol=1e-9)


def test_matrix_sequence_order_eq_c20_2_2(tmp_path):
    """Two matrices in one item: M1 (first item) is applied first (PS3.3 Eq. C.20.2-2: M = M2·M1).

    M1 = 90° about z, M2 = +10 mm x. By hand: (1,0,0) → M1 → (0,1,0) → M2 → (10,1,0).
    """
    rz = [[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    tx = [[1, 0, 0, 10], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    path = foreign_reg(tmp_path, [("1.2.3.1", [np.eye(4)]), ("1.2.3.2", [rz, tx])], registered="1.2.3.1")
    t = np.array(reg.read_reg(path, planning={"frame_of_reference_uid": "1.2.3.1"})["matrix_moving_to_fixed"])
    np.testing.assert_allclose(geometry.apply(t, [1.0, 0.0, 0.0]), [10.0, 1.0, 0.0], atol=1e-12)


def test_items_in_a_third_frame_eq_c20_2_3(tmp_path):
    """Neither item in the Registered RCS: moving → fixed = M_fixed⁻¹·M_moving (PS3.3 Eq. C.20.2-3)."""
    mf = geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 30), (1.0, 2.0, 3.0))
    mm = geometry.rigid_matrix(geometry.rotation_xyz_deg(10, 0, 0), (-4.0, 0.0, 8.0))
    path = foreign_reg(tmp_path, [("1.2.3.1", [mf]), ("1.2.3.2", [mm])], registered="1.2.3.9", fmt="{:.12f}")
    back = reg.read_reg(path, daily={"frame_of_reference_uid": "1.2.3.2"})
    np.testing.assert_allclose(back["matrix_moving_to_fixed"], np.linalg.inv(mf) @ mm, atol=1e-9)
    assert back["fixed"]["frame_of_reference_uid"] == "1.2.3.1"
    with pytest.raises(IGRTInputError, match="cannot tell which"):  # neither item is told apart
        reg.read_reg(path)


# ---------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("seed", range(5))
def test_export_import_round_trip(tmp_path, seed):
    rng = np.random.default_rng(seed)
    p_iso = rng.uniform(-200, 200, 3)
    d_iso = rng.uniform(-20, 20, 3)
    m = geometry.rigid_about_point(
        geometry.rotation_xyz_deg(*rng.uniform(-10, 10, 3)), p_iso, rng.uniform(-30, 30, 3)
    )
    path = reg.write_reg(result(m, p_iso, d_iso), tmp_path / "reg.dcm", notes=[])
    t = np.array(reg.read_reg(path)["matrix_moving_to_fixed"])
    np.testing.assert_allclose(t, reg.reg_matrix_from_result(m, p_iso, d_iso), atol=1e-9)
    back = reg.result_from_reg(path)  # isocenters recorded in our own REG
    assert np.abs(np.array(back["matrix_lps"]) - m).max() <= 1e-6
    np.testing.assert_allclose(back["daily_isocenter_lps"], d_iso, atol=1e-4)
    assert reg.result_from_reg(reg.read_reg(path))["matrix_lps"] == back["matrix_lps"]
    # Declared isocenters give the same matrix (what a user does with another system's REG).
    again = reg.result_from_reg(path, planning_isocenter_lps=p_iso, daily_isocenter_lps=d_iso)
    assert np.abs(np.array(again["matrix_lps"]) - m).max() <= 1e-6


def _apply_reg(daily: sitk.Image, t, reference: sitk.Image) -> sitk.Image:
    """Resample the daily image into the planning frame through T = daily → planning.

    SimpleITK's transform maps output (planning) points to input (daily) points: T⁻¹.
    """
    inv = np.linalg.inv(t)
    tr = sitk.AffineTransform(3)
    tr.SetMatrix([float(v) for v in inv[:3, :3].ravel()])
    tr.SetTranslation([float(v) for v in inv[:3, 3]])
    return sitk.Resample(daily, reference, tr, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)


@pytest.mark.parametrize("own_frame", [False, True], ids=["shared-frame", "cbct-own-frame"])
def test_reg_moves_daily_volume_onto_planning(tmp_path, own_frame):
    block = make_block_phantom(size=(80, 70, 48), spacing=(2.5, 2.5, 3.0), origin=(-100.0, -90.0, 170.0))
    planning = sitk.SmoothingRecursiveGaussian(block, 3.0)  # smooth: interpolation error stays small
    center = np.array(
        planning.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in planning.GetSize()])
    )
    m = geometry.rigid_about_point(geometry.rotation_xyz_deg(3.0, -2.0, 4.0), center, (6.0, -4.0, 5.0))
    d_iso = np.array([0.0, 0.0, 0.0]) if own_frame else center
    # The daily image: the planned point q is seen at A(q) = M(q) - planning_iso + daily_iso (docs/CONVENTIONS.md).
    a = geometry.rigid_matrix(translation=d_iso - center) @ m
    grid = sitk.Image(planning)
    grid.SetOrigin(tuple(np.asarray(planning.GetOrigin()) + d_iso - center))
    inv = np.linalg.inv(a)  # daily value at d is the planning value at A⁻¹(d)
    tr = sitk.AffineTransform(3)
    tr.SetMatrix([float(v) for v in inv[:3, :3].ravel()])
    tr.SetTranslation([float(v) for v in inv[:3, 3]])
    daily = sitk.Resample(planning, grid, tr, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    frames = (
        {"frame_of_reference_uid": "1.2.9.1"},
        {"frame_of_reference_uid": "1.2.9.2" if own_frame else "1.2.9.1"},
    )
    path = reg.write_reg(result(m, center, d_iso), tmp_path / "reg.dcm", planning_identity=frames[0],
                         daily_identity=frames[1], notes=[])  # fmt: skip
    t = np.array(reg.read_reg(path)["matrix_moving_to_fixed"])

    ref = sitk.GetArrayFromImage(planning)
    inner = np.zeros(ref.shape, bool)
    inner[8:-8, 10:-10, 10:-10] = True  # away from the edges the displacement brings in
    err = np.abs(sitk.GetArrayFromImage(_apply_reg(daily, t, planning)) - ref)[inner].mean()
    err_inverted = np.abs(sitk.GetArrayFromImage(_apply_reg(daily, np.linalg.inv(t), planning)) - ref)[
        inner
    ].mean()
    err_none = np.abs(sitk.GetArrayFromImage(_apply_reg(daily, np.eye(4), planning)) - ref)[inner].mean()
    assert err < 10.0, err  # two linear interpolations of a smooth image (measured 6 HU)
    assert err_inverted > 5 * err and err_none > 5 * err, (err, err_inverted, err_none)


# ---------------------------------------------------------------------------------------- other systems
def foreign_reg(
    tmp_path, items, registered, sop_class=reg.REG_CLASS, kind="RIGID", fmt="{:.6f}", name="f.dcm"
):
    """A REG as another system writes it: no private block, matrices with 6 decimals (like %f)."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "P9", generate_uid(), generate_uid()
    ds.Modality, ds.FrameOfReferenceUID = "REG", registered
    seq = []
    for frame, mats in items:
        it, mr = Dataset(), Dataset()
        it.FrameOfReferenceUID = frame
        mr.MatrixSequence = []
        for mat in mats:
            mi = Dataset()
            mi.FrameOfReferenceTransformationMatrixType = kind
            mi.FrameOfReferenceTransformationMatrix = [fmt.format(v) for v in np.ravel(mat)]
            mr.MatrixSequence.append(mi)
        it.MatrixRegistrationSequence = [mr]
        seq.append(it)
    ds.RegistrationSequence = seq
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path


def test_import_reg_of_another_system(tmp_path):
    """CBCT REG from elsewhere (fixed item listed second, 6-decimal matrix) into a result."""
    m, iso = displacement()
    d_iso = np.array([0.0, 0.0, 0.0])
    t = reg.reg_matrix_from_result(m, iso, d_iso)
    path = foreign_reg(tmp_path, [("1.2.3.2", [t]), ("1.2.3.1", [np.eye(4)])], registered="1.2.3.1")
    planning = {"frame_of_reference_uid": "1.2.3.1"}
    with pytest.raises(IGRTInputError, match="cannot tell which"):  # another system's: frames must be told
        reg.result_from_reg(path, planning_isocenter_lps=iso, daily_isocenter_lps=d_iso)
    with pytest.raises(IGRTInputError, match="planning isocenter"):
        reg.result_from_reg(path, planning=planning)
    with pytest.raises(IGRTInputError, match="daily .*isocenter"):
        reg.result_from_reg(path, planning_isocenter_lps=iso, planning=planning)
    out = reg.result_from_reg(path, planning_isocenter_lps=iso, daily_isocenter_lps=d_iso, planning=planning)
    assert np.abs(np.array(out["matrix_lps"]) - m).max() < 1e-4  # 6 decimals written
    assert geometry.is_rigid(np.array(out["matrix_lps"]), tol=1e-12)  # re-orthonormalised
    assert out["translation_mm"] == pytest.approx([4.0, -3.0, 6.0], abs=1e-4)
    assert out["inputs"]["daily"]["frame_of_reference_uid"] == "1.2.3.2"
    assert out["inputs"]["planning"]["frame_of_reference_uid"] == "1.2.3.1"
    assert any("assumed HFS" in w for w in out["warnings"])
    # A one-item REG: the item's frame registered to the REG's own frame.
    one = foreign_reg(tmp_path, [("1.2.3.2", [t])], registered="1.2.3.1", name="one.dcm")
    np.testing.assert_allclose(reg.read_reg(one, planning=planning)["matrix_moving_to_fixed"], t, atol=1e-5)


# ---------------------------------------------------------------------------------------- refusals
def test_bad_inputs_refused(tmp_path):
    t = np.eye(4)
    cases = {
        "not a DICOM": (tmp_path / "x.dcm", "not a readable DICOM"),
        "CT image": (sorted(tiny_series(tmp_path, "ct")[0].iterdir())[0], "not a DICOM Spatial Registration"),
        "deformable": (
            foreign_reg(
                tmp_path, [("1.2.3.1", [t])], "1.2.3.1", sop_class=reg.DEFORMABLE_REG_CLASS, name="d.dcm"
            ),
            "Deformable",
        ),
        "affine": (
            foreign_reg(tmp_path, [("1.2.3.1", [t])], "1.2.3.1", kind="AFFINE", name="a.dcm"),
            "AFFINE",
        ),
        "scaled": (
            foreign_reg(tmp_path, [("1.2.3.1", [np.diag([1.1, 1, 1, 1])])], "1.2.3.1", name="s.dcm"),
            "not rigid",
        ),
        "three items": (
            foreign_reg(tmp_path, [("1.2.3.1", [t])] * 3, "1.2.3.1", name="3.dcm"),
            "3 registration items",
        ),
    }
    (tmp_path / "x.dcm").write_text("hello")
    for what, (path, message) in cases.items():
        with pytest.raises(IGRTInputError, match=message) as err:
            reg.read_reg(path)
        assert "\n" not in str(err.value), what


def test_write_refusals_leave_nothing(tmp_path):
    out = tmp_path / "reg.dcm"
    with pytest.raises(IGRTInputError, match="different patients"):
        reg.write_reg(
            result(np.eye(4), planning={"patient_id": "A"}, daily={"patient_id": "B"}), out, notes=[]
        )
    with pytest.raises(IGRTInputError, match="not a rigid"):
        reg.write_reg(result(np.diag([1.0, 1.0, 1.2, 1.0])), out, notes=[])
    assert list(tmp_path.iterdir()) == []


def test_warnings_without_notes_list(tmp_path):
    with pytest.warns(UserWarning, match="generated"):
        reg.write_reg(result(np.eye(4)), tmp_path / "reg.dcm")
