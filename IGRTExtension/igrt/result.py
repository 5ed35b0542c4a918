"""The result JSON (DESIGN §4): its fields, and writing files so that nothing is left half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from igrt import __version__, geometry
from igrt.couch import correction as couch

SCHEMA_VERSION = "1.0"


def _r(v, nd=4):
    return [round(float(x), nd) for x in np.ravel(v)]


def result_dict(res) -> dict:
    """Result JSON of a :class:`igrt.registration.match.MatchResult`. Never change a field's meaning; add fields."""
    m = np.asarray(res.matrix_lps, float)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "igrt.registration.match",
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


def check_result(data, source: str = "the result") -> dict:
    """Refuse a result document this tool cannot use: another schema, a non-rigid matrix, no isocenter.

    The one check every consumer of a result (``igrt shift``, ``export-reg``, Couch Shift, studies) runs
    before using it; ``source`` names it in the message (a path, a node).
    """
    from igrt.errors import IGRTInputError

    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, str) or version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise IGRTInputError(
            f"{source}: unsupported result schema_version {version!r} (this tool reads {SCHEMA_VERSION})"
        )
    try:
        m = np.asarray(data.get("matrix_lps"), float)
    except (TypeError, ValueError):
        m = np.zeros((0,))
    if not geometry.is_rigid(m, tol=1e-4):
        raise IGRTInputError(f"{source}: matrix_lps is not a rigid 4×4 transform")
    try:
        iso = np.asarray(data.get("planning_isocenter_lps"), float)
    except (TypeError, ValueError):
        iso = np.zeros((0,))
    if iso.shape != (3,) or not np.all(np.isfinite(iso)):
        raise IGRTInputError(f"{source}: planning_isocenter_lps must be three finite LPS coordinates in mm")
    return data


def load_result(path) -> dict:
    """Read a result JSON and :func:`check_result` it; one clear line for a file that cannot be used."""
    from igrt.errors import IGRTInputError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise IGRTInputError(f"cannot read result JSON {path}: {exc}") from exc
    return check_result(data, str(path))


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to a temporary sibling and rename it over ``path`` (no half-written outputs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_dir(tmp, out) -> None:
    """Move every file of a finished temporary output folder into ``out`` (created if needed)."""
    import shutil

    tmp, out = Path(tmp), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for item in sorted(tmp.rglob("*")):
        if item.is_file():
            dest = out / item.relative_to(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, dest)
    shutil.rmtree(tmp, ignore_errors=True)


def write_json(path, data: dict) -> None:
    """Atomically write a JSON document."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
