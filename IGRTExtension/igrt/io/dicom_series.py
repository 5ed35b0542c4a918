"""Read one DICOM image series from a folder into a float32 LPS volume, refusing anything ambiguous.

Headers are scanned first (without pixels) so that a folder holding an RT structure set, a plan or
a second series is sorted out before any pixel is decoded. Geometry: :mod:`.dicom_geometry`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from igrt.errors import IGRTInputError
from igrt.io.dicom_geometry import SliceGeometry, series_grid
from igrt.patient_position import DICOM_DEFINED_TERMS
from igrt.volume import Volume

#: Single-frame cross-sectional image storage classes read as volumes (PS3.4 B.5).
IMAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT",  # CT Image Storage (also OBI/XVI cone-beam CT)
    "1.2.840.10008.5.1.4.1.1.4": "MR",  # MR Image Storage
}
#: Multi-frame (enhanced) classes: refused with a clear message rather than ignored.
MULTIFRAME_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR",
}
PATIENT_POSITIONS = set(DICOM_DEFINED_TERMS)
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")  # files named so must be readable DICOM
REQUIRED = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns")
#: Image Pixel module attributes (PS3.3 C.7.6.3, Type 1) without which stored values cannot be decoded:
#: how many bits each holds and whether they are signed.
PIXEL_REQUIRED = ("BitsAllocated", "PixelRepresentation")


@dataclass
class _Header:
    path: Path
    ds: pydicom.Dataset
    forced: bool


def read_dicom_series(folder: Path) -> Volume:
    """The one image series in ``folder`` (not its subfolders) as a :class:`Volume`."""
    headers, ignored = _scan(folder)
    if not headers:
        raise IGRTInputError(_no_image_message(folder, ignored))
    where = f"DICOM series in {folder}"
    for h in headers:
        _check_image_header(h, where)
    _check_one_patient(headers, folder)
    _check_one_series(headers, folder)
    _check_same(headers, "FrameOfReferenceUID", "frames of reference", where)
    _check_same(headers, "PatientPosition", "patient positions", where)
    grid = series_grid([_slice_geometry(h) for h in headers], where)
    ordered = [headers[i] for i in grid.order]
    image = sitk.GetImageFromArray(_load_pixels(ordered), isVector=False)
    image.SetOrigin([float(v) for v in grid.origin])
    image.SetSpacing([float(v) for v in grid.spacing])
    image.SetDirection([float(v) for v in grid.direction.ravel()])
    ds = ordered[0].ds
    notes = []
    if ignored:
        what = ", ".join(f"{k}×{n}" for k, n in sorted(ignored.items()))
        notes.append(f"{folder}: ignored files that are not images of the series ({what})")
    position = str(ds.get("PatientPosition", "") or "").strip().upper() or None
    if position is not None and position not in PATIENT_POSITIONS:
        notes.append(f"{folder}: unknown Patient Position {position!r} ignored")
        position = None
    return Volume(
        image=image,
        path=str(folder),
        modality=_text(ds, "Modality"),
        patient_id=_text(ds, "PatientID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        patient_position=position,
        warnings=notes,
    )


def _scan(folder: Path) -> tuple[list[_Header], Counter]:
    """Headers of the image files; a count of everything else by kind (RTSTRUCT, non-DICOM, ...)."""
    headers, ignored = [], Counter()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        kind = _dicom_kind(path)
        if kind is None and path.suffix.lower() in DICOM_SUFFIXES:
            raise IGRTInputError(f"{path}: corrupt or truncated DICOM file (no DICOM header)")
        if kind is None:
            ignored["non-DICOM"] += 1
            continue
        forced = kind == "raw"
        try:
            ds = _dcmread(path, stop_before_pixels=True, force=forced)
        except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as e:
            raise IGRTInputError(f"{path}: corrupt or truncated DICOM file ({_one_line(e)})") from e
        sop_class = _sop_class(ds)
        if sop_class in IMAGE_CLASSES:
            headers.append(_Header(path, ds, forced))
        elif sop_class in MULTIFRAME_CLASSES:
            raise IGRTInputError(
                f"{path}: {MULTIFRAME_CLASSES[sop_class]} multi-frame images are not supported; "
                "export the series as single-frame images"
            )
        elif sop_class is None and kind == "dicom":
            raise IGRTInputError(f"{path}: corrupt or truncated DICOM file (no SOP Class UID)")
        elif sop_class is None:
            ignored["non-DICOM"] += 1
        else:
            ignored[str(ds.get("Modality", "") or "") or pydicom.uid.UID(sop_class).name] += 1
    return headers, ignored


def _dcmread(path: Path, **kw) -> pydicom.Dataset:
    """dcmread without pydicom's warnings: what matters is raised as one line (docs/CONVENTIONS.md §4)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kw)


