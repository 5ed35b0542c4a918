"""Builders of small DICOM RTSTRUCT / RTDOSE files and in-memory doses for the dose tests.

The files are written with pydicom from the attributes the standard defines (PS3.3 C.8.8.3 RT Dose,
C.8.8.5/6 Structure Set and ROI Contour), so the readers are tested on real DICOM files.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from igrt.dose.model import Dose
from igrt.io.rtdose import RT_DOSE_CLASS
from igrt.io.rtstruct import RT_STRUCTURE_SET_CLASS

FOR_UID = "1.2.826.0.1.3680043.8.498.11.1"


def dicom_dataset(sop_class, modality, patient_id):
    """A new dataset with its file meta (Explicit VR Little Endian) and a fresh SOP Instance UID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient_id
    return ds


def write_rtstruct(path, rois, for_uid=FOR_UID, patient_id="DOSE"):
    """``rois``: [(name, [contour (N, 3) LPS arrays])]; closed planar contours, ROI numbers from 1."""
    ds = dicom_dataset(RT_STRUCTURE_SET_CLASS, "RTSTRUCT", patient_id)
    ref = Dataset()
    ref.FrameOfReferenceUID = for_uid
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref])
    ds.StructureSetROISequence = Sequence()
    ds.ROIContourSequence = Sequence()
    for number, (name, contours) in enumerate(rois, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ROIName = name
        roi.ReferencedFrameOfReferenceUID = for_uid
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ROIDisplayColor = [number * 10, 100, 200]
        item.ContourSequence = Sequence()
        for c in contours:
            contour = Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(c)
            contour.ContourData = [f"{v:.6f}" for v in np.asarray(c, float).ravel()]
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)
    return path


def rectangle(x0, x1, y0, y1, z):
    """Closed axial rectangle contour (4 corners, LPS mm)."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], float)


def box_contours(x0, x1, y0, y1, z_planes):
    """A box drawn as one rectangle on every plane of ``z_planes``."""
    return [rectangle(x0, x1, y0, y1, z) for z in z_planes]


def write_rtdose(
    path,
    gy,
    origin,
    spacing,
    *,
    offsets="relative",
    scaling=1e-4,
    for_uid=FOR_UID,
    summation="PLAN",
    plan_uid="1.2.3.4.5",
    units="GY",
    patient_id="DOSE",
):
    """Write ``gy`` ((z, y, x) Gy) as a 32-bit RTDOSE; ``offsets``: "relative", "absolute" or "descending"
    (the frames stored from the highest z down, with negative relative offsets); scaling None omits it."""
    ds = dicom_dataset(RT_DOSE_CLASS, "RTDOSE", patient_id)
    gy = np.asarray(gy, float)
    nz = gy.shape[0]
    z = np.asarray(origin[2], float) + np.arange(nz) * spacing[2]
    frames = gy
    first = np.asarray(origin, float)
    if offsets == "descending":
        frames = gy[::-1]
        first = np.array([origin[0], origin[1], z[-1]])
        vector = -(np.arange(nz) * spacing[2])
    elif offsets == "absolute":
        vector = z
    else:
        vector = np.arange(nz) * spacing[2]
    ds.FrameOfReferenceUID = for_uid
    ds.ImagePositionPatient = [f"{v:g}" for v in first]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [spacing[1], spacing[0]]
    ds.Rows, ds.Columns = gy.shape[1], gy.shape[2]
    ds.NumberOfFrames = nz
    ds.GridFrameOffsetVector = [f"{v:g}" for v in vector]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = units
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = summation
    s = 1e-4 if scaling is None else scaling
    if scaling is not None:
        ds.DoseGridScaling = f"{scaling:g}"
    ds.FrameIncrementPointer = 0x3004000C
    plan = Dataset()
    plan.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.5"
    plan.ReferencedSOPInstanceUID = plan_uid
    ds.ReferencedRTPlanSequence = Sequence([plan])
    ds.PixelData = np.round(frames / s).astype("<u4").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def make_dose(gy, origin=(0.0, 0.0, 0.0), spacing=(1.0, 1.0, 1.0), for_uid=FOR_UID) -> Dose:
    """An in-memory dose ((z, y, x) Gy array) on an axis-aligned grid."""
    image = sitk.GetImageFromArray(np.asarray(gy, np.float32))
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    return Dose(image=image, paths=["memory"], frame_of_reference_uid=for_uid, summation_type="PLAN")


def linear_x_dose(
    slope_gy_per_mm=0.1, offset_gy=10.0, n=(81, 61, 61), origin=(-40.0, -30.0, -30.0), spacing=1.0
):
    """Dose = offset + slope·x (LPS x, mm) on a grid of voxel size ``spacing``: exact under trilinear interpolation."""
    nx, ny, nz = n
    x = origin[0] + np.arange(nx) * spacing
    gy = np.broadcast_to(offset_gy + slope_gy_per_mm * x, (nz, ny, nx))
    return make_dose(gy, origin, (spacing,) * 3)
