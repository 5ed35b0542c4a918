"""Single volume files (NRRD, NIfTI, MHA) and the planning/daily pair check."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.io.dicom_write import write_image_series
from igrt.io.volumes import read_volume
from igrt.registration.inputs import check_pair
from igrt.volume import Volume

# An oblique grid: rotated 30° about z, so a reader that drops the direction is caught.
C, S = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
OBLIQUE = (C, -S, 0.0, S, C, 0.0, 0.0, 0.0, 1.0)


def int16_image() -> sitk.Image:
    a = (np.arange(6 * 5 * 4).reshape(4, 5, 6) * 7 - 400).astype(np.int16)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing((0.7, 0.9, 3.0))
    img.SetOrigin((12.5, -40.0, 7.0))
    img.SetDirection(OBLIQUE)
    return img


def refused(path) -> str:
    with pytest.raises(IGRTInputError) as info:
        read_volume(path)
    msg = str(info.value)
    assert "\n" not in msg and msg
    return msg


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".nii", ".mha"])
def test_volume_file_keeps_lps_geometry_as_float32(tmp_path, suffix):
    img = int16_image()
    path = tmp_path / f"v{suffix}"
    sitk.WriteImage(img, str(path))
    vol = read_volume(path)
    out = vol.image
    assert out.GetPixelID() == sitk.sitkFloat32
    assert out.GetSize() == (6, 5, 4)
    assert out.GetSpacing() == pytest.approx((0.7, 0.9, 3.0))
    assert out.GetOrigin() == pytest.approx((12.5, -40.0, 7.0), abs=1e-4)
    assert out.GetDirection() == pytest.approx(OBLIQUE, abs=1e-6)
    # Voxel (1, 0, 2) by hand: origin + 0.7·(cos30, sin30, 0) + 2·3.0·(0, 0, 1).
    assert out.TransformIndexToPhysicalPoint((1, 0, 2)) == pytest.approx(
        (12.5 + 0.7 * C, -40.0 + 0.7 * S, 13.0), abs=1e-4
    )
    assert np.array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(img).astype(np.float32))
    assert vol.patient_id is None and vol.patient_position is None


def test_two_d_vector_four_d_and_slab_refused(tmp_path):
    sitk.WriteImage(sitk.Image(8, 8, sitk.sitkInt16), str(tmp_path / "flat.nrrd"))
    assert "3-D volume is needed" in refused(tmp_path / "flat.nrrd")
    sitk.WriteImage(sitk.Image([8, 8, 8], sitk.sitkVectorFloat32, 3), str(tmp_path / "vec.mha"))
    assert "3 components per voxel" in refused(tmp_path / "vec.mha")
    sitk.WriteImage(sitk.Image([4, 4, 4, 3], sitk.sitkFloat32), str(tmp_path / "t.nii.gz"))
    assert "4×4×4×3" in refused(tmp_path / "t.nii.gz")
    sitk.WriteImage(sitk.Image([8, 8, 1], sitk.sitkFloat32), str(tmp_path / "slab.mha"))
    assert "8×8×1" in refused(tmp_path / "slab.mha")


def test_unknown_corrupt_and_dicom_files_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    assert "not a supported volume file" in refused(tmp_path / "notes.txt")
    (tmp_path / "bad.nrrd").write_bytes(b"NRRD0004\ngarbage\n")
    assert "cannot read" in refused(tmp_path / "bad.nrrd")
    (tmp_path / "empty.mha").write_bytes(b"")
    assert "cannot read" in refused(tmp_path / "empty.mha")
    folder = write_image_series(int16_image(), tmp_path / "ct")
    one = sorted(folder.iterdir())[0]
    assert "give the folder" in refused(one)
    renamed = one.rename(tmp_path / "IMG0001")  # DICOM without the .dcm name: found by its magic
    assert "single DICOM file" in refused(renamed)


def volume(**kw) -> Volume:
    return Volume(image=sitk.Image(2, 2, 2, sitk.sitkFloat32), path=kw.pop("path", "x"), **kw)


def test_pair_different_patients_refused():
    with pytest.raises(IGRTInputError, match="patient ID mismatch.*'A'.*'B'"):
        check_pair(volume(patient_id="A"), volume(patient_id="B"))


def test_pair_different_patient_positions_refused():
    with pytest.raises(
        IGRTInputError, match="patient position mismatch: planning image is HFS, daily image is FFS"
    ):
        check_pair(volume(patient_position="HFS"), volume(patient_position="FFS"))


def test_pair_cbct_frame_recorded():
    planning = volume(
        patient_id="A", patient_position="HFS", frame_of_reference_uid="1.2.3", series_uid="9.1"
    )
    daily = volume(patient_id="A", patient_position="HFS", frame_of_reference_uid="1.2.4", series_uid="9.2")
    warnings = check_pair(planning, daily)
    assert len(warnings) == 1 and "different frames of reference" in warnings[0] and "1.2.4" in warnings[0]
    same = volume(patient_id="A", patient_position="HFS", frame_of_reference_uid="1.2.3", series_uid="9.3")
    assert check_pair(planning, same) == []


def test_pair_unknown_identities_recorded():
    warnings = check_pair(volume(path="p.nrrd"), volume(patient_id="A", path="d"))
    text = " | ".join(warnings)
    assert "planning image has no patient ID (p.nrrd)" in text
    assert "no patient position" in text and "frame of reference unknown" in text
    assert "daily image has no patient ID" not in text


def test_pair_same_series_recorded():
    v = volume(patient_id="A", patient_position="HFS", frame_of_reference_uid="1", series_uid="7")
    assert any("same series" in w for w in check_pair(v, v))