def _dicom_kind(path: Path) -> str | None:
    """'dicom' (Part 10 file with preamble), 'raw' (a bare data set, read with force) or None."""
    with open(path, "rb") as f:
        head = f.read(132)
    if len(head) == 132 and head[128:] == b"DICM":
        return "dicom"
    # A bare little-endian data set starts with a group 0002 or 0008 element (PS3.5 7.1).
    if len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00"):
        return "raw"
    return None


def _sop_class(ds: pydicom.Dataset) -> str | None:
    uid = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
    return str(uid) if uid else None


def _no_image_message(folder: Path, ignored: Counter) -> str:
    if not ignored:
        sub = any(p.is_dir() for p in folder.iterdir())
        hint = " (it has subfolders: give the folder that holds the slices)" if sub else ""
        return f"{folder} is empty: no DICOM image files{hint}"
    what = ", ".join(f"{k}×{n}" for k, n in sorted(ignored.items()))
    return f"{folder} holds no CT or MR image series (found {what})"


def _check_one_patient(headers: list[_Header], folder: Path) -> None:
    ids = Counter(str(h.ds.get("PatientID", "") or "").strip() for h in headers)
    if len(ids) > 1:
        what = ", ".join(f"{k!r} ({n} files)" for k, n in ids.most_common())
        raise IGRTInputError(f"{folder} mixes images of different patients: {what}")


def _check_one_series(headers: list[_Header], folder: Path) -> None:
    series = Counter(str(h.ds.get("SeriesInstanceUID", "")) for h in headers)
    if len(series) > 1:
        desc = {str(h.ds.get("SeriesInstanceUID", "")): _text(h.ds, "SeriesDescription") for h in headers}
        what = "; ".join(
            f"{uid} {desc[uid] or '(no description)'!r} ({n} files)" for uid, n in series.most_common()
        )
        raise IGRTInputError(f"{folder} holds {len(series)} image series, give a folder with one: {what}")


def _check_image_header(h: _Header, where: str) -> None:
    ds = h.ds
    missing = [k for k in REQUIRED + PIXEL_REQUIRED if k not in ds or ds[k].value in (None, "")]
    if missing:
        raise IGRTInputError(f"{h.path}: truncated or incomplete image file (no {', '.join(missing)})")
    if _number(ds, "NumberOfFrames", h.path, 1) != 1:
        raise IGRTInputError(f"{h.path}: multi-frame images are not supported in {where}")
    if _number(ds, "SamplesPerPixel", h.path, 1) != 1:
        raise IGRTInputError(f"{h.path}: colour images are not supported in {where}")
    bits = _number(ds, "BitsAllocated", h.path)
    stored = _number(ds, "BitsStored", h.path, bits)
    if (
        bits not in (8, 16, 32)
        or not 1 <= stored <= bits
        or _number(ds, "PixelRepresentation", h.path) not in (0, 1)
    ):
        raise IGRTInputError(
            f"{h.path}: unsupported pixel format (BitsAllocated {bits}, BitsStored {stored}, PixelRepresentation "
            f"{ds.get('PixelRepresentation')}): a CT or MR slice has 8, 16 or 32 bits, signed (1) or not (0)"
        )
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        _number(ds, keyword, h.path, 0.0, float)


