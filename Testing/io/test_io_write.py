"""The DICOM CT writer: a valid CT Image IOD, atomic, and read back to the same LPS geometry and values."""

from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from igrt.errors import IGRTInputError
from igrt.io.dicom_write import write_image_series
from igrt.io.volumes import read_volume


def small_image(direction=None) -> sitk.Image:
    """4×3×5 voxels, spacing (0.5, 0.8, 2.0) mm, origin (-10, 20, 30) LPS, values 10·index + noise."""
    a = np.arange(60, dtype=np.float32).reshape(5, 3, 4) * 10.0 - 300.0
    a += np.random.default_rng(3).uniform(-0.4, 0.4, a.shape).astype(np.float32)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing((0.5, 0.8, 2.0))
    img.SetOrigin((-10.0, 20.0, 30.0))
    if direction is not None:
        img.SetDirection([float(v) for v in np.asarray(direction, float).ravel()])
    return img


# Rotation by 90° about z: image x axis along LPS +y, image y axis along LPS -x, slices along +z.
ROT90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_dciodvfy_finds_no_error(tmp_path):
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    folder = write_image_series(small_image(), tmp_path / "ct")
    first = sorted(folder.iterdir())[0]
    run = subprocess.run([dciodvfy, str(first)], capture_output=True, text=True, timeout=60)
    report = run.stdout + run.stderr
    assert "CTImage" in report
    errors = [ln for ln in report.splitlines() if ln.startswith("Error")]
    assert errors == [], report


def test_round_trip_hand_checked_voxel(tmp_path):
    img = small_image(ROT90)
    folder = write_image_series(img, tmp_path / "ct", patient_id="P1", patient_position="FFS")
    files = sorted(folder.iterdir())
    assert len(files) == 5
    # Slice k=3 by hand (PS3.3 C.7.6.2.1.1): position = origin + 3·2.0·(0, 0, 1) = (-10, 20, 36);
    # orientation = image x axis (0, 1, 0) then image y axis (-1, 0, 0).
    ds = pydicom.dcmread(files[3])
    assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx([-10.0, 20.0, 36.0])
    assert [float(v) for v in ds.ImageOrientationPatient] == pytest.approx([0, 1, 0, -1, 0, 0])
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([0.8, 0.5])  # (row spacing, column spacing)
    vol = read_volume(folder)
    out = vol.image
    assert out.GetSize() == (4, 3, 5)
    assert out.GetSpacing() == pytest.approx((0.5, 0.8, 2.0))
    assert out.GetOrigin() == pytest.approx((-10.0, 20.0, 30.0))
    assert out.GetDirection() == pytest.approx(tuple(ROT90.ravel()))
    # Voxel (i, j, k) = (2, 1, 3) by hand: origin + 2·0.5·(0, 1, 0) + 1·0.8·(-1, 0, 0) + 3·2.0·(0, 0, 1).
    assert out.TransformIndexToPhysicalPoint((2, 1, 3)) == pytest.approx((-10.8, 21.0, 36.0))
    assert out.GetPixel(2, 1, 3) == pytest.approx(img.GetPixel(2, 1, 3), abs=0.5)
    diff = sitk.GetArrayFromImage(out) - sitk.GetArrayFromImage(img)
    assert np.abs(diff).max() <= 0.5 + 1e-4  # slope 1: rounding to the nearest integer HU
    assert out.GetPixelID() == sitk.sitkFloat32
    assert (vol.modality, vol.patient_id, vol.patient_position) == ("CT", "P1", "FFS")
    assert vol.series_uid == str(ds.SeriesInstanceUID)
    assert vol.frame_of_reference_uid == str(ds.FrameOfReferenceUID)


