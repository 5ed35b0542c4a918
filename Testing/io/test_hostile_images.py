"""Images a hostile user gives: non-finite voxels, incomplete DICOM pixel modules, broken axes, a target
mask that is not an image (issue 10, items 9, 11, 13). Each is one clear line or a correct read with a
warning, whatever the axis, the file format or the attribute."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from conftest import make_block_phantom
from igrt.errors import IGRTInputError
from igrt.io.dicom_write import write_image_series
from igrt.io.masks import read_label_image
from igrt.io.volumes import read_volume
from igrt.volume import Volume


def small():
    return make_block_phantom(size=(24, 20, 8), spacing=(2.0, 2.0, 2.5), origin=(-20.0, -30.0, 40.0))


def refused(path, words, reader=read_volume):
    with pytest.raises(IGRTInputError, match=words) as err:
        reader(path)
    assert "\n" not in str(err.value)
    assert "SimpleITK-build" not in str(err.value) and ".hxx" not in str(err.value)
    return str(err.value)


# ------------------------------------------------------------------------------------- non-finite voxels
@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])  # ITK's NIfTI reader already makes them 0
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels_read_as_outside_the_field_of_view(tmp_path, suffix, bad):
    img = small()
    arr = sitk.GetArrayFromImage(img)
    arr[:, :2, :] = bad  # a band outside the field of view, as some reconstructions write it
    arr[4, 10, 12] = bad  # and one voxel inside
    lowest = float(arr[np.isfinite(arr)].min())
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    path = tmp_path / f"cbct{suffix}"
    sitk.WriteImage(out, str(path))
    v = read_volume(path)
    got = sitk.GetArrayViewFromImage(v.image)
    assert np.isfinite(got).all()
    assert got[4, 10, 12] == pytest.approx(lowest) and got[0, 0, 0] == pytest.approx(lowest)
    keep = np.isfinite(arr)
    np.testing.assert_array_equal(got[keep], arr[keep])
    (note,) = [w for w in v.warnings if "NaN or infinite" in w]
    assert f"{8 * 2 * 24 + 1} voxel(s)" in note and "outside the field of view" in note


def test_all_voxels_nan_refused(tmp_path):
    img = sitk.GetImageFromArray(np.full((4, 5, 6), np.nan, np.float32))
    sitk.WriteImage(img, str(tmp_path / "nan.mha"))
    refused(tmp_path / "nan.mha", "no finite voxel")


def test_volume_from_any_source_is_finite():
    """Slicer nodes and synthetic images become Volumes too: the same rule there."""
    arr = np.zeros((4, 5, 6), np.float32)
    arr[1, 2, 3] = np.nan
    v = Volume(image=sitk.GetImageFromArray(arr), path="mrml:vtkMRMLScalarVolumeNode1")
    assert np.isfinite(sitk.GetArrayViewFromImage(v.image)).all() and len(v.warnings) == 1


def test_finite_voxels_whose_sum_overflows_read_unchanged(tmp_path):
    """The check sums in float32: 3e38 HU voxels overflow the sum to inf yet are finite, no warning."""
    arr = np.full((4, 5, 6), 3e38, np.float32)
    arr[0, 0, 0] = -1000.0
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "big.mha"))
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(arr))
    v = read_volume(tmp_path / "big.mha")
    assert v.warnings == []
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(v.image), arr)


@pytest.mark.parametrize(("stored", "pixel_id"), [(np.int16, sitk.sitkInt16), (np.float32, sitk.sitkFloat32)])
def test_volume_file_read_as_float32_with_its_values(tmp_path, stored, pixel_id):
    """int16 files are cast; float32 files are taken as read (no copy), with the same voxels either way."""
    arr = np.arange(120, dtype=stored).reshape(4, 5, 6) - 60
    img = sitk.GetImageFromArray(arr)
    assert img.GetPixelID() == pixel_id
    sitk.WriteImage(img, str(tmp_path / "v.mha"))
    v = read_volume(tmp_path / "v.mha")
    assert v.image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(v.image), arr.astype(np.float32))


# ------------------------------------------------------------------------------------- DICOM pixel module
@pytest.mark.parametrize(
    ("keyword", "value", "words"),
    [
        ("BitsAllocated", None, "no BitsAllocated"),
        ("PixelRepresentation", None, "no PixelRepresentation"),
        ("Rows", None, "no Rows"),
        ("BitsAllocated", 12, "unsupported pixel format"),
        ("BitsStored", 20, "unsupported pixel format"),
        ("PixelRepresentation", 2, "unsupported pixel format"),
        ("RescaleSlope", "abc", "RescaleSlope 'abc' is not a number"),
        ("RescaleIntercept", "nan", "RescaleIntercept nan is not a finite number"),
        ("SamplesPerPixel", 3, "colour"),
    ],
)
def test_incomplete_dicom_pixel_module_refused(tmp_path, keyword, value, words):
    folder = write_image_series(small(), tmp_path / "ct", patient_id="A")
    f = sorted(folder.iterdir())[3]  # one slice of eight
    ds = pydicom.dcmread(f)
    if value is None:
        delattr(ds, keyword)
    elif keyword.startswith("Rescale"):
        ds[keyword].VR = "LO"  # a DS that is not a number cannot be stored as DS
        ds[keyword].value = value
    else:
        setattr(ds, keyword, value)
    ds.save_as(f)
    assert f.name in refused(folder, words)


# ------------------------------------------------------------------------------------- broken axes
@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        ("1 0 0 0 1 0 0 0 0", r"\(0 0 0\) are degenerate"),
        ("1 0 0 1 0 0 0 0 1", "degenerate"),
        ("0 0 1 0 1 0 0 0 1", "degenerate"),
        ("1 0 0 0 1 0 0 0.5 0.5", "not perpendicular unit vectors"),
        ("2 0 0 0 1 0 0 0 1", "not perpendicular unit vectors"),
    ],
)
def test_degenerate_axes_refused_in_words(tmp_path, matrix, words):
    sitk.WriteImage(small(), str(tmp_path / "ok.mha"))
    text = (tmp_path / "ok.mha").read_bytes()
    start = text.index(b"TransformMatrix")
    end = text.index(b"\n", start)
    (tmp_path / "bad.mha").write_bytes(text[:start] + b"TransformMatrix = " + matrix.encode() + text[end:])
    refused(tmp_path / "bad.mha", words)


def test_left_handed_axes_are_a_valid_header(tmp_path):
    """A flipped axis (det −1) is a legal header (e.g. LPI): read, not refused."""
    img = small()
    img.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, -1))
    sitk.WriteImage(img, str(tmp_path / "lpi.nrrd"))
    assert read_volume(tmp_path / "lpi.nrrd").image.GetDirection()[8] == -1


# ------------------------------------------------------------------------------------- target masks
def test_target_mask_that_is_not_an_image(tmp_path):
    (tmp_path / "mask.nrrd").write_text("NRRD0004\nthis is not a header\n")
    (tmp_path / "mask.txt").write_text("1 2 3")
    (tmp_path / "folder").mkdir()
    rgb = sitk.Compose([small()] * 3)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.nrrd"))
    for name, words in (
        ("mask.nrrd", "mask.nrrd: cannot read it as a target mask file"),
        ("mask.txt", "not a supported target mask file"),
        ("folder", "is a folder"),
        ("missing.nrrd", "does not exist"),
        ("rgb.nrrd", "3 components per voxel"),
    ):
        refused(tmp_path / name, words, read_label_image)
    sitk.WriteImage(sitk.Cast(small() > 500, sitk.sitkUInt8), str(tmp_path / "ok.nrrd"))
    assert read_label_image(tmp_path / "ok.nrrd").GetPixelID() == sitk.sitkUInt8
