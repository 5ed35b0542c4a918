"""Reading one DICOM object file (RT Plan, RT Structure Set, ...) with one clear line when it cannot be."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from igrt.errors import IGRTInputError


def read_dicom_object(path, kind: str) -> pydicom.Dataset:
    """The whole dataset of ``path``; ``kind`` ("RT plan", ...) names it in the error when it is no file
    or not readable DICOM. Whether it is the right kind of object is the caller's check."""
    p = Path(path)
    if not p.is_file():
        raise IGRTInputError(f"{kind} {p} does not exist or is not a file")
    try:
        with warnings.catch_warnings():  # what matters is raised as one line
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(p, force=True)
        ds.get("SOPClassUID")
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as e:
        raise IGRTInputError(f"{p} is not a readable DICOM file ({' '.join(str(e).split())[:200]})") from e
    return ds
