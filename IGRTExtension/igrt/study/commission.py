"""Known-shift commissioning (``igrt commission``): apply known couch offsets, image, match, compare.

For each known couch correction k (IEC 61217 table top, couch moves) the anatomy is displaced by
M = C(k)⁻¹ (:func:`igrt.couch.correction.displacement_from_couch_correction`) and a daily CBCT of it is
made by the known-transform generator (projected and reconstructed with RTK, ``igrt.synth``), from the
bundled phantom or a user's own planning CT and isocenter. The fractions then run through the study
machinery (:func:`igrt.study.runner.run_study`, Dask) with ``known_*`` columns, and the review reports
applied vs measured per axis with pass/fail (:mod:`igrt.review.known_shift`).

Images of a physicist's own acquired phantom go through ``igrt study run`` with the manifest's
``known_*`` columns instead: the same report.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from igrt.couch.correction import displacement_from_couch_correction
from igrt.errors import IGRTInputError
from igrt.result import atomic_write_text
from igrt.review.known_shift import AXES
from igrt.review.table import check_header, finite_number, read_rows
from igrt.study.manifest import read_manifest
from igrt.study.runner import check_run_options, dask_client, default_workers, run_study

#: More offsets than this: their images are made on the Dask workers, in parallel.
IMAGES_ON_WORKERS_ABOVE = 4


def _offset(**kw) -> dict:
    return {a: float(kw.get(a.removesuffix("_mm").removesuffix("_deg"), 0.0)) for a in AXES}


def default_offsets() -> list[dict]:
    """TG-142 / MPPG-style known offsets (couch moves): each axis ±2, ±5, ±10 mm; three combined shifts;
    couch rotation, pitch and roll each ±1°, ±3°; and one combined 6-DOF offset. 34 in all."""
    out = []
    for axis in ("lateral", "longitudinal", "vertical"):
        out += [_offset(**{axis: s * v}) for v in (2.0, 5.0, 10.0) for s in (1, -1)]
    out += [
        _offset(lateral=3, longitudinal=-4, vertical=5),
        _offset(lateral=-5, longitudinal=5, vertical=-5),
        _offset(lateral=7, longitudinal=2, vertical=-6),
    ]
    for axis in ("rotation", "pitch", "roll"):
        out += [_offset(**{axis: s * v}) for v in (1.0, 3.0) for s in (1, -1)]
    out.append(_offset(lateral=4, longitudinal=-3, vertical=2, rotation=1.5, pitch=-1, roll=0.5))
    return out


def quick_offsets() -> list[dict]:
    """A small list for a quick check: one offset per translation axis and one combined 6-DOF offset."""
    return [
        _offset(lateral=5),
        _offset(longitudinal=-2),
        _offset(vertical=10),
        _offset(lateral=-3, longitudinal=4, vertical=-2, rotation=1, pitch=-1, roll=1),
    ]


def read_offsets(path) -> list[dict]:
    """Known offsets from a CSV with columns ``known_lateral_mm`` ... ``known_roll_deg`` (absent: 0)."""
    header, rows = read_rows(path)
    columns = [f"known_{a}" for a in AXES]
    if not any(c in header for c in columns):
        raise IGRTInputError(f"{path}: no known_* column ({', '.join(columns)})")
    check_header(path, header, allowed=columns)
    if not rows:
        raise IGRTInputError(f"{path}: no offset")
    return [
        {a: finite_number(r.get(f"known_{a}") or "0", f"{path} line {i} known_{a}") for a in AXES}
        for i, r in enumerate(rows, start=2)
    ]


def check_offsets(offsets: list[dict]) -> None:
    """Refuse offsets a phantom test cannot mean (beyond 50 mm or 10°), before any image is made."""
    for i, k in enumerate(offsets, start=1):
        for a in AXES:
            limit = 50.0 if a.endswith("_mm") else 10.0
            if not (np.isfinite(k[a]) and abs(k[a]) <= limit):
                raise IGRTInputError(f"offset {i}: {a} {k[a]} is beyond ±{limit:g} (a known-shift test)")


@dataclasses.dataclass(frozen=True)
class Generator:
    """How the daily images are made: the bundled phantom (``phantom``) or a user's planning CT file."""

    phantom: str = "demo"
    planning: str | None = None
    isocenter_lps: tuple | None = None
    orientation: str = "HFS"


def _phantom_spec(name: str):
    from igrt.synth.recipes import DEMO_SPEC, TINY_SPEC

    specs = {"demo": DEMO_SPEC, "tiny": TINY_SPEC}
    if name not in specs:
        raise IGRTInputError(f"unknown phantom {name!r} (one of {', '.join(specs)})")
    return specs[name]


