"""Soft-tissue benchmark: the prostate moved against the bone, found by the soft-tissue match?

For every soft case (``igrt.synth.cases.soft_case_names()``: pelvis phantom, a set-up displacement of
up to 15 mm and 3°, and the prostate moved 5–6 mm against the bone with its 3 gold markers, the tissue
around it deformed smoothly, CBCT with noise, scatter and a poor HU scale) it runs, from the same
isocenter alignment and reading the images inside the timing:

- ``bone``: the bone match alone (sees the set-up, not the prostate's motion);
- ``auto``: bone, then the soft-tissue refinement on the prostate mask (what a user runs);
- ``soft``: the soft-tissue match on the prostate mask alone (6 DOF, from the isocenters);
- ``markers``: the markers detected in both images and matched (what a clinic trusts for the prostate).

Error: translation error at the prostate centre against where the prostate went (mm). The bone match's
error is about the prostate's own shift, by construction. ``--soft-high-pass 12,24`` repeats ``auto``
and ``soft`` for each soft-tissue high-pass sigma (mm) in one run.

    .venv/bin/python bench/run_soft_bench.py [--cases NAME,...] [--soft-high-pass S,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import SimpleITK as sitk

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from metrics import translation_error_mm  # noqa: E402

#: What the soft-tissue match should reach on these cases: the marker match's accuracy class.
TARGET_MEDIAN_MM = 0.5


def _match(case, method: str, soft_sigma: float | None):
    from igrt.io.volumes import read_volume
    from igrt.registration.match import MatchOptions, run_match
    from igrt.registration.rigid import RegistrationSettings

    t0 = time.perf_counter()
    planning, daily = read_volume(case.planning_path), read_volume(case.daily_path)
    settings = RegistrationSettings()
    if soft_sigma is not None:
        settings = dataclasses.replace(settings, soft_high_pass_mm=soft_sigma)
    mask = sitk.ReadImage(str(case.target_mask_path), sitk.sitkUInt8) if method != "bone" else None
    options = MatchOptions(
        method=method,
        planning_isocenter_lps=tuple(case.planning_isocenter_lps),
        daily_isocenter_lps=tuple(case.daily_isocenter_lps),
        soft_mask=mask,
        settings=settings,
    )
    result = run_match(planning, daily, options)
    note = ", ".join(f"{s['stage']}{' rejected' if s.get('rejected') else ''}" for s in result.stages)
    return np.asarray(result.matrix_lps, float), time.perf_counter() - t0, note


def _markers(case):
    from igrt.markers.detect import detect_markers
    from igrt.markers.match import marker_result_from_points

    t0 = time.perf_counter()
    found = {}
    for key, path in (("planning", case.planning_path), ("daily", case.daily_path)):
        found[key] = np.array([p for p, _ in detect_markers(sitk.ReadImage(str(path), sitk.sitkFloat32))])
    r = marker_result_from_points(
        found["planning"], found["daily"], case.planning_isocenter_lps, case.daily_isocenter_lps
    )
    return np.asarray(r["matrix_lps"], float), time.perf_counter() - t0, f"{len(found['daily'])} markers"


def run_case(name: str, sigmas: list) -> list[dict]:
    from igrt.synth.cases import get_case

    case = get_case(name)
    center = np.asarray(case.planning_isocenter_lps, float)
    runs = [("bone", lambda: _match(case, "bone", None)), ("markers", lambda: _markers(case))]
    for s in sigmas:
        tag = "" if len(sigmas) == 1 else f" σ{s:g}"
        runs += [
            (f"auto{tag}", lambda s=s: _match(case, "auto", s)),
            (f"soft{tag}", lambda s=s: _match(case, "soft", s)),
        ]
    rows = []
    for method, run in runs:
        try:
            m, seconds, note = run()
        except Exception as exc:  # a failed match is a result of the benchmark, not a crash
            rows.append({"case": name, "method": method, "error": f"{exc.__class__.__name__}: {exc}"})
            continue
        rows.append(
            {
                "case": name,
                "method": method,
                "target_error_mm": round(translation_error_mm(m, case.target_matrix_lps, center), 3),
                "setup_error_mm": round(translation_error_mm(m, case.matrix_lps, center), 3),
                "time_s": round(seconds, 2),
                "note": note,
            }
        )
        print(f"  {name:8s} {method:10s} " + _cells(rows[-1]), flush=True)
    return rows


def _cells(row) -> str:
    if "error" in row:
        return f"FAILED ({row['error']})"
    return f"{row['target_error_mm']:7.3f} mm  {row['time_s']:5.2f} s  ({row['note']})"


def summarize(rows) -> dict:
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        ok = [r for r in rows if r["method"] == method and "error" not in r]
        errs = np.array([r["target_error_mm"] for r in ok])
        out[method] = {
            "median_mm": round(float(np.median(errs)), 3) if errs.size else None,
            "worst_mm": round(float(errs.max()), 3) if errs.size else None,
            "median_s": round(float(np.median([r["time_s"] for r in ok])), 2) if ok else None,
            "failures": sum(1 for r in rows if r["method"] == method and "error" in r),
        }
    return out


def markdown(rows, summary, shifts) -> str:
    lines = [
        "| case | prostate shift mm | method | error at the prostate mm | time s | stages |",
        "|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {shifts[r['case']]} | {r['method']} | FAILED | | {r['error']} |")
        else:
            lines.append(
                f"| {r['case']} | {shifts[r['case']]} | {r['method']} | {r['target_error_mm']:.3f} "
                f"| {r['time_s']:.2f} | {r['note']} |"
            )
    lines += ["", "| method | median mm | worst mm | median s | failures |", "|---|---:|---:|---:|---:|"]
    for method, s in summary.items():
        lines.append(f"| {method} | {s['median_mm']} | {s['worst_mm']} | {s['median_s']} | {s['failures']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from igrt.synth.cases import soft_case_names
    from igrt.synth.recipes import SOFT_SPECS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", help="comma-separated case names (default: all soft cases)")
    ap.add_argument("--soft-high-pass", default="", help="soft-tissue high-pass sigmas (mm) to compare")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for soft-<time>.json/.md")
    args = ap.parse_args(argv)
    names = args.cases.split(",") if args.cases else soft_case_names()
    sigmas = [float(v) for v in args.soft_high_pass.split(",") if v] or [None]
    shifts = {s.name: s.organ_shift_mm for s in SOFT_SPECS}
    rows = []
    for name in names:
        print(f"{name}: prostate moved {shifts.get(name)} mm against the bone", flush=True)
        rows += run_case(name, sigmas)
    summary = summarize(rows)
    text = markdown(rows, summary, shifts)
    print()
    print(text)
    auto = summary.get("auto") or next((v for k, v in summary.items() if k.startswith("auto")), None)
    if auto and auto["median_mm"] is not None:
        verdict = "PASS" if auto["median_mm"] <= TARGET_MEDIAN_MM and not auto["failures"] else "MISS"
        print(
            f"\n{verdict}: auto median {auto['median_mm']} mm at the prostate (target ≤ {TARGET_MEDIAN_MM})"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (out / f"soft-{stamp}.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    (out / f"soft-{stamp}.md").write_text(text + "\n")
    print(f"\nwritten: {out / f'soft-{stamp}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