def _number(ds: pydicom.Dataset, keyword: str, path: Path, default=None, kind=int):
    """``ds.keyword`` as an int (or ``kind``), ``default`` when absent or empty; one line when unreadable."""
    value = ds.get(keyword)
    if value is None or value == "":
        if default is None:
            raise IGRTInputError(f"{path}: truncated or incomplete image file (no {keyword})")
        return default
    try:
        out = kind(value)
    except (TypeError, ValueError) as e:
        raise IGRTInputError(f"{path}: {keyword} {str(value)[:30]!r} is not a number") from e
    if kind is float and not np.isfinite(out):
        raise IGRTInputError(f"{path}: {keyword} {value} is not a finite number")
    return out


def _check_same(headers: list[_Header], keyword: str, what: str, where: str) -> None:
    values = Counter(str(h.ds.get(keyword, "") or "").strip() for h in headers)
    if len(values) > 1:
        raise IGRTInputError(f"{where}: slices have different {what}: {', '.join(map(repr, values))}")


def _slice_geometry(h: _Header) -> SliceGeometry:
    ds = h.ds
    try:
        return SliceGeometry(
            name=h.path.name,
            position=np.array([float(v) for v in ds.ImagePositionPatient]),
            orientation=np.array([float(v) for v in ds.ImageOrientationPatient]),
            pixel_spacing=np.array([float(v) for v in ds.PixelSpacing]),
            rows=int(ds.Rows),
            columns=int(ds.Columns),
        )
    except (TypeError, ValueError) as e:
        raise IGRTInputError(f"{h.path}: unreadable image geometry ({_one_line(e)})") from e


def _load_pixels(headers: list[_Header]) -> np.ndarray:
    """Slices in order, as float32 values = slope·stored + intercept, per slice (PS3.3 C.11.1.1.2)."""
    first = headers[0].ds
    out = np.empty((len(headers), int(first.Rows), int(first.Columns)), np.float32)
    for k, h in enumerate(headers):
        try:
            ds = _dcmread(h.path, force=h.forced)
        except (InvalidDicomError, EOFError, ValueError, OSError) as e:
            raise IGRTInputError(f"{h.path}: corrupt or truncated DICOM file ({_one_line(e)})") from e
        stored = _stored_values(ds, h.path)
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        np.multiply(stored, np.float32(slope), out=out[k], casting="unsafe")
        out[k] += np.float32(intercept)
    return out


def _stored_values(ds: pydicom.Dataset, path: Path) -> np.ndarray:
    """Stored pixel values of one slice; uncompressed little-endian data straight from the buffer."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    if "PixelData" not in ds:
        raise IGRTInputError(f"{path}: no pixel data (truncated file?)")
    meta = getattr(ds, "file_meta", None)
    syntax = (
        meta.get("TransferSyntaxUID") if meta is not None else None
    ) or pydicom.uid.ImplicitVRLittleEndian
    bits, stored_bits = int(ds.BitsAllocated), int(ds.get("BitsStored", ds.BitsAllocated))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    native = not syntax.is_compressed and syntax.is_little_endian and bits in (8, 16, 32)
    if native and (stored_bits == bits or not signed):
        need = rows * cols * bits // 8
        if len(ds.PixelData) < need:
            raise IGRTInputError(
                f"{path}: truncated pixel data ({len(ds.PixelData)} of {need} bytes): corrupt or incomplete file"
            )
        dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
        return np.frombuffer(ds.PixelData, dtype, count=rows * cols).reshape(rows, cols)
    try:
        return ds.pixel_array.reshape(rows, cols)
    except Exception as e:  # decoders raise many types; any of them means we cannot use the file
        raise IGRTInputError(f"{path}: cannot decode pixel data ({syntax.name}): {_one_line(e)}") from e


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    value = str(ds.get(keyword, "") or "").strip()
    return value or None


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:200] if text else type(e).__name__
