"""Known-transform cases (TG-132): planning CT, simulated daily CBCT and the true 4×4, built once and cached.

Why a cache: a full-size case takes tens of seconds to project and reconstruct; the benchmark and the
demo should pay that once per machine. A case is a pure function of its recipe (``CaseSpec``) and the
generator version, so the cache key is a hash of both; a changed recipe builds a new case.

Layout under ``$IGRT_CACHE`` (default ``~/.cache/igrt``)::

    planning/<source>-<key>.mha        shared planning CTs (float32, uncompressed)
    cases/<name>-<key>/planning.mha    hard link (or copy) of the shared planning CT
    cases/<name>-<key>/daily.mha       the simulated CBCT (float32, its own frame, isocenter at 0)
    cases/<name>-<key>/truth.json      the true matrix and how the case was made

Everything is written under a temporary name and renamed, so a case on disk is always complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.synth.cbct import CBCTSettings
from igrt.synth.markers import CALCIFICATION_HU, CT_GOLD_HU, CT_MAX_HU, MU_GOLD, add_to_array
from igrt.synth.recipes import (
    ABDOMEN_SPECS,
    BENCH_SPECS,
    DEMO_SPEC,
    MARKER_SPECS,
    SOFT_SPECS,
    TINY_MARKER_SPEC,
    TINY_SPEC,
    CaseSpec,
)

#: Bump when the generator's output changes for the same recipe (invalidates cached cases).
GENERATOR_VERSION = "1"


def shared_data_dir() -> Path:
    """``$IGRT_SHARED_DATA`` or ``../shared/data`` next to the checkout (read-only real data)."""
    env = os.environ.get("IGRT_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"


@dataclass
class Case:
    """A planning CT, a daily CBCT and the truth.

    ``matrix_lps`` (4×4, planning frame, docs/CONVENTIONS.md) maps a planned-anatomy point q to where it is on the
    treatment day; in the CBCT's own frame q sits at d = M(q) − planning_isocenter + daily_isocenter,
    with the daily isocenter (0, 0, 0) at the CBCT's image centre.
    """

    name: str
    planning_path: Path
    daily_path: Path
    matrix_lps: np.ndarray
    planning_isocenter_lps: tuple[float, float, float]
    daily_isocenter_lps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = ""
    truth_path: Path | None = None
    timings: dict = field(default_factory=dict)
    #: implanted markers: ``shape``, ``planning_lps`` (planning frame), ``daily_lps`` (the CBCT's frame,
    #: migration included), ``length_mm``, ``diameter_mm``, ``migrated_mm``
    markers: list = field(default_factory=list)
    #: calcifications (not markers): ``planning_lps``, ``daily_lps``, ``diameter_mm``
    calcifications: list = field(default_factory=list)
    #: cases with prostate motion: where the prostate went (4×4, like ``matrix_lps``) and its planning mask
    target_matrix_lps: np.ndarray | None = None
    target_mask_path: Path | None = None


def cache_dir() -> Path:
    """``$IGRT_CACHE`` or ``~/.cache/igrt``."""
    return Path(os.environ.get("IGRT_CACHE") or Path.home() / ".cache" / "igrt")


def _key(obj) -> str:
    text = json.dumps({"v": GENERATOR_VERSION, "spec": obj}, sort_keys=True, default=_jsonable)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if dataclasses.is_dataclass(v):
        return dataclasses.asdict(v)
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON: {type(v)}")


def _write_image(img: sitk.Image, path: Path) -> None:
    """Uncompressed .mha written under a temporary name in the same folder, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".mha", prefix=".tmp-", dir=path.parent)
    os.close(fd)
    try:
        sitk.WriteImage(img, tmp, useCompression=False)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is shared like any generated data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _planning(spec: CaseSpec, root: Path, timings: dict) -> tuple[Path, sitk.Image | None]:
    """The shared planning CT file of a recipe (built when absent)."""
    pspec = spec.planning_recipe()
    path = root / "planning" / f"{spec.source}-{_key(pspec)}.mha"
    if path.is_file():
        return path, None
    t0 = time.perf_counter()
    if spec.source == "pelvis":
        from igrt.synth.phantom import make_pelvis_phantom

        img = make_pelvis_phantom(spec.ct_size, spec.ct_spacing, seed=spec.phantom_seed, scale=spec.scale)
    elif spec.source == "tg119":
        from igrt.synth.tg119 import load_tg119_ct

        img = load_tg119_ct(spec.tg119_path or shared_data_dir() / "tg119_ct" / "TG119.mat")
        if spec.qa_beads:
            from igrt.synth.tg119 import add_qa_beads

            img = add_qa_beads(img)
    elif spec.source == "abdomen":
        from igrt.synth.abdomen import load_abdomen_ct

        img = load_abdomen_ct(shared_data_dir() / "totalseg_abdomen_ct" / "ct.nii.gz")
    else:
        raise IGRTInputError(f"unknown case source {spec.source!r}")
    timings["planning_s"] = round(time.perf_counter() - t0, 2)
    _write_image(img, path)
    return path, img


