"""RT Dose reading: the real Pinnacle RTDOSE, written files in every Grid Frame Offset form, sums, refusals.

Expected values of the real file are read again here with pydicom, independently of the reader.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dose_fixtures import FOR_UID, write_rtdose

from igrt.errors import IGRTInputError
from igrt.io.dose import read_dose
from igrt.io.rtdose import read_rtdose

PINNACLE_DOSE = "pinnacle_breast_rt/rtdose.dcm"


def test_pinnacle_rtdose(shared_data):
    path = shared_data / PINNACLE_DOSE
    dose = read_rtdose(path)
    ds = pydicom.dcmread(path)
    raw = ds.pixel_array  # (frames, rows, columns), frames at GridFrameOffsetVector 0, 3, …, 291 mm
    assert dose.image.GetSize() == (194, 129, 98)
    assert dose.image.GetSpacing() == pytest.approx((2.5, 2.5, 3.0))
    assert dose.image.GetOrigin() == pytest.approx((-228.6541915, -419.2444776, -122.4407))
    a = dose.array()
    assert a.max() == pytest.approx(raw.max() * 1.4e-5, rel=1e-6)  # 14.68 Gy
    k, j, i = 40, 60, 100
    assert a[k, j, i] == pytest.approx(raw[k, j, i] * 1.4e-5, rel=1e-6)
    point = dose.image.TransformIndexToPhysicalPoint((i, j, k))
    assert point == pytest.approx((-228.6541915 + 250.0, -419.2444776 + 150.0, -122.4407 + 120.0))
    assert (dose.units, dose.summation_type, dose.dose_type) == ("GY", "PLAN", "PHYSICAL")
    assert dose.frame_of_reference_uid == "2.16.840.1.113662.2.12.0.3057.1241703565.36"
    assert dose.referenced_plan_uid == "1.2.246.352.71.5.320687012.24189.20090603083342"


def _ramp():
    z, y, x = np.meshgrid(np.arange(5), np.arange(4), np.arange(6), indexing="ij")
    return 1.0 + 2.0 * z + 0.5 * y + 0.25 * x  # Gy, distinct per frame


@pytest.mark.parametrize("offsets", ["relative", "absolute", "descending"])
def test_grid_frame_offset_forms_give_the_same_grid(tmp_path, offsets):
    """PS3.3 C.8.8.3.2: relative offsets (first 0), absolute z (axial grids), or frames stored top down."""
    gy = _ramp()
    path = write_rtdose(tmp_path / "RD.dcm", gy, (10.0, -20.0, 30.0), (2.0, 3.0, 2.5), offsets=offsets)
    dose = read_rtdose(path)
    assert dose.image.GetOrigin() == pytest.approx((10.0, -20.0, 30.0))
    assert dose.image.GetSpacing() == pytest.approx((2.0, 3.0, 2.5))
    np.testing.assert_allclose(dose.array(), gy, atol=1e-4)  # stored in steps of the 1e-4 scaling


def test_refusals_are_one_line(tmp_path):
    gy = _ramp()
    cases = {
        "without Dose Grid Scaling": dict(scaling=None),
        "Dose Units 'CGY'": dict(units="CGY"),
    }
    for message, kwargs in cases.items():
        path = write_rtdose(tmp_path / "bad.dcm", gy, (0, 0, 0), (1, 1, 2), **kwargs)
        with pytest.raises(IGRTInputError, match=message) as err:
            read_dose(path)
        assert "\n" not in str(err.value)
    path = write_rtdose(tmp_path / "gap.dcm", gy, (0, 0, 0), (1, 1, 2))
    ds = pydicom.dcmread(path)
    ds.GridFrameOffsetVector = [0, 2, 4, 8, 10]  # a missing frame
    ds.save_as(path)
    with pytest.raises(IGRTInputError, match="non-uniform slice spacing"):
        read_dose(path)
    ds.GridFrameOffsetVector = [5, 7, 9, 11, 13]  # neither relative nor the z of Image Position
    ds.save_as(path)
    with pytest.raises(IGRTInputError, match="neither 0"):
        read_dose(path)
    with pytest.raises(IGRTInputError, match="is not an RT dose"):
        read_dose(_ct(tmp_path))


def _ct(tmp_path):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_summing_beam_doses_of_one_plan(tmp_path):
    a, b = _ramp(), 2.0 * _ramp()[::-1]
    pa = write_rtdose(tmp_path / "beam1.dcm", a, (0, 0, 0), (1, 1, 2), summation="BEAM")
    pb = write_rtdose(tmp_path / "beam2.dcm", b, (0, 0, 0), (1, 1, 2), summation="BEAM")
    with pytest.raises(IGRTInputError, match="ask for their sum"):
        read_dose([pa, pb])
    total = read_dose([pa, pb], sum_doses=True)
    np.testing.assert_allclose(total.array(), a + b, atol=2e-4)
    assert total.summation_type == "PLAN" and len(total.paths) == 2
    with pytest.raises(IGRTInputError, match="given twice"):
        read_dose([pa, pa], sum_doses=True)
    p1 = write_rtdose(tmp_path / "plan1.dcm", a, (0, 0, 0), (1, 1, 2))
    p2 = write_rtdose(tmp_path / "plan2.dcm", a, (0, 0, 0), (1, 1, 2))
    with pytest.raises(IGRTInputError, match="only its per-beam"):
        read_dose([p1, p2], sum_doses=True)
    other = write_rtdose(
        tmp_path / "other.dcm", a, (0, 0, 0), (1, 1, 2), summation="BEAM", for_uid=FOR_UID + ".9"
    )
    with pytest.raises(IGRTInputError, match="different frames of reference"):
        read_dose([pa, other], sum_doses=True)
    shifted = write_rtdose(tmp_path / "beam3.dcm", a, (1, 0, 0), (1, 1, 2), summation="BEAM")
    moved = read_dose([pa, shifted], sum_doses=True)  # another grid: resampled, and said so
    assert any("resampled" in w for w in moved.warnings)
    np.testing.assert_allclose(moved.array()[:, :, 2], a[:, :, 2] + a[:, :, 1], atol=2e-4)


def test_dose_volume_files(tmp_path):
    image = sitk.GetImageFromArray(_ramp().astype(np.float32))
    sitk.WriteImage(image, str(tmp_path / "dose.nrrd"))
    dose = read_dose(tmp_path / "dose.nrrd")
    assert dose.units == "GY" and "taken as Gy" in dose.warnings[0]
    np.testing.assert_allclose(dose.array(), _ramp(), atol=1e-6)
    bad = _ramp().astype(np.float32)
    bad[2, 2, 2] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(bad), str(tmp_path / "nan.mha"))
    with pytest.raises(IGRTInputError, match="1 NaN or infinite values"):
        read_dose(tmp_path / "nan.mha")
    sitk.WriteImage(sitk.GetImageFromArray(-bad), str(tmp_path / "neg.nii.gz"))
    with pytest.raises(IGRTInputError):
        read_dose(tmp_path / "neg.nii.gz")


def test_relative_dose_is_said_in_words(tmp_path):
    from dose_fixtures import box_contours, write_rtstruct

    from igrt.dose.workflow import dvh_document

    gy = np.full((6, 12, 12), 0.8)
    dose = write_rtdose(tmp_path / "RD.dcm", gy, (0, 0, 0), (1, 1, 2), units="RELATIVE")
    rs = write_rtstruct(tmp_path / "RS.dcm", [("PTV", box_contours(2, 8, 2, 8, [2.0, 4.0, 6.0]))])
    doc = dvh_document(dose, rs)
    assert doc["dose"]["units"] == "RELATIVE"
    assert doc["structures"][0]["metrics"]["mean_gy"] == pytest.approx(0.8, abs=1e-4)
    assert any("RELATIVE" in w and "not Gy" in w for w in doc["warnings"])
