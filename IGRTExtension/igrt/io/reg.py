"""DICOM Spatial Registration (REG, PS3.3 A.39.1) export and import of a registration result.

Direction (the one thing that must never drift). PS3.3 C.20.2: each Registration Sequence item
"defines a spatial registration of the images referenced in that Item to the Registered RCS established
by this SOP Instance", and its Matrix Sequence "registers the Source RCS/images to the Registered RCS";
C.20.2.1.1 (Eq. C.20.2-1): the Frame of Reference Transformation Matrix A_M_B takes a point (Bx,By,Bz)
of the item's frame B into (Ax,Ay,Az) of the Registered RCS A. (PS3.17 Annex O: the Deformable REG has
the opposite sense; that difference is where inverted exports come from, SlicerRT issue 108.)

So the REG we write has the planning frame as its Registered RCS (its Frame of Reference UID); item 1
is the planning (fixed) frame with the identity; item 2 is the daily (moving) frame with
``T = daily → planning``: it takes a daily-frame coordinate of an anatomical point to the planning
coordinate of the same point. With the result ``M`` (docs/CONVENTIONS.md) a planned point q is at the daily
coordinate ``A(q) = M(q) - planning_iso + daily_iso`` (shared frame: ``A = M``), hence ``T = A⁻¹``.
Example: patient displaced 5 mm to the left (LPS +x) in a shared frame: M translates by +5 mm in x,
the REG's moving matrix translates by -5 mm in x.

SlicerRT (DicomSroImportExport, ``vtkSlicerDicomSroReader::LoadSpatialRegistration``) multiplies the
matrices of all items, converts LPS→RAS and sets the product as the *to-parent* transform applied to
the moving image; plastimatch's ``Dcmtk_sro::save`` (SlicerRT's REG exporter) writes the same layout
(fixed identity first, moving second, REG in the fixed image's study). The node SlicerRT makes from our
file is therefore ``F·A⁻¹·F``, what ``igrt.mrml.transforms`` builds: same direction, not inverted.
SlicerRT applies it automatically only to a referenced series of a *different* study found in the
top-level Referenced Series Sequence; we follow PS3.3 C.12.2 (series of other studies go under Studies
Containing Other Referenced Instances), so in Slicer the user may have to apply the node by hand.
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import validate_value

from igrt import __version__, geometry, patient_position
from igrt.errors import IGRTInputError
from igrt.io.dicom_write import IMPLEMENTATION_UID
from igrt.result import atomic_write

REG_CLASS = "1.2.840.10008.5.1.4.1.1.66.1"  # Spatial Registration Storage (PS3.4 B.5)
DEFORMABLE_REG_CLASS = "1.2.840.10008.5.1.4.1.1.66.3"
RIGID_TOL = 1e-4  # other systems write DS with ~6 decimals; 1e-4 still refuses any real scale/shear
PRIVATE_GROUP, PRIVATE_CREATOR = 0x0071, "IGRTExtension 1"  # isocenters, so our own REG re-imports whole
#: CID 7100 "RCS Registration Method" codes (PS3.16) by result method.
_METHOD_CODES = {
    "identity": ("125021", "Frame of Reference Identity"),
    "fiducial": ("125022", "Fiducial Alignment"),
    "manual": ("125025", "Visual Alignment"),
}
_IMAGE_CONTENT = ("125024", "Image Content-based Alignment")


# ------------------------------------------------------------------------------------------ matrices
def _rigid_inverse(m) -> np.ndarray:
    r, t = m[:3, :3], m[:3, 3]
    return geometry.rigid_matrix(r.T, -r.T @ t)


def reg_matrix_from_result(matrix_lps, planning_iso, daily_iso) -> np.ndarray:
    """Daily → planning matrix of the REG's moving item: ``T = A⁻¹``, ``A = shift(daily_iso - planning_iso)·M``."""
    return _rigid_inverse(geometry.planning_to_daily(matrix_lps, planning_iso, daily_iso))


def result_matrix_from_reg(moving_to_fixed, planning_iso, daily_iso) -> np.ndarray:
    """Inverse of :func:`reg_matrix_from_result`: ``M = shift(planning_iso - daily_iso)·T⁻¹``."""
    t = np.asarray(moving_to_fixed, float)
    return geometry.result_from_planning_to_daily(_rigid_inverse(t), planning_iso, daily_iso)


