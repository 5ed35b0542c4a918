"""DICOM series folders: slice order, per-slice rescale, and one clear refusal for every ambiguous folder."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from conftest import make_block_phantom
from igrt.errors import IGRTInputError
from igrt.io.dicom_write import write_image_series
from igrt.io.volumes import read_volume


@pytest.fixture(scope="module")
def phantom():
    return make_block_phantom(size=(24, 20, 8), spacing=(2.0, 2.0, 2.5), origin=(-20.0, -30.0, 40.0))


@pytest.fixture
def ct(tmp_path, phantom):
    """A fresh 8-slice CT series (files CT_0001..CT_0008, slice k at z = 40 + 2.5·k)."""
    return write_image_series(phantom, tmp_path / "ct", patient_id="A")


def edit(folder, change, only=None):
    """Rewrite the slices of ``folder`` (in file-name order, k = 0..) through ``change(k, ds)``."""
    for k, f in enumerate(sorted(folder.iterdir())):
        if only is None or k in only:
            ds = pydicom.dcmread(f)
            change(k, ds)
            ds.save_as(f)


def refused(path) -> str:
    with pytest.raises(IGRTInputError) as info:
        read_volume(path)
    msg = str(info.value)
    assert "\n" not in msg and msg
    return msg


def test_order_comes_from_positions_not_names_or_instance_numbers(ct, phantom):
    rng = np.random.default_rng(0)
    files = sorted(ct.iterdir())
    names = [f"x{n}.dcm" for n in rng.permutation(len(files))]
    for f, n in zip(files, names, strict=True):
        f.rename(ct / n)
    edit(ct, lambda k, ds: setattr(ds, "InstanceNumber", 100 - k))
    out = read_volume(ct).image
    assert out.GetOrigin() == pytest.approx(phantom.GetOrigin())
    assert np.abs(sitk.GetArrayFromImage(out) - sitk.GetArrayFromImage(phantom)).max() <= 0.5 + 1e-3


def test_rescale_is_applied_per_slice(ct, phantom):
    """Slice 2 re-stored with slope 2, intercept -2000: HU = 2·s - 2000 (PS3.3 C.11.1.1.2)."""

    def restore(k, ds):
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        ds.PixelData = np.rint((hu + 2000.0) / 2.0).astype("<i2").tobytes()
        ds.RescaleSlope, ds.RescaleIntercept = "2", "-2000"

    edit(ct, restore, only={2})
    out = sitk.GetArrayFromImage(read_volume(ct).image)
    # Two roundings: 0.5 HU at slope 1 when written, then 1 HU at slope 2.
    assert np.abs(out - sitk.GetArrayFromImage(phantom)).max() <= 1.5 + 1e-3


def test_non_image_and_non_dicom_files_are_ignored_and_noted(ct, phantom):
    rs = pydicom.Dataset()
    rs.SOPClassUID = pydicom.uid.RTStructureSetStorage
    rs.SOPInstanceUID = generate_uid()
    rs.Modality = "RTSTRUCT"
    rs.PatientID = "SOMEONE ELSE"
    rs.save_as(ct / "RS.dcm", implicit_vr=True, little_endian=True)  # bare data set, no preamble
    (ct / "README.txt").write_text("exported by hand\n")
    (ct / "sub").mkdir()
    vol = read_volume(ct)
    assert vol.image.GetSize() == phantom.GetSize()
    assert any("RTSTRUCT×1" in w and "non-DICOM×1" in w for w in vol.warnings)


def test_bare_data_set_without_preamble_is_read(ct, phantom):
    """Some exports (the OBI files' source says so) need dcmread(force=True)."""
    for f in sorted(ct.iterdir()):
        ds = pydicom.dcmread(f)
        del ds.file_meta
        ds.preamble = None
        ds.save_as(f, implicit_vr=True, little_endian=True)
        assert f.read_bytes()[128:132] != b"DICM"
    assert read_volume(ct).image.GetSize() == phantom.GetSize()


def test_two_series_mixed(tmp_path, ct, phantom):
    other = write_image_series(phantom, tmp_path / "other", patient_id="A", series_description="CBCT pelvis")
    for f in sorted(other.iterdir())[:3]:
        shutil.copy(f, ct / ("o" + f.name))
    msg = refused(ct)
    uids = {str(pydicom.dcmread(next(d.iterdir())).SeriesInstanceUID) for d in (ct, other)}
    assert "2 image series" in msg and all(u in msg for u in uids) and "'CBCT pelvis'" in msg


def test_mixed_patients(ct):
    edit(ct, lambda k, ds: setattr(ds, "PatientID", "B"), only={0, 1, 2})
    msg = refused(ct)
    assert "different patients" in msg and "'A'" in msg and "'B'" in msg


@pytest.mark.parametrize("keep", [1500, 600, 200, 100])
def test_truncated_file(ct, keep):
    victim = sorted(ct.iterdir())[4]
    victim.write_bytes(victim.read_bytes()[:keep])
    msg = refused(ct)
    assert victim.name in msg and ("truncated" in msg or "corrupt" in msg)


def test_garbage_behind_a_dicom_preamble(ct):
    victim = sorted(ct.iterdir())[4]
    victim.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    msg = refused(ct)
    assert victim.name in msg and ("truncated" in msg or "corrupt" in msg)


def test_gantry_tilt(ct):
    """A 10° tilt shears the stack: slice k is shifted 2.5·k·tan(10°) mm along y."""
    shift = 2.5 * np.tan(np.radians(10.0))

    def tilt(k, ds):
        p = [float(v) for v in ds.ImagePositionPatient]
        ds.ImagePositionPatient = [p[0], p[1] + k * shift, p[2]]
        ds.GantryDetectorTilt = "10"

    edit(ct, tilt)
    msg = refused(ct)
    assert "sheared" in msg and "10.00°" in msg and "gantry" in msg


def test_missing_slice_is_non_uniform_spacing(ct):
    sorted(ct.iterdir())[3].unlink()
    msg = refused(ct)
    assert "non-uniform slice spacing" in msg and "2.500 to 5.000 mm" in msg


def test_position_jitter_within_tolerance_is_accepted(ct):
    edit(
        ct,
        lambda k, ds: setattr(
            ds, "ImagePositionPatient", [*ds.ImagePositionPatient[:2], 40 + 2.5 * k + 0.01 * (-1) ** k]
        ),
    )
    assert read_volume(ct).image.GetSpacing()[2] == pytest.approx(2.5, abs=0.01)


def test_duplicate_slice(ct):
    f = sorted(ct.iterdir())[5]
    ds = pydicom.dcmread(f)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(ct / "dup.dcm")
    msg = refused(ct)
    assert "same position" in msg and "dup.dcm" in msg


def test_inconsistent_orientation(ct):
    c, s = np.cos(np.radians(1.0)), np.sin(np.radians(1.0))
    edit(ct, lambda k, ds: setattr(ds, "ImageOrientationPatient", [c, s, 0, -s, c, 0]), only={3})
    assert "different orientations" in refused(ct)


def test_inconsistent_pixel_spacing(ct):
    edit(ct, lambda k, ds: setattr(ds, "PixelSpacing", [2.0, 2.1]), only={3})
    msg = refused(ct)
    assert "different pixel spacings" in msg and "2.1" in msg


def test_inconsistent_rows(ct):
    edit(ct, lambda k, ds: setattr(ds, "Rows", 10), only={3})
    assert "different sizes" in refused(ct)


def test_non_orthogonal_orientation(ct):
    edit(ct, lambda k, ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0.0871557, 0.9961947, 0]))
    msg = refused(ct)
    assert "not orthogonal" in msg and "85.000°" in msg