def build_case(spec: CaseSpec, root: Path | None = None) -> Case:
    """The case of a recipe: read from the cache, or generated, written atomically and returned."""
    root = Path(root) if root else cache_dir()
    final = root / "cases" / f"{spec.name}-{_key(spec.key_fields())}"
    if (final / "truth.json").is_file():
        return _read_case(final)
    timings: dict = {}
    plan_path, plan = _planning(spec, root, timings)
    if plan is None:
        plan = sitk.ReadImage(str(plan_path), sitk.sitkFloat32)
    iso, m = spec.isocenter(), spec.matrix_lps()
    from igrt.synth.cbct import simulate_cbct  # RTK is loaded only when a case has to be generated

    t0 = time.perf_counter()
    to_daily = geometry.planning_to_daily(m, iso, (0.0, 0.0, 0.0))
    daily_gold, daily_calc = _daily_inclusions(spec, to_daily)
    inclusions = [(daily_gold, MU_GOLD), (daily_calc, spec.cbct.mu_water * (1 + CALCIFICATION_HU / 1000))]
    anatomy = plan
    if spec.organ_shift_mm:
        from igrt.synth.organ_motion import displace_target

        anatomy = displace_target(plan, *_prostate(spec), spec.organ_shift_mm)
    if spec.gas_change:
        from igrt.synth.gas import change_gas

        anatomy = change_gas(anatomy, *spec.gas_change)
    daily = simulate_cbct(anatomy, m, iso, spec.cbct, timings, inclusions=inclusions)
    timings = {k: round(v, 2) for k, v in timings.items()}
    timings["cbct_s"] = round(time.perf_counter() - t0, 2)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.name}-", dir=final.parent))
    os.chmod(tmp, 0o755)
    try:
        if spec.markers or spec.calcifications:
            _write_image(_planning_with_inclusions(plan, spec), tmp / "planning.mha")
        else:
            _link_or_copy(plan_path, tmp / "planning.mha")
        _write_image(daily, tmp / "daily.mha")
        truth = _truth(spec, m, iso, timings)
        if spec.organ_shift_mm:
            from igrt.synth.organ_motion import target_mask

            center, semi = _prostate(spec)
            _write_image(target_mask(plan, center, semi), tmp / "target.mha")
            truth["target"] = {
                "name": "prostate",
                "center_lps": center.tolist(),
                "semi_axes_mm": semi.tolist(),
                "shift_mm": list(spec.organ_shift_mm),
                "matrix_lps": spec.target_matrix_lps().tolist(),
            }
        if spec.target:
            from igrt.synth.abdomen import organ_ellipsoid_lps
            from igrt.synth.organ_motion import target_mask

            center, semi = organ_ellipsoid_lps(spec.target)
            _write_image(target_mask(plan, center, semi), tmp / "target.mha")
            truth["target"] = {
                "name": spec.target,
                "center_lps": center.tolist(),
                "semi_axes_mm": semi.tolist(),
                "matrix_lps": np.asarray(m).tolist(),  # a rigid day: the target moved with the set-up
            }
        truth["markers"] = _marker_truth(spec.markers, daily_gold, spec.migration)
        truth["calcifications"] = _marker_truth(spec.calcifications, daily_calc, None)
        (tmp / "truth.json").write_text(json.dumps(truth, indent=2, default=_jsonable))
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "truth.json").is_file():  # not a concurrent build of the same case
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _read_case(final)


def _prostate(spec: CaseSpec):
    from igrt.synth.phantom import DEFAULT_CENTER_LPS, prostate_ellipsoid_lps

    if spec.source != "pelvis":
        raise IGRTInputError("prostate motion needs the pelvis phantom")
    return prostate_ellipsoid_lps(DEFAULT_CENTER_LPS, spec.scale)


def _daily_inclusions(spec: CaseSpec, to_daily) -> tuple[list, list]:
    """Markers and calcifications at their daily (CBCT-frame) positions: moved with the prostate (if it
    moved), then by the set-up displacement; a migration applied last."""
    shift = spec.organ_shift_mm or (0.0, 0.0, 0.0)
    gold = [mk.shifted(shift).moved(to_daily) for mk in spec.markers]
    if spec.migration:
        i, offset = spec.migration
        gold[i] = gold[i].shifted(offset)
    return gold, [mk.shifted(shift).moved(to_daily) for mk in spec.calcifications]


def _planning_with_inclusions(plan: sitk.Image, spec: CaseSpec) -> sitk.Image:
    """The planning CT with its markers (extended HU scale) and calcifications drawn in."""
    arr = sitk.GetArrayFromImage(plan)
    geo = (plan.GetOrigin(), plan.GetSpacing(), np.reshape(plan.GetDirection(), (3, 3)))
    add_to_array(arr, spec.calcifications, *geo, CALCIFICATION_HU)
    add_to_array(arr, spec.markers, *geo, CT_GOLD_HU)
    out = sitk.GetImageFromArray(np.minimum(arr, CT_MAX_HU))
    out.CopyInformation(plan)
    return out