def _orthonormal(m) -> np.ndarray:
    """Nearest proper rotation (SVD) of a matrix already checked rigid to RIGID_TOL."""
    u, _, vt = np.linalg.svd(m[:3, :3])
    out = np.array(m, float)
    out[:3, :3] = u @ vt
    out[3] = (0, 0, 0, 1)
    return out


def _ds(value: float) -> str:
    """Decimal String of at most 16 characters with as many digits as fit (PS3.5 6.2)."""
    if not np.isfinite(value):
        raise IGRTInputError(f"{value} cannot be written as a DICOM Decimal String: no REG written")
    v = 0.0 if abs(value) < 1e-13 else float(value)
    for digits in range(16, 0, -1):
        text = f"{v:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot encode {value} as DS")


# ------------------------------------------------------------------------------------------ export
def write_reg(
    result: dict,
    path,
    *,
    planning_identity=None,
    daily_identity=None,
    series_description: str = "IGRT daily match",
    notes: list | None = None,
) -> Path:
    """Write ``result`` (the result JSON) as a rigid Spatial Registration object at ``path``.

    Registered RCS = planning frame; item 1 planning, identity; item 2 daily, ``T = daily → planning``
    (PS3.3 C.20.2, C.20.2.1.1; module docstring). Identities (dicts with ``patient_id``, ``study_uid``,
    ``series_uid``, ``frame_of_reference_uid``, optional ``instances`` = [(SOP class, SOP instance)],
    or a :class:`Volume`) override ``result["inputs"]``; a DICOM series folder named there is scanned
    for its instances. Missing frames get generated UIDs; every assumption is appended to ``notes``
    (or issued as a warning). Different patient IDs are refused. Written atomically.
    """
    note = notes.append if notes is not None else (lambda m: warnings.warn(m, stacklevel=3))
    m = np.asarray(result.get("matrix_lps"), float) if isinstance(result, dict) else np.array(None)
    if m.shape != (4, 4) or not geometry.is_rigid(m, tol=RIGID_TOL):
        raise IGRTInputError("result matrix_lps is not a rigid 4×4 transform: no REG written")
    p_iso, d_iso = result.get("planning_isocenter_lps"), result.get("daily_isocenter_lps")
    if p_iso is None:
        raise IGRTInputError("result has no planning_isocenter_lps: no REG written")
    d_iso = p_iso if d_iso is None else d_iso
    try:
        p_iso, d_iso = np.asarray(p_iso, float), np.asarray(d_iso, float)
    except (TypeError, ValueError):
        p_iso = d_iso = np.zeros(0)
    if p_iso.shape != (3,) or d_iso.shape != (3,) or not np.all(np.isfinite(np.r_[p_iso, d_iso])):
        raise IGRTInputError("result isocenters must be three finite LPS coordinates in mm: no REG written")
    orientation = result.get("orientation")
    if orientation is not None:
        orientation = patient_position.normalise(orientation, "result orientation")
    inputs = result.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise IGRTInputError("result inputs is not an object: no REG written")
    fixed = _identity(inputs.get("planning"), planning_identity)
    moving = _identity(inputs.get("daily"), daily_identity)
    pf, pm = fixed.get("patient_id"), moving.get("patient_id")
    if pf and pm and pf != pm:
        raise IGRTInputError(
            f"planning and daily images are of different patients ({pf!r}, {pm!r}): no REG written"
        )
    for role, ident in (("planning", fixed), ("daily", moving)):
        if not ident.get("frame_of_reference_uid"):
            ident["frame_of_reference_uid"] = generate_uid()
            note(
                f"{role} image has no frame of reference UID: generated {ident['frame_of_reference_uid']} for the REG"
            )
    if fixed["frame_of_reference_uid"] == moving["frame_of_reference_uid"] and not (
        fixed.get("instances") and moving.get("instances")
    ):
        note("planning and daily images share one frame of reference and their images are not all known: "
             "the REG's two items are told apart only by their order (planning first)")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid values are refused below by check_dataset, in one line
        ds = _reg_dataset(
            result, fixed, moving, reg_matrix_from_result(m, p_iso, d_iso), note, series_description
        )
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "FD", [float(v) for v in p_iso])
    block.add_new(0x02, "FD", [float(v) for v in d_iso])
    if orientation:
        block.add_new(0x03, "CS", orientation)
    check_dataset(ds, "no REG written")
    return _save_atomic(ds, Path(path))