def test_left_handed_grid_reads_back_at_the_same_points(tmp_path):
    """Slices stored head to foot: the reader re-sorts along row×column, the anatomy stays put."""
    flip = np.diag([1.0, 1.0, -1.0])
    img = small_image(flip)
    out = read_volume(write_image_series(img, tmp_path / "ct")).image
    assert out.GetDirection() == pytest.approx(tuple(np.eye(3).ravel()))
    # Voxel (1, 2, 4) of the input is at (-10 + 0.5, 20 + 1.6, 30 - 8) = (-9.5, 21.6, 22.0) by hand.
    p = img.TransformIndexToPhysicalPoint((1, 2, 4))
    assert p == pytest.approx((-9.5, 21.6, 22.0))
    idx = out.TransformPhysicalPointToIndex(p)
    assert idx == (1, 2, 0)
    assert out.GetPixel(*idx) == pytest.approx(img.GetPixel(1, 2, 4), abs=0.5)


def test_wide_range_uses_a_slope(tmp_path):
    img = small_image()
    a = sitk.GetArrayFromImage(img) * 400.0  # range ±1e5: does not fit int16 at slope 1
    big = sitk.GetImageFromArray(a)
    big.CopyInformation(img)
    out = read_volume(write_image_series(big, tmp_path / "ct")).image
    slope = float(pydicom.dcmread(sorted((tmp_path / "ct").iterdir())[0]).RescaleSlope)
    assert slope > 1
    assert np.abs(sitk.GetArrayFromImage(out) - a).max() <= slope / 2 + 1e-3 * slope


def test_writes_atomically_and_never_over_a_series(tmp_path):
    folder = write_image_series(small_image(), tmp_path / "ct")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct"]  # no temporary folder left
    with pytest.raises(IGRTInputError, match="not empty"):
        write_image_series(small_image(), folder)
    (tmp_path / "empty").mkdir()
    write_image_series(small_image(), tmp_path / "empty")
    assert len(list((tmp_path / "empty").iterdir())) == 5


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from igrt.io import dicom_write

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(dicom_write, "_write_slice", boom)
    with pytest.raises(OSError):
        write_image_series(small_image(), tmp_path / "ct")
    assert list(tmp_path.iterdir()) == []


def test_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError):
        write_image_series(small_image(), tmp_path / "a", modality="MR")
    with pytest.raises(ValueError):
        write_image_series(small_image(), tmp_path / "b", patient_position="XYZ")
    flat = sitk.Image(4, 4, sitk.sitkFloat32)
    with pytest.raises(ValueError):
        write_image_series(flat, tmp_path / "c")


@settings(max_examples=20, deadline=None)
@given(
    angles=st.tuples(*[st.floats(-180, 180)] * 3),
    spacing=st.tuples(*[st.floats(0.3, 5.0)] * 3),
    origin=st.tuples(*[st.floats(-500, 500)] * 3),
)
def test_any_orthonormal_grid_round_trips(tmp_path_factory, angles, spacing, origin):
    """Whatever the orientation (oblique, sagittal, flipped), every voxel comes back at the same LPS point."""
    from igrt.geometry import rotation_xyz_deg

    img = small_image(rotation_xyz_deg(*angles))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    out = read_volume(write_image_series(img, tmp_path_factory.mktemp("g") / "ct")).image
    for index in [(0, 0, 0), (3, 2, 4), (1, 2, 3)]:
        p = img.TransformIndexToPhysicalPoint(index)
        back = out.TransformPhysicalPointToContinuousIndex(p)
        assert np.allclose(back, np.rint(back), atol=1e-3)
        q = out.TransformIndexToPhysicalPoint([int(v) for v in np.rint(back)])
        assert np.allclose(q, p, atol=1e-3)
        assert out.GetPixel(*[int(v) for v in np.rint(back)]) == pytest.approx(img.GetPixel(*index), abs=0.5)


def test_read_time_of_a_512x512x120_series(tmp_path):
    """The match must take < 3 s with reading; reading a 512²×120 CT series must stay well under 1 s."""
    a = np.random.default_rng(0).normal(0.0, 300.0, (120, 512, 512)).astype(np.float32)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing((0.9, 0.9, 2.0))
    folder = write_image_series(img, tmp_path / "ct")
    read_volume(folder)  # warm the page cache, as a clinic's fresh export would be
    t0 = time.perf_counter()
    out = read_volume(folder)
    elapsed = time.perf_counter() - t0
    assert out.image.GetSize() == (512, 512, 120)
    assert elapsed < 1.5, f"reading took {elapsed:.2f} s"
