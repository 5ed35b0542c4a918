"""The result JSON (docs/CONVENTIONS.md §4): its fields, and writing files so that nothing is left half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from igrt import __version__, geometry
from igrt.couch import correction as couch
from igrt.errors import IGRTInputError

SCHEMA_VERSION = "1.0"
#: The result document's ``kind`` (a contract value: never renamed with the code).
RESULT_KIND = "igrt.match"
#: A result's translation_mm / rotation_deg must agree with its matrix_lps this closely (they are
#: written rounded to 4 decimals, so 1e-4 would do; more is an edit or corruption).
AGREEMENT_MM = 0.01
AGREEMENT_DEG = 0.01
#: Larger JSON inputs are refused before parsing (a result is a few kB; a markers list a few MB at most).
MAX_DOCUMENT_BYTES = 50_000_000


def _r(v, nd=4):
    return [round(float(x), nd) for x in np.ravel(v)]


def result_dict(res) -> dict:
    """Result JSON of a :class:`igrt.registration.match.MatchResult`. Never change a field's meaning; add fields."""
    m = np.asarray(res.matrix_lps, float)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": RESULT_KIND,
        "method": res.method,
        "matrix_lps": [[float(x) for x in row] for row in m],
        "matrix_sense": "maps a planned-anatomy point (planning frame, DICOM LPS mm) to where that anatomy "
        "is in the daily image; the patient is displaced by this",
        "planning_isocenter_lps": _r(res.planning_isocenter_lps),
        "daily_isocenter_lps": _r(res.daily_isocenter_lps),
        "translation_mm": _r(res.translation_mm),
        "rotation_deg": _r(res.rotation_deg),
        "translation_sense": "patient is displaced (LPS x=left, y=posterior, z=superior), at the isocenter",
        "rotation_convention": "R = Rz·Ry·Rx about LPS axes, right-handed, degrees",
        "orientation": res.orientation,
        "couch": couch.full_couch_correction(m, res.planning_isocenter_lps, res.orientation),
        "quality": res.quality,
        "stages": res.stages,
        "warnings": list(res.warnings),
        "inputs": res.inputs,
        "software": {"name": "IGRTExtension", "version": __version__, "parameters": res.parameters},
        "elapsed_s": round(float(res.elapsed_s), 3),
    }


def load_result(path) -> dict:
    """Read a result JSON and refuse, with one line, anything :func:`check_result` refuses.

    Also refused: unreadable files, documents over ``MAX_DOCUMENT_BYTES``, ``NaN``/``Infinity`` tokens
    and JSON nested too deeply to parse.
    """
    return check_result(read_json(path, "result JSON"), str(path))


