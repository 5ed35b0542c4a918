"""A DICOM REG as another system may write it (no private block, matrices as given): for the REG tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from igrt.io.reg import REG_CLASS

CT = "1.2.840.10008.5.1.4.1.1.2"


def write_foreign_reg(path, items, registered, patient="P7") -> Path:
    """Items (frame UID, 4×4 matrix to the Registered RCS, referenced series UID or None) in file order;
    ``registered``: the REG's own Frame of Reference UID (its Registered RCS)."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = REG_CLASS, generate_uid()
    ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = patient, generate_uid(), generate_uid()
    ds.Modality, ds.FrameOfReferenceUID = "REG", registered
    seq, series_seq = [], []
    for frame, matrix, series in items:
        item, mr, mi = Dataset(), Dataset(), Dataset()
        item.FrameOfReferenceUID = frame
        if series:
            uid = generate_uid()
            ref = Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CT, uid
            item.ReferencedImageSequence = [ref]
            s = Dataset()
            s.SeriesInstanceUID = series
            inst = Dataset()
            inst.ReferencedSOPClassUID, inst.ReferencedSOPInstanceUID = CT, uid
            s.ReferencedInstanceSequence = [inst]
            series_seq.append(s)
        mi.FrameOfReferenceTransformationMatrixType = "RIGID"
        mi.FrameOfReferenceTransformationMatrix = [f"{v:.10f}" for v in np.ravel(matrix)]
        mr.MatrixSequence = [mi]
        item.MatrixRegistrationSequence = [mr]
        seq.append(item)
    ds.RegistrationSequence = seq
    if series_seq:
        ds.ReferencedSeriesSequence = series_seq
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = REG_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return Path(path)