def _marker_truth(planned, daily, migration) -> list:
    out = []
    for i, (p, d) in enumerate(zip(planned, daily, strict=True)):
        moved = migration[1] if migration and migration[0] == i else (0.0, 0.0, 0.0)
        out.append(
            {
                "shape": p.shape,
                "planning_lps": list(p.center_lps),
                "daily_lps": list(d.center_lps),
                "length_mm": p.length_mm,
                "diameter_mm": p.diameter_mm,
                "migrated_mm": list(moved),
            }
        )
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _truth(spec: CaseSpec, m, iso, timings) -> dict:
    return {
        "schema_version": 1,
        "name": spec.name,
        "description": spec.description,
        "sense": "patient is displaced: matrix_lps maps planned anatomy to its daily position (docs/CONVENTIONS.md)",
        "matrix_lps": np.asarray(m).tolist(),
        "planning_isocenter_lps": [float(v) for v in iso],
        "daily_isocenter_lps": [0.0, 0.0, 0.0],
        "translation_mm": geometry.displacement_at(m, iso).tolist(),
        "rotation_deg": geometry.angles_xyz_deg(np.asarray(m)[:3, :3]).tolist(),
        "generator": {"version": GENERATOR_VERSION, "spec": dataclasses.asdict(spec)},
        "timings_s": timings,
    }


def _read_case(folder: Path) -> Case:
    t = json.loads((folder / "truth.json").read_text())
    return Case(
        name=t["name"],
        planning_path=folder / "planning.mha",
        daily_path=folder / "daily.mha",
        matrix_lps=np.asarray(t["matrix_lps"], float),
        planning_isocenter_lps=tuple(t["planning_isocenter_lps"]),
        daily_isocenter_lps=tuple(t["daily_isocenter_lps"]),
        description=t["description"],
        truth_path=folder / "truth.json",
        timings=t.get("timings_s", {}),
        markers=t.get("markers", []),
        calcifications=t.get("calcifications", []),
        target_matrix_lps=np.asarray(t["target"]["matrix_lps"], float) if "target" in t else None,
        target_mask_path=folder / "target.mha" if "target" in t else None,
    )


def bench_case_names() -> list[str]:
    """Names of the benchmark cases (pelvis phantom at two sizes, the real TG-119 CT)."""
    return [s.name for s in BENCH_SPECS]


def marker_case_names() -> list[str]:
    """Names of the marker-detection benchmark cases (CBCTs with implanted gold markers)."""
    return [s.name for s in MARKER_SPECS]


def soft_case_names() -> list[str]:
    """Names of the soft-tissue benchmark cases (the prostate moved against the bone)."""
    return [s.name for s in SOFT_SPECS]


def anatomy_case_names() -> list[str]:
    """Names of the real-anatomy cases (the abdomen-pelvis patient CT, soft-tissue and bone targets)."""
    return [s.name for s in ABDOMEN_SPECS]


def get_case(name: str) -> Case:
    """A named case (benchmark or ``"demo"``), cached and deterministic."""
    specs = {s.name: s for s in (*BENCH_SPECS, *MARKER_SPECS, *SOFT_SPECS, *ABDOMEN_SPECS, DEMO_SPEC)}
    if name not in specs:
        raise IGRTInputError(f"unknown case {name!r}; known: {', '.join(specs)}")
    return build_case(specs[name])


def demo_case() -> Case:
    """The medium phantom case of ``igrt demo`` (about 10 s to build once, then read from the cache)."""
    return build_case(DEMO_SPEC)


def tiny_marker_case(root: Path | None = None) -> Case:
    """The tiny case with four gold markers of mixed shapes (tests of detection and the marker match)."""
    return build_case(TINY_MARKER_SPEC, root)


def tiny_case(matrix_lps=None, seed: int = 0, root: Path | None = None) -> Case:
    """A small pelvis case for tests (CT 96×96×48 at 2.5 mm, CBCT 64³ at 2.5 mm): a few seconds to build.

    ``matrix_lps`` (a rigid 4×4 in the planning frame) defaults to a fixed 6-DOF displacement about the
    prostate isocenter. ``seed`` changes the phantom texture and the CBCT noise.
    """
    spec = dataclasses.replace(
        TINY_SPEC, phantom_seed=seed, cbct=dataclasses.replace(TINY_SPEC.cbct, seed=seed)
    )
    if matrix_lps is not None:
        m = np.asarray(matrix_lps, float)
        if not geometry.is_rigid(m):
            raise IGRTInputError("tiny_case: matrix_lps is not a rigid 4×4")
        spec = dataclasses.replace(
            spec,
            name="tiny-m",
            matrix=tuple(map(tuple, m.tolist())),
            translation_mm=(0.0,) * 3,
            rotation_deg=(0.0,) * 3,
        )
    return build_case(spec, root)


__all__ = [
    "Case",
    "CBCTSettings",
    "CaseSpec",
    "anatomy_case_names",
    "bench_case_names",
    "marker_case_names",
    "soft_case_names",
    "build_case",
    "demo_case",
    "get_case",
    "tiny_case",
    "tiny_marker_case",
]