def test_inconsistent_frame_of_reference(ct):
    edit(ct, lambda k, ds: setattr(ds, "FrameOfReferenceUID", generate_uid()), only={3})
    assert "different frames of reference" in refused(ct)


def test_multiframe_class_refused(ct):
    edit(ct, lambda k, ds: setattr(ds, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.2.1"), only={0})
    assert "multi-frame" in refused(ct)


def test_single_slice(tmp_path, ct):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(sorted(ct.iterdir())[0], one)
    assert "only 1 image slice" in refused(one)


def test_empty_folder_no_images_nonexistent_and_one_file(tmp_path, ct):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "is empty" in refused(empty)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("hello")
    assert "no CT or MR image series" in refused(notes)
    assert "does not exist" in refused(tmp_path / "nowhere")
    msg = refused(sorted(ct.iterdir())[0])
    assert "single DICOM file" in msg and str(ct) in msg


def test_real_obi_cbct(shared_data):
    """Varian OBI CBCT of a CatPhan (SOURCE.md): 64 slices of 512², 0.488 mm, 2.5 mm, HFS, 0.3° couch.

    Hand-checked from the headers: every file has Image Orientation (0.99998629224743, 0,
    0.00523596383142, 0, 1, 0): the row axis is turned atan(0.005236/0.999986) = 0.300° about the
    patient's y axis (the vertical, as a couch rotation is). The slice with Instance Number 0 is the
    first along the normal; its Image Position is (-249.33355867696, -249.755859375, -81.306616026167).
    """
    folder = shared_data / "varian_obi_cbct_catphan" / "dicom"
    vol = read_volume(folder)
    img = vol.image
    assert img.GetSize() == (512, 512, 64)
    assert img.GetSpacing() == pytest.approx((0.48828125, 0.48828125, 2.5), abs=1e-6)
    assert img.GetOrigin() == pytest.approx((-249.33355867696, -249.755859375, -81.306616026167))
    d = np.array(img.GetDirection()).reshape(3, 3)
    assert d[:, 0] == pytest.approx([0.99998629224743, 0.0, 0.00523596383142])
    assert d[:, 1] == pytest.approx([0.0, 1.0, 0.0])
    assert np.degrees(np.arctan2(d[2, 0], d[0, 0])) == pytest.approx(0.3, abs=1e-3)
    assert np.linalg.det(d) == pytest.approx(1.0)
    assert (vol.patient_position, vol.modality, vol.patient_id) == ("HFS", "CT", "ZZZOBIACB1")
    assert vol.frame_of_reference_uid == "1.2.246.352.63.3.5313384905400435381.16370633616182801067"
    assert any("RTSTRUCT×1" in w for w in vol.warnings)
    # First slice's pixels, independently: stored values + Rescale Intercept -1000 (slope 1).
    first = pydicom.dcmread(
        folder / "CT.1.2.246.352.63.1.4944091397862820697.1505531587839313321.dcm", force=True
    )
    assert int(first.InstanceNumber) == 0
    expected = first.pixel_array.astype(np.float32) - 1000.0
    assert np.array_equal(sitk.GetArrayViewFromImage(img)[0], expected)


def test_compressed_slices_are_decoded(ct, phantom):
    """RLE Lossless (pydicom's own codec): decoded through pixel_array, same values."""
    edit(ct, lambda k, ds: ds.compress(pydicom.uid.RLELossless), only={0, 5})
    assert pydicom.dcmread(sorted(ct.iterdir())[0]).file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    out = sitk.GetArrayFromImage(read_volume(ct).image)
    assert np.abs(out - sitk.GetArrayFromImage(phantom)).max() <= 0.5 + 1e-3