def _identity(from_result, given) -> dict:
    """Merge the result's ``inputs`` entry, the DICOM folder it names, and an explicit identity."""
    if from_result is not None and not isinstance(from_result, dict):
        raise IGRTInputError("result inputs.planning / inputs.daily must be objects: no REG written")
    out = {k: v for k, v in (from_result or {}).items() if v is not None}
    if given is not None:
        given = given.identity() if hasattr(given, "identity") else dict(given)
        out.update({k: v for k, v in given.items() if v is not None})
    folder = Path(str(out.get("path", "")))
    if out.get("series_uid") and not out.get("instances") and out.get("path") and folder.is_dir():
        out = {**_scan_series(folder, out["series_uid"]), **out}
    return out


def _scan_series(folder: Path, series_uid: str) -> dict:
    """Instances (and patient/study attributes) of series ``series_uid`` in ``folder``; headers only."""
    found, first = [], None
    for p in sorted(q for q in folder.iterdir() if q.is_file()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                h = pydicom.dcmread(p, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError, TypeError, KeyError):
            continue
        if str(h.get("SeriesInstanceUID", "")) == series_uid and "SOPInstanceUID" in h:
            found.append((str(h.SOPClassUID), str(h.SOPInstanceUID)))
            first = first or h
    if first is None:
        return {}
    text = {
        "patient_name": "PatientName", "patient_birth_date": "PatientBirthDate", "patient_sex": "PatientSex",
        "study_date": "StudyDate", "study_time": "StudyTime", "study_id": "StudyID",
        "accession_number": "AccessionNumber", "referring_physician_name": "ReferringPhysicianName",
    }  # fmt: skip
    out = {k: str(first.get(kw, "") or "") for k, kw in text.items()}
    out["instances"] = found
    return out


def _reg_dataset(result, fixed: dict, moving: dict, t: np.ndarray, note, description) -> Dataset:
    """Patient, General Study/Series, Spatial Registration Series, Frame of Reference, General Equipment,
    Spatial Registration, Common Instance Reference and SOP Common modules (PS3.3 A.39.1.3)."""
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.SOPClassUID, ds.SOPInstanceUID = REG_CLASS, generate_uid()
    # Patient (C.7.1.1) and General Study (C.7.2.1): the planning image's; the REG joins its study.
    ds.PatientName = fixed.get("patient_name") or moving.get("patient_name") or ""
    ds.PatientID = fixed.get("patient_id") or moving.get("patient_id") or ""
    ds.PatientBirthDate = fixed.get("patient_birth_date") or ""
    ds.PatientSex = fixed.get("patient_sex") or ""
    study = fixed.get("study_uid")
    if not study:
        study = generate_uid()
        note(f"planning image has no study UID: the REG is in a new study {study}")
    ds.StudyInstanceUID = study
    ds.StudyDate = fixed.get("study_date") or ""
    ds.StudyTime = fixed.get("study_time") or ""
    ds.ReferringPhysicianName = fixed.get("referring_physician_name") or ""
    ds.StudyID = fixed.get("study_id") or ""
    ds.AccessionNumber = fixed.get("accession_number") or ""
    # General Series (C.7.3.1) + Spatial Registration Series (C.20.1): Modality REG.
    ds.Modality = "REG"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 901
    ds.SeriesDate, ds.SeriesTime = date, time
    ds.SeriesDescription = description
    ds.Laterality = ""  # Type 2C (C.7.3.1): empty, a registration has no laterality
    # Frame of Reference (C.7.4.1): the Registered RCS is the planning frame.
    ds.FrameOfReferenceUID = fixed["frame_of_reference_uid"]
    ds.PositionReferenceIndicator = ""
    # General Equipment (C.7.5.1).
    ds.Manufacturer = "IGRTExtension"
    ds.ManufacturerModelName = "IGRTExtension"
    ds.SoftwareVersions = f"IGRTExtension {__version__}"
    # Spatial Registration (C.20.2) with the Content Identification Macro (Table 10-12).
    ds.ContentDate, ds.ContentTime = date, time
    ds.InstanceNumber = 1
    ds.ContentLabel = "IGRT_MATCH"
    ds.ContentDescription = "daily image registered to the planning image"
    ds.ContentCreatorName = ""
    method = str(result.get("method") or "")
    ds.RegistrationSequence = [
        _registration_item(fixed, np.eye(4), _METHOD_CODES["identity"], "planning image (fixed)"),
        _registration_item(
            moving, t, _METHOD_CODES.get(method, _IMAGE_CONTENT), f"daily to planning, IGRT {method}"[:64]
        ),
    ]
    _common_instance_reference(ds, [fixed, moving], note)
    return ds


def _registration_item(ident: dict, matrix, code, comment: str) -> Dataset:
    """One Registration Sequence item: frame, images, one Matrix Registration item (PS3.3 C.20.2)."""
    item = Dataset()
    item.FrameOfReferenceUID = ident["frame_of_reference_uid"]
    if ident.get("instances"):
        item.ReferencedImageSequence = [_ref(c, i) for c, i in ident["instances"]]
    code_item = Dataset()
    code_item.CodeValue, code_item.CodingSchemeDesignator, code_item.CodeMeaning = code[0], "DCM", code[1]
    m = Dataset()
    m.FrameOfReferenceTransformationMatrixType = "RIGID"
    m.FrameOfReferenceTransformationMatrix = [_ds(v) for v in np.asarray(matrix, float).ravel()]  # row-major
    reg = Dataset()
    reg.FrameOfReferenceTransformationComment = comment
    reg.RegistrationTypeCodeSequence = [code_item]
    reg.MatrixSequence = [m]
    item.MatrixRegistrationSequence = [reg]
    return item


def _ref(sop_class: str, sop_instance: str, key=("ReferencedSOPClassUID", "ReferencedSOPInstanceUID")):
    d = Dataset()
    setattr(d, key[0], sop_class)
    setattr(d, key[1], sop_instance)
    return d


def _common_instance_reference(ds: Dataset, idents: list[dict], note) -> None:
    """PS3.3 C.12.2: series of the REG's study in Referenced Series Sequence, others under Studies
    Containing Other Referenced Instances Sequence. Images without known instances are not listed."""
    here, other = [], {}
    for ident in idents:
        if not ident.get("instances") or not ident.get("series_uid") or not ident.get("study_uid"):
            note(f"series {ident.get('series_uid') or '(none)'}: image instances unknown, the REG references "
                 "its frame of reference only")  # fmt: skip
            continue
        series = Dataset()
        series.SeriesInstanceUID = ident["series_uid"]
        series.ReferencedInstanceSequence = [_ref(c, i) for c, i in ident["instances"]]
        if ident["study_uid"] == ds.StudyInstanceUID:
            here.append(series)
        else:
            other.setdefault(ident["study_uid"], []).append(series)
    if here:
        ds.ReferencedSeriesSequence = here
    if other:
        studies = []
        for uid, series_list in other.items():
            s = Dataset()
            s.StudyInstanceUID = uid
            s.ReferencedSeriesSequence = series_list
            studies.append(s)
        ds.StudiesContainingOtherReferencedInstancesSequence = studies


def check_dataset(ds: Dataset, consequence: str) -> None:
    """Refuse a data set holding a value its VR does not allow (PS3.5 6.2), a UID that is not one
    (PS3.5 9.1) or a non-finite FD/FL number, with one line naming the element; checks nested items."""

    def walk(dataset, where):
        for elem in dataset:
            name = f"{where}{elem.keyword or elem.tag}"
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value):
                    walk(item, f"{name}[{i + 1}].")
                continue
            values = elem.value if isinstance(elem.value, (list, tuple, MultiValue)) else [elem.value]
            values = [str(v) if elem.VR == "PN" else v for v in values]
            for v in values:
                bad = elem.VR in ("FD", "FL") and not np.isfinite(float(v))
                bad = bad or (elem.VR == "UI" and v and not pydicom.uid.UID(str(v)).is_valid)
                if not bad and isinstance(v, str):  # numbers (IS, US, ...) are valid once they are numbers
                    try:
                        validate_value(elem.VR, v, pydicom.config.RAISE)
                    except ValueError:
                        bad = True
                if bad:
                    raise IGRTInputError(
                        f"{name} would hold {str(v)[:70]!r}, not a valid {elem.VR}: {consequence}"
                    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on reading an invalid value: refused here instead
        walk(ds, "")


def _save_atomic(ds: Dataset, path: Path) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"IGRT_{__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    return atomic_write(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))


# ------------------------------------------------------------------------------------------ import
def read_reg(path, *, planning=None, daily=None) -> dict:
    """Read a rigid REG: ``matrix_moving_to_fixed`` (4×4 LPS), frames, referenced series, patient.

    Which item is the planning (fixed) image's is decided by :func:`planning_item` from the images'
    identities (``planning``, ``daily``: identity dicts as in a result's ``inputs``, a :class:`Volume`, or
    an RT plan's frame), never from the item order or the REG's own frame alone: another system may
    write the daily frame as the Registered RCS. With item matrices ``M_p``, ``M_d`` (each the product of
    its Matrix Sequence, ``M = M_n···M_1``, PS3.3 C.20.2.1.1 Eq. C.20.2-2) the daily → planning map is
    ``M_p⁻¹·M_d`` (Eq. C.20.2-3). Refuses non-REG files, deformable or non-rigid registrations, more
    than two items, and a REG whose planning item cannot be told, with one line.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError, TypeError, KeyError) as e:
        raise IGRTInputError(
            f"{path}: not a readable DICOM file ({str(e).splitlines()[0] if str(e) else e!r})"
        ) from e
    sop = str(ds.get("SOPClassUID", "") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", ""))
    if sop == DEFORMABLE_REG_CLASS:
        raise IGRTInputError(f"{path}: a Deformable Spatial Registration: only rigid REG is supported")
    if sop != REG_CLASS:
        what = pydicom.uid.UID(sop).name if sop else "no SOP Class UID"
        raise IGRTInputError(f"{path}: not a DICOM Spatial Registration object ({what})")
    items = list(ds.get("RegistrationSequence", []))
    if not 1 <= len(items) <= 2:
        raise IGRTInputError(f"{path}: REG has {len(items)} registration items; one or two are supported")
    parsed = [_read_item(it, path) for it in items]
    registered = str(ds.get("FrameOfReferenceUID", "") or "") or None
    if len(parsed) == 1:  # the item registers its frame to the Registered RCS: the RCS is the other side
        parsed.insert(0, {"frame_of_reference_uid": registered, "matrix": np.eye(4), "instances": []})
    series = _referenced_series(ds)
    for item in parsed:
        refs = [series[i] for i in item["instances"] if i in series]
        item["series_uids"] = sorted({r["series_uid"] for r in refs})
        item["study_uids"] = sorted({r["study_uid"] for r in refs})
    patient = str(ds.get("PatientID", "") or "") or None
    mine = _private(ds)
    k, decided_by = planning_item(parsed, registered, mine is not None, planning, daily, patient, path)
    fixed, moving = parsed[k], parsed[1 - k]
    t = _orthonormal(_rigid_inverse(fixed["matrix"]) @ moving["matrix"])
    roles = {
        role: {
            "frame_of_reference_uid": item["frame_of_reference_uid"],
            "series_uids": item["series_uids"],
            "study_uids": item["study_uids"],
            "instance_count": len(item["instances"]),
        }
        for role, item in (("fixed", fixed), ("moving", moving))
    }
    return {
        "path": str(path),
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_uid": str(ds.get("StudyInstanceUID", "")),
        "patient_id": patient,
        "patient_name": str(ds.get("PatientName", "") or "") or None,
        "registered_frame_uid": registered,
        "matrix_moving_to_fixed": t.tolist(),
        "matrix_sense": "maps a point of the moving (daily) frame to the same point in the fixed "
        "(planning) frame (PS3.3 C.20.2.1.1)",
        "fixed": roles["fixed"],
        "moving": roles["moving"],
        "planning_item_decided_by": decided_by,
        "referenced_series": [
            {"study_uid": a, "series_uid": b}
            for a, b in sorted({(r["study_uid"], r["series_uid"]) for r in series.values()})
        ],
        "igrt": mine,
        "warnings": [],
    }


def _identity_of(given) -> dict:
    """Identity dict (frame, series, patient) of a :class:`Volume`, a plan-like object or a dict."""
    if given is None:
        return {}
    if hasattr(given, "identity"):
        return given.identity()
    if isinstance(given, dict):
        return given
    return {k: getattr(given, k, None) for k in ("frame_of_reference_uid", "series_uid", "patient_id")}


def _vote(item: dict, ident: dict, role: str, path) -> bool | None:
    """Is ``item`` the image ``ident``? Its series decide when both are known, else its frame; None unknown."""
    series, frame = ident.get("series_uid"), ident.get("frame_of_reference_uid")
    by_frame = (
        None if not (frame and item["frame_of_reference_uid"]) else item["frame_of_reference_uid"] == frame
    )
    if series and item["series_uids"]:
        by_series = series in item["series_uids"]
        if by_series and by_frame is False:
            raise IGRTInputError(
                f"{path}: the REG puts the {role} series {series} in frame {item['frame_of_reference_uid']}, "
                f"but the {role} image is in frame {frame}: the REG and the images disagree"
            )
        return by_series
    return by_frame


def planning_item(items, registered, ours, planning, daily, patient_id, path) -> tuple[int, str]:
    """(index of the planning item among the two, how it was decided), or one line why it cannot be told.

    Evidence: the planning and daily images' series (referenced in the items, PS3.3 C.20.2) and frames of
    reference (each item's Frame of Reference UID). An assignment of the two items to (planning, daily)
    is taken when the evidence supports it and contradicts nothing, and the other is not equally
    supported. Without evidence only our own REG (private block) is read, by how we write it: the
    planning frame is the Registered RCS, item 1. A REG that matches neither image is refused.
    """
    planning, daily = _identity_of(planning), _identity_of(daily)
    for role, ident in (("planning", planning), ("daily", daily)):
        pid = ident.get("patient_id")
        if pid and patient_id and pid != patient_id:
            raise IGRTInputError(f"{path}: the REG is of patient {patient_id!r}, the {role} image of {pid!r}")

    def rank(i):  # how we write a REG: in the Registered RCS, identity matrix, first
        p = items[i]
        return (p["frame_of_reference_uid"] != registered, not np.allclose(p["matrix"], np.eye(4), atol=1e-9))

    convention = min(range(2), key=rank)
    votes = {
        k: [_vote(items[k], planning, "planning", path), _vote(items[1 - k], daily, "daily", path)]
        for k in (0, 1)
    }
    supported = [k for k in (0, 1) if False not in votes[k] and True in votes[k]]
    frames = " and ".join(str(it["frame_of_reference_uid"]) for it in items)
    if len(supported) == 1:
        k = supported[0]
        if ours and k != convention:
            raise IGRTInputError(
                f"{path}: this REG was written by IGRTExtension with frame {items[convention]['frame_of_reference_uid']} "
                "as the planning frame, but the images given say the opposite: planning and daily swapped?"
            )
        return k, "the images' series and frames of reference"
    if any(v is not None for k in (0, 1) for v in votes[k]) and not supported:
        shown = ", ".join(
            f"{role} frame {ident.get('frame_of_reference_uid') or '?'} series {ident.get('series_uid') or '?'}"
            for role, ident in (("planning", planning), ("daily", daily))
            if ident
        )
        raise IGRTInputError(
            f"{path}: the REG registers frames {frames}, which do not match the images ({shown})"
        )
    if ours:
        return convention, "IGRTExtension's own REG: the planning frame is its Registered RCS"
    raise IGRTInputError(
        f"{path}: cannot tell which of the REG's frames ({frames}) is the planning image's: give the planning "
        "image or its RT plan (the REG's own frame may be either image's)"
    )


def _read_item(item: Dataset, path: Path) -> dict:
    regs = list(item.get("MatrixRegistrationSequence", []))
    if len(regs) != 1:
        raise IGRTInputError(
            f"{path}: a registration item has {len(regs)} Matrix Registration items (PS3.3 C.20.2: one)"
        )
    total = np.eye(4)
    matrices = list(regs[0].get("MatrixSequence", []))
    if not matrices:
        raise IGRTInputError(f"{path}: a registration item has no Matrix Sequence")
    for mi in matrices:
        kind = str(mi.get("FrameOfReferenceTransformationMatrixType", "") or "")
        if kind != "RIGID":
            raise IGRTInputError(f"{path}: {kind or 'untyped'} registration matrix: only RIGID is supported")
        values = mi.get("FrameOfReferenceTransformationMatrix")
        try:
            m = np.array([float(v) for v in values], float).reshape(4, 4)  # row-major (C.20.2.1.1)
        except (TypeError, ValueError) as e:
            raise IGRTInputError(f"{path}: unreadable Frame of Reference Transformation Matrix") from e
        if not geometry.is_rigid(m, tol=RIGID_TOL):
            raise IGRTInputError(
                f"{path}: the matrix typed RIGID is not rigid (scaled, sheared or not orthonormal)"
            )
        total = m @ total  # Eq. C.20.2-2: the first item is applied first
    return {
        "frame_of_reference_uid": str(item.get("FrameOfReferenceUID", "") or "") or None,
        "matrix": total,
        "instances": [str(r.ReferencedSOPInstanceUID) for r in item.get("ReferencedImageSequence", [])
                      if "ReferencedSOPInstanceUID" in r],
    }  # fmt: skip


def _referenced_series(ds: Dataset) -> dict:
    """SOP Instance UID → {series_uid, study_uid} from the Common Instance Reference module (C.12.2)."""
    out = {}
    studies = [(str(ds.get("StudyInstanceUID", "")), ds.get("ReferencedSeriesSequence", []))]
    studies += [(str(s.get("StudyInstanceUID", "")), s.get("ReferencedSeriesSequence", []))
                for s in ds.get("StudiesContainingOtherReferencedInstancesSequence", [])]  # fmt: skip
    for study, series_seq in studies:
        for s in series_seq:
            for r in s.get("ReferencedInstanceSequence", []):
                out[str(r.get("ReferencedSOPInstanceUID", ""))] = {
                    "series_uid": str(s.get("SeriesInstanceUID", "")),
                    "study_uid": study,
                }
    return out


def _private(ds: Dataset) -> dict | None:
    """Isocenters and orientation our own REG carries (private block, PS3.5 7.8)."""
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    except KeyError:
        return None
    out = {}
    for key, elem in (("planning_isocenter_lps", 0x01), ("daily_isocenter_lps", 0x02), ("orientation", 0x03)):
        if elem in block:
            v = block[elem].value
            out[key] = str(v) if key == "orientation" else [float(x) for x in v]
    return out or None


def result_from_reg(
    path,
    *,
    planning_isocenter_lps=None,
    daily_isocenter_lps=None,
    orientation: str | None = None,
    planning=None,
    daily=None,
) -> dict:
    """A result JSON (README "The result JSON") from a rigid REG written by us or another system.

    The REG gives ``T`` = daily frame → planning frame (:func:`read_reg`), so a planned point q is at the
    daily coordinate ``A(q) = T⁻¹(q)``. docs/CONVENTIONS.md pairs the isocenters (``A = shift(d - p)·M``), hence
    ``matrix_lps = M = shift(p - d)·T⁻¹``: where the planned anatomy went, in planning coordinates.
    ``p`` is the planning isocenter (argument, else recorded in our own REG; required: the shift is
    defined there). ``d`` is the daily treatment isocenter: argument, else recorded, else ``p`` when the
    two frames are one; between two frames it must be declared. Orientation defaults to HFS (noted).
    ``planning``/``daily`` identify the images (see :func:`read_reg`). ``path`` may also be what
    :func:`read_reg` returned.
    """
    reg = path if isinstance(path, dict) else read_reg(path, planning=planning, daily=daily)
    path = reg["path"]
    mine = reg["igrt"] or {}
    notes = [
        f"imported from DICOM REG {reg['sop_instance_uid']}; its planning frame "
        f"{reg['fixed']['frame_of_reference_uid']} told by {reg['planning_item_decided_by']}",
        *reg.get("warnings", []),
    ]
    p = planning_isocenter_lps if planning_isocenter_lps is not None else mine.get("planning_isocenter_lps")
    if p is None:
        raise IGRTInputError(f"{path}: give the planning isocenter (RT plan): the REG does not record it")
    p = np.asarray(p, float)
    fixed_for, moving_for = reg["fixed"]["frame_of_reference_uid"], reg["moving"]["frame_of_reference_uid"]
    shared = fixed_for is not None and fixed_for == moving_for
    if daily_isocenter_lps is not None:
        d = np.asarray(daily_isocenter_lps, float)
    elif "daily_isocenter_lps" in mine and np.allclose(p, mine.get("planning_isocenter_lps", p)):
        d = np.asarray(mine["daily_isocenter_lps"], float)
    elif shared:
        d = p
    else:
        raise IGRTInputError(
            f"{path}: the REG maps between two frames of reference: give the daily (treatment) isocenter "
            "in the daily image's frame"
        )
    if p.shape != (3,) or d.shape != (3,) or not np.all(np.isfinite(np.r_[p, d])):
        raise IGRTInputError("isocenters must be three finite LPS coordinates in mm")
    orientation, _, said = patient_position.resolve(orientation, reg=mine.get("orientation"))
    notes += said
    m = result_matrix_from_reg(reg["matrix_moving_to_fixed"], p, d)

    from igrt.result import result_dict  # the one place the result JSON's fields are made

    def ident(role):
        r = reg[role]
        return {
            "path": None,
            "patient_id": reg["patient_id"],
            "study_uid": r["study_uids"][0] if len(r["study_uids"]) == 1 else None,
            "series_uid": r["series_uids"][0] if len(r["series_uids"]) == 1 else None,
            "frame_of_reference_uid": r["frame_of_reference_uid"],
        }

    res = _Imported(
        method="dicom-reg",
        matrix_lps=m,
        planning_isocenter_lps=p,
        daily_isocenter_lps=d,
        translation_mm=geometry.displacement_at(m, p),
        rotation_deg=geometry.angles_xyz_deg(m[:3, :3]),
        orientation=str(orientation).upper(),
        quality={"similarity_before": None, "similarity_after": None, "overlap": None},
        stages=[],
        warnings=notes,
        inputs={
            "planning": ident("fixed"),
            "daily": ident("moving"),
            "reg": {k: reg[k] for k in ("path", "sop_instance_uid", "series_uid", "study_uid")},
        },
        parameters={
            "source": "DICOM Spatial Registration",
            "reg_matrix_moving_to_fixed": reg["matrix_moving_to_fixed"],
        },
        elapsed_s=0.0,
    )
    try:
        return result_dict(res)
    except ValueError as e:  # e.g. an orientation the couch model does not know
        raise IGRTInputError(f"{path}: {e}") from e


def import_reg_files(
    reg_path,
    *,
    plan_path=None,
    planning_path=None,
    daily_path=None,
    planning_isocenter_lps=None,
    daily_isocenter_lps=None,
    orientation: str | None = None,
) -> dict:
    """:func:`result_from_reg` with the images identified from files (what ``igrt import-reg`` calls).

    Parameters
    ----------
    reg_path : path
        The REG file.
    plan_path : path, optional
        RTPLAN of the planning image: its frame of reference tells the planning item, its isocenter
        (LPS mm, planning frame) and patient position are used unless given.
    planning_path, daily_path : path, optional
        The images (DICOM series folder or volume file): their frames and series tell the items apart.
    planning_isocenter_lps, daily_isocenter_lps : (3,) LPS mm, optional
        Declared isocenters (planning frame / daily frame); a plan and a planning isocenter exclude each other.

    Returns
    -------
    dict
        The result JSON (``matrix_lps``: planned anatomy → where it is, planning frame, LPS mm).
    """
    from igrt.io.volumes import read_volume
    from igrt.registration.inputs import check_plan, check_point

    planning_isocenter_lps = check_point(planning_isocenter_lps, "the planning isocenter")
    daily_isocenter_lps = check_point(daily_isocenter_lps, "the daily isocenter")
    if plan_path is not None and planning_isocenter_lps is not None:
        raise IGRTInputError("give either --plan or --isocenter, not both")
    planning = read_volume(planning_path) if planning_path is not None else None
    daily = read_volume(daily_path) if daily_path is not None else None
    evidence = planning.identity() if planning is not None else {}
    if plan_path is not None:
        from igrt.io.rtplan import read_rtplan

        plan = read_rtplan(plan_path)
        if planning is not None:
            check_plan(plan, planning)
        evidence = {
            **{k: getattr(plan, k) for k in ("frame_of_reference_uid", "patient_id") if getattr(plan, k)},
            **{k: v for k, v in evidence.items() if v is not None},
        }
        planning_isocenter_lps = plan.isocenter_lps
        orientation = orientation or plan.patient_position
    return result_from_reg(
        reg_path,
        planning_isocenter_lps=planning_isocenter_lps,
        daily_isocenter_lps=daily_isocenter_lps,
        orientation=orientation,
        planning=evidence or None,
        daily=daily,
    )


class _Imported:
    """Attribute bag with the fields :func:`igrt.result.result_dict` reads from a match result."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