def read_json(path, what: str = "JSON document"):
    """A JSON document from ``path`` with every failure as one line (no NaN/Infinity, bounded size)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise IGRTInputError(f"{path}: {path.stat().st_size} bytes is too large for a {what}")
        text = path.read_text()
    except OSError as exc:
        raise IGRTInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise IGRTInputError(f"cannot read {what} {path}: not UTF-8 text") from exc
    try:
        doc = json.loads(text)  # NaN / Infinity tokens parse, and are refused below with where they are
    except RecursionError as exc:
        raise IGRTInputError(f"{path}: JSON nested too deeply to be a {what}") from exc
    except ValueError as exc:
        raise IGRTInputError(f"cannot read {what} {path}: {exc}") from exc
    bad = non_finite_path(doc)
    if bad is not None:
        raise IGRTInputError(f"{path}: {bad} is not a finite number (NaN or Infinity)")
    return doc


def check_result(data, source: str = "the result") -> dict:
    """Refuse a result document whose fields are missing, malformed or contradict each other; returns it.

    Checked (DESIGN §4 fields): ``schema_version`` is text of this major version; ``matrix_lps`` is a
    rigid 4×4 of finite numbers; ``planning_isocenter_lps`` (and ``daily_isocenter_lps`` when present)
    three finite numbers (LPS mm); ``translation_mm`` and ``rotation_deg``, when present, what the matrix
    gives at the planning isocenter (within ``AGREEMENT_MM`` / ``AGREEMENT_DEG``: they are written
    rounded to 4 decimals); ``orientation`` text; ``inputs`` an object; no non-finite number anywhere.
    The one check every consumer of a result (``igrt shift``, ``export-reg``, Couch Shift, studies) runs
    before using it; ``source`` names it in the message (a path, a node).
    """
    if not isinstance(data, dict):
        raise IGRTInputError(f"{source}: not a result JSON (the document is not a JSON object)")
    version = data.get("schema_version")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        raise IGRTInputError(
            f'{source}: schema_version must be the text "{SCHEMA_VERSION}" (in quotes), not the number {version}'
        )
    if not isinstance(version, str) or version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise IGRTInputError(
            f"{source}: unsupported result schema_version {version!r} (this tool reads {SCHEMA_VERSION})"
        )
    bad = non_finite_path(data)
    if bad is not None:
        raise IGRTInputError(f"{source}: {bad} is not a finite number (NaN or Infinity)")
    m = _numbers(data.get("matrix_lps"), (4, 4), "matrix_lps", source, "a rigid 4×4 array of numbers")
    if not geometry.is_rigid(m, tol=1e-4):
        raise IGRTInputError(f"{source}: matrix_lps is not a rigid 4×4 transform")
    p_iso = _numbers(data.get("planning_isocenter_lps"), (3,), "planning_isocenter_lps", source)
    if data.get("daily_isocenter_lps") is not None:
        _numbers(data["daily_isocenter_lps"], (3,), "daily_isocenter_lps", source)
    if data.get("translation_mm") is not None:
        t = _numbers(data["translation_mm"], (3,), "translation_mm", source)
        expected = geometry.displacement_at(m, p_iso)
        if np.abs(t - expected).max() > AGREEMENT_MM:
            raise IGRTInputError(
                f"{source}: translation_mm {t.round(3).tolist()} contradicts matrix_lps, which displaces the "
                f"planning isocenter by {expected.round(3).tolist()} mm: the document was edited or is corrupt"
            )
    if data.get("rotation_deg") is not None:
        r = _numbers(data["rotation_deg"], (3,), "rotation_deg", source)
        off = geometry.rotation_angle_deg(geometry.rotation_xyz_deg(*r).T @ m[:3, :3])
        if off > AGREEMENT_DEG:
            raise IGRTInputError(
                f"{source}: rotation_deg {r.round(3).tolist()} contradicts matrix_lps (they differ by {off:.3f}°, "
                f"matrix_lps gives {geometry.angles_xyz_deg(m[:3, :3]).round(3).tolist()}): the document was "
                "edited or is corrupt"
            )
    for key, kind, name in (
        ("orientation", str, "text"),
        ("inputs", dict, "an object"),
        ("quality", dict, "an object"),
    ):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise IGRTInputError(f"{source}: {key} must be {name}, got {_json_type(data[key])}")
    return data


def _json_type(value) -> str:
    return {dict: "an object", list: "an array", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def _numbers(value, shape: tuple, key: str, source: str, what: str | None = None) -> np.ndarray:
    """``value`` as a float array of ``shape`` when it is nested lists of JSON numbers (not text, not bool)."""
    what = what or f"{shape[0]} finite numbers (LPS mm)"

    def ok(v, dims):
        if not dims:
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        return isinstance(v, list) and len(v) == dims[0] and all(ok(x, dims[1:]) for x in v)

    if not ok(value, shape):
        shown = json.dumps(value)
        raise IGRTInputError(
            f"{source}: {key} must be {what}, got {shown if len(shown) <= 60 else _json_type(value)}"
        )
    return np.asarray(value, float)


def non_finite_path(doc, where: str = "") -> str | None:
    """Where (``a.b[2]``) the first NaN or infinite number in a JSON-like document is, or None."""
    if isinstance(doc, float | np.floating):
        return None if np.isfinite(doc) else (where or "the value")
    if isinstance(doc, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in doc.items())
    elif isinstance(doc, list | tuple | np.ndarray):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(doc))
    else:
        return None
    for key, value in items:
        found = non_finite_path(value, key)
        if found is not None:
            return found
    return None


def output_mode(folder: bool = False) -> int:
    """Permission bits of a new file (or folder) under the current umask, as ``open``/``mkdir`` give them."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if folder else 0o666) & ~mask


def atomic_write(path, write) -> Path:
    """Create ``path`` by ``write(temporary sibling path)`` then a rename: complete or not at all.

    The file gets the mode the umask gives a new file (``mkstemp`` alone would make it 0600). An
    unwritable place (read-only folder, ``path`` a directory) is one line, not a traceback.
    """
    path = Path(path)
    if path.is_dir():
        raise IGRTInputError(f"cannot write {path}: it is a directory (give a file name)")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, output_mode())
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        raise IGRTInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None and Path(tmp).exists():
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to a temporary sibling and rename it over ``path`` (no half-written outputs)."""
    atomic_write(path, lambda tmp: tmp.write_text(text))


def publish_dir(tmp, out) -> list[Path]:
    """Move every file of a finished temporary output folder into ``out`` (created if needed); the files moved."""
    import shutil

    tmp, out = Path(tmp), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    moved = []
    for item in sorted(tmp.rglob("*")):
        if item.is_file():
            dest = out / item.relative_to(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, dest)
            moved.append(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return moved


def write_json(path, data: dict) -> None:
    """Atomically write a JSON document; refuses one holding NaN or Infinity (never valid output)."""
    bad = non_finite_path(data)
    if bad is not None:
        raise IGRTInputError(f"{path} not written: {bad} is not a finite number (NaN or Infinity)")
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


#: What a flagged match says beside the verdict (report, shift output, Slicer).
ESCALATE_TEXT = "escalate: match uncertain"


def escalation(result: dict) -> dict:
    """Whether a match result document asks for escalation, and why: the one rule every display uses.

    A result without ``quality.uncertainty`` (written before it existed, or a marker match) is not
    flagged; ``known`` says whether the result carried the estimate at all.
    """
    u = (result.get("quality") or {}).get("uncertainty")
    if not isinstance(u, dict):
        return {"escalate": False, "known": False, "text": "", "reasons": []}
    flag = bool(u.get("flag"))
    return {
        "escalate": flag,
        "known": True,
        "text": ESCALATE_TEXT if flag else "",
        "reasons": list(u.get("reasons") or []),
        "translation_mm_95": u.get("translation_mm_95"),
        "rotation_deg_95": u.get("rotation_deg_95"),
    }