def generate_daily(generator: Generator, known: dict, index: int, images_dir: str) -> tuple:
    """(planning path, daily path, planning isocenter LPS) for one known offset — runs on a worker."""
    if generator.planning is None:
        from igrt.synth.cases import build_case

        base = _phantom_spec(generator.phantom)
        m = displacement_from_couch_correction(known, base.isocenter(), generator.orientation)
        spec = dataclasses.replace(
            base,
            name=f"commission-{generator.phantom}",
            description=f"known couch offset {known} (couch moves)",
            matrix=tuple(map(tuple, m.tolist())),
            translation_mm=(0.0, 0.0, 0.0),
            rotation_deg=(0.0, 0.0, 0.0),
            cbct=dataclasses.replace(base.cbct, seed=index),
        )
        case = build_case(spec)
        return str(case.planning_path), str(case.daily_path), tuple(map(float, case.planning_isocenter_lps))
    import SimpleITK as sitk

    from igrt.io.volumes import read_volume
    from igrt.synth.cbct import simulate_cbct

    iso = np.asarray(generator.isocenter_lps, float)
    m = displacement_from_couch_correction(known, iso, generator.orientation)
    daily = simulate_cbct(read_volume(generator.planning).image, m, iso)
    out = Path(images_dir) / f"daily_{index:02d}.mha"
    tmp = out.with_name(f".{out.name}.tmp.mha")
    sitk.WriteImage(daily, str(tmp))
    tmp.replace(out)
    return generator.planning, str(out), tuple(map(float, iso))


def write_commission_manifest(path: Path, images: list, offsets: list, orientation: str) -> None:
    """The study manifest of the generated fractions: patient ``phantom``, fractions 01.., known_* columns."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["patient", "fraction", "planning", "daily", "isocenter", "daily_isocenter", "orientation"]
        + [f"known_{a}" for a in AXES]
    )
    for i, ((planning, daily, iso), known) in enumerate(zip(images, offsets, strict=True), start=1):
        row = [
            "phantom",
            f"{i:02d}",
            planning,
            daily,
            ",".join(f"{v:.4f}" for v in iso),
            "0,0,0",
            orientation,
        ]
        w.writerow(row + [f"{known[a]:.4f}" for a in AXES])
    atomic_write_text(path, buf.getvalue())


def commission(
    out_dir,
    offsets: list[dict],
    generator: Generator = Generator(),
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_start=None,
    on_row=None,
):
    """Make the daily images of ``offsets``, run them as a study in ``out_dir`` and return its outcome.

    Parameters
    ----------
    out_dir : str or Path
        Study folder: ``manifest.csv`` (generated), ``images/`` (user CT only), the study files.
    offsets : list of dict
        Known couch corrections (``lateral_mm`` ... ``roll_deg``, couch moves).
    generator : Generator
        The bundled phantom (``"demo"``, ``"tiny"``) or a planning CT with its isocenter.
    workers, scheduler, on_start, on_row
        As :func:`igrt.study.runner.run_study`; the images are made on the same cluster.

    Returns
    -------
    igrt.study.runner.StudyOutcome
    """
    check_offsets(offsets)
    if generator.planning is not None:
        if generator.isocenter_lps is None:
            raise IGRTInputError("a planning CT needs its isocenter (--isocenter x,y,z, LPS mm)")
        if not Path(generator.planning).exists():
            raise IGRTInputError(f"{generator.planning} does not exist")
        generator = dataclasses.replace(generator, planning=str(Path(generator.planning).resolve()))
    else:
        _phantom_spec(generator.phantom)
    out = Path(out_dir)
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    check_run_options(workers, scheduler)
    with dask_client(default_workers(workers, scheduler), scheduler) as connection:
        client = connection[0]
        # The first image is made here: it also makes the shared planning CT once. The rest are made on
        # the workers when there are many (each worker process loads RTK once, about 10 s of CPU).
        first = generate_daily(generator, offsets[0], 1, str(images_dir))
        rest = list(enumerate(offsets[1:], start=2))
        if len(offsets) > IMAGES_ON_WORKERS_ABOVE:
            futures = [
                client.submit(generate_daily, generator, k, i, str(images_dir), pure=False) for i, k in rest
            ]
            images = [first] + client.gather(futures)
        else:
            images = [first] + [generate_daily(generator, k, i, str(images_dir)) for i, k in rest]
        write_commission_manifest(out / "manifest.csv", images, offsets, generator.orientation)
        return run_study(
            read_manifest(out / "manifest.csv"), out, connection=connection, on_start=on_start, on_row=on_row
        )
