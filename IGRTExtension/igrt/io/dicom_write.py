"""Write a volume as a DICOM CT Image series: the bundled phantom's planning CT and the tests' bad inputs.

The series is what a CT scanner or an OBI CBCT would export: one single-frame CT Image Storage file
per slice, int16 pixels with Rescale Slope/Intercept to HU (PS3.3 C.8.2.1), every Type 1 and Type 2
attribute of the CT Image IOD (PS3.3 A.3), geometry per PS3.3 C.7.6.2.1.1. It is written into a
temporary sibling folder and renamed, so a reader never sees half a series (docs/CONVENTIONS.md §4).
"""

from __future__ import annotations

import datetime
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from igrt import __version__
from igrt.errors import IGRTInputError
from igrt.patient_position import SUPPORTED as SUPPORTED_POSITIONS

IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1459.1"  # under pydicom's root, fixed for the project
PATIENT_POSITIONS = set(SUPPORTED_POSITIONS)


def rescale_for(values: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) storing ``values`` in int16: slope 1 (lossless to 0.5 HU) whenever the range fits.

    Stored value s gives HU = slope·s + intercept (PS3.3 C.11.1.1.2).
    """
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 65534.0:
        if lo >= -32767.0 - 1024.0 and hi <= 32766.0 - 1024.0:
            return 1.0, -1024.0  # the usual CT convention
        return 1.0, float(np.floor((lo + hi) / 2.0))
    return (hi - lo) / 65534.0, (lo + hi) / 2.0


def write_image_series(
    image: sitk.Image,
    folder,
    *,
    modality: str = "CT",
    patient_id: str = "IGRT-PHANTOM",
    patient_name: str = "IGRT^PHANTOM",
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    patient_position: str = "HFS",
    series_description: str = "IGRTExtension synthetic CT",
) -> Path:
    """Write ``image`` (3-D scalar, LPS geometry) as a CT series into the new folder ``folder``.

    ``folder`` must not exist or be empty. A CBCT is also written as CT Image Storage (what OBI and
    XVI export). Returns the folder.
    """
    if modality != "CT":
        raise ValueError(f"only CT Image Storage is written, not modality {modality!r}")
    if patient_position not in PATIENT_POSITIONS:
        raise ValueError(f"unknown patient position {patient_position!r}")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("write_image_series needs a 3-D scalar image")
    values = sitk.GetArrayViewFromImage(image)  # z, y, x
    if not np.isfinite(values.min()) or not np.isfinite(values.max()):
        raise ValueError("image has non-finite values")
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise IGRTInputError(f"output folder {folder} already exists and is not empty")
    slope, intercept = rescale_for(values)

    common = _series_dataset(
        image,
        patient_id=patient_id,
        patient_name=patient_name,
        study_uid=study_uid or generate_uid(),
        series_uid=series_uid or generate_uid(),
        frame_of_reference_uid=frame_of_reference_uid or generate_uid(),
        patient_position=patient_position,
        series_description=series_description,
        slope=slope,
        intercept=intercept,
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.mkdir()
    try:
        for k in range(values.shape[0]):
            stored = np.clip(np.rint((values[k].astype(np.float64) - intercept) / slope), -32768, 32767)
            _write_slice(common, image, stored.astype("<i2"), k, tmp / f"CT_{k + 1:04d}.dcm")
        if folder.exists():
            folder.rmdir()
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _series_dataset(image: sitk.Image, **kw) -> pydicom.Dataset:
    """Attributes shared by every slice (Patient, Study, Series, FoR, Equipment, Image Pixel, CT Image)."""
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    sx, sy, sz = image.GetSpacing()
    d = np.asarray(image.GetDirection(), float).reshape(3, 3)
    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "IGRTExtension"
    ds.ReferringPhysicianName = ""
    ds.Laterality = ""  # Type 2C in General Series; empty: not a paired body part
    ds.SeriesDescription = kw["series_description"]
    ds.PatientName = kw["patient_name"]
    ds.PatientID = kw["patient_id"]
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.SliceThickness = _ds(sz)
    ds.KVP = ""
    ds.SoftwareVersions = f"IGRTExtension {__version__}"
    ds.PatientPosition = kw["patient_position"]
    ds.StudyInstanceUID = kw["study_uid"]
    ds.SeriesInstanceUID = kw["series_uid"]
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.AcquisitionNumber = 1
    # PS3.3 C.7.6.2.1.1: row cosines = direction of the first (column index) axis, column cosines
    # = direction of the second (row index) axis; here the image's first two direction columns.
    ds.ImageOrientationPatient = [_ds(v) for v in np.concatenate([d[:, 0], d[:, 1]])]
    ds.FrameOfReferenceUID = kw["frame_of_reference_uid"]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = image.GetSize()[1], image.GetSize()[0]
    # PS3.3 10.7.1.3: Pixel Spacing is (spacing between rows, spacing between columns) = (sy, sx).
    ds.PixelSpacing = [_ds(sy), _ds(sx)]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.RescaleIntercept = _ds(kw["intercept"])
    ds.RescaleSlope = _ds(kw["slope"])
    ds.RescaleType = "HU"
    return ds


def _write_slice(common: pydicom.Dataset, image: sitk.Image, pixels: np.ndarray, k: int, path: Path):
    """One slice k: its position is the physical point of voxel (0, 0, k) (PS3.3 C.7.6.2.1.1)."""
    ds = pydicom.Dataset()
    ds.update(common)
    sop_uid = generate_uid()
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = k + 1
    position = np.asarray(image.TransformIndexToPhysicalPoint((0, 0, k)), float)
    ds.ImagePositionPatient = [_ds(v) for v in position]
    normal = np.cross(ds.ImageOrientationPatient[:3], ds.ImageOrientationPatient[3:])
    ds.SliceLocation = _ds(float(position @ normal))
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"IGRT_{__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.save_as(path, enforce_file_format=True)


def _ds(value: float) -> str:
    """A Decimal String of at most 16 characters (PS3.5 6.2 DS) keeping as many digits as fit."""
    for digits in range(10, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot encode {value} as DS")
