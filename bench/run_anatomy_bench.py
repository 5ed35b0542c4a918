"""Real-anatomy benchmark: our daily match per site against elastix and plastimatch, and its uncertainty.

Sites: ``abdomen`` (the real abdomen-pelvis patient CT of ../shared/data with kidney, bladder and bone
targets and its hard cases, ``igrt.synth.cases.anatomy_case_names()``), ``tg119`` (the real TG-119
CT) and ``pelvis`` (the drawn phantom). For every case, from the isocenter alignment and reading both
images inside the timing, it runs ours as a user would (``auto``) and its two candidates alone
(``bone``, ``soft``; with the case's target mask when it has one) and the peers (``elastix``,
``plastimatch`` from ``peers.py``, set up as in ``run_bench.py``). Per site: median and worst error
(mm at the isocenter, °), median time, our time ÷ elastix's, and for ours the calibration of
``quality.uncertainty``: how often the true error is inside the reported 95 % bound and which cases are
flagged.

    .venv/bin/python bench/run_anatomy_bench.py [--cases NAME,...] [--methods auto,bone,soft,elastix]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from metrics import rotation_error_deg, translation_error_mm  # noqa: E402
from peers import PEERS, warm_up  # noqa: E402
from run_bench import FAIL_DEG, FAIL_MM, image_size, prepare_cases  # noqa: E402

OURS = ("auto", "bone", "soft")
DEFAULT_METHODS = (*OURS, "elastix", "plastimatch")
#: A handful of cases per site (generation costs ~25 s a case, once).
DEFAULT_CASES = ("pelvis_m01", "pelvis_m06_lowdose", "tg119_01")


def site_of(case_name: str) -> str:
    return "abdomen" if case_name.startswith("abdo_") else case_name.split("_")[0]


def run_ours(case, method: str) -> dict:
    """One match of ours, reading both images inside the timing; the target mask when the case has one."""
    import SimpleITK as sitk

    from igrt.io.volumes import read_volume
    from igrt.registration.match import MatchOptions, run_match

    t0 = time.perf_counter()
    planning, daily = read_volume(case.planning_path), read_volume(case.daily_path)
    mask = None
    if case.target_mask_path is not None and method != "bone":
        mask = sitk.ReadImage(str(case.target_mask_path), sitk.sitkUInt8)
    options = MatchOptions(
        method=method,
        planning_isocenter_lps=tuple(float(v) for v in case.planning_isocenter_lps),
        daily_isocenter_lps=tuple(float(v) for v in case.daily_isocenter_lps),
        soft_mask=mask,
    )
    result = run_match(planning, daily, options)
    elapsed = time.perf_counter() - t0
    stages = ", ".join(
        f"{s['stage']}{' rejected' if s.get('rejected') else ''}{' chosen' if s.get('chosen') else ''}"
        for s in result.stages
    )
    return {
        "matrix": np.asarray(result.matrix_lps, float),
        "time_s": elapsed,
        "note": f"{stages}; match alone {result.elapsed_s:.2f} s" + (" (target mask)" if mask else ""),
        "uncertainty": result.quality.get("uncertainty"),
        "uncertainty_s": result.timings.get("uncertainty_s"),
    }


def run_peer(case, method: str, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    m, elapsed, note = PEERS[method](
        case.planning_path,
        case.daily_path,
        np.asarray(case.planning_isocenter_lps, float),
        case.daily_isocenter_lps,
        workdir,
    )
    return {
        "matrix": np.asarray(m, float),
        "time_s": elapsed,
        "note": note,
        "uncertainty": None,
        "uncertainty_s": None,
    }


def evaluate(case, method: str, workdir: Path) -> dict:
    iso = np.asarray(case.planning_isocenter_lps, float)
    row = {"case": case.name, "site": site_of(case.name), "method": method}
    try:
        out = run_ours(case, method) if method in OURS else run_peer(case, method, workdir / method)
    except Exception as exc:  # a failed run is a result of the benchmark
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        return row
    te = translation_error_mm(out["matrix"], case.matrix_lps, iso)
    re_ = rotation_error_deg(out["matrix"], case.matrix_lps)
    row.update(
        trans_err_mm=te,
        rot_err_deg=re_,
        time_s=out["time_s"],
        status="ok" if te <= FAIL_MM and re_ <= FAIL_DEG else "FAIL",
        note=out["note"],
        uncertainty=out["uncertainty"],
        uncertainty_s=out["uncertainty_s"],
        matrix_lps=out["matrix"].tolist(),
    )
    return row


def _median(v):
    return float(np.median(v)) if len(v) else None


def site_summary(rows: list[dict]) -> dict:
    """Per site and method: median/worst errors, failures, median time, median time ratio to elastix."""
    out: dict = {}
    for site in dict.fromkeys(r["site"] for r in rows):
        here = [r for r in rows if r["site"] == site]
        elastix = {r["case"]: r["time_s"] for r in here if r["method"] == "elastix" and "time_s" in r}
        for method in dict.fromkeys(r["method"] for r in here):
            mine = [r for r in here if r["method"] == method]
            done = [r for r in mine if r["status"] != "error"]
            te = [r["trans_err_mm"] for r in done]
            re_ = [r["rot_err_deg"] for r in done]
            ratios = [r["time_s"] / elastix[r["case"]] for r in done if r["case"] in elastix]
            s = {
                "cases": len(mine),
                "failures": sum(r["status"] != "ok" for r in mine),
                "median_mm": _median(te),
                "worst_mm": max(te) if te else None,
                "median_deg": _median(re_),
                "worst_deg": max(re_) if re_ else None,
                "median_s": _median([r["time_s"] for r in done]),
                "median_ratio_to_elastix": _median(ratios),
            }
            unc = [r for r in done if r.get("uncertainty")]
            if unc:
                s.update(calibration(unc))
            out.setdefault(site, {})[method] = s
    return out


def _bound(row: dict, key: str) -> float:
    """A reported 95 % bound (null in the JSON when the match could not give one: infinite)."""
    v = row["uncertainty"][key]
    return float("inf") if v is None else float(v)


def calibration(rows: list[dict]) -> dict:
    """How the reported 95 % bounds hold on these rows (true error inside, flags)."""
    covered = [
        r["trans_err_mm"] <= _bound(r, "translation_mm_95")
        and r["rot_err_deg"] <= _bound(r, "rotation_deg_95")
        for r in rows
    ]
    flagged = [bool(r["uncertainty"]["flag"]) for r in rows]
    big = [f for r, f in zip(rows, flagged, strict=True) if r["trans_err_mm"] > 1.0 or r["rot_err_deg"] > 1.0]
    small = [f for r, f in zip(rows, flagged, strict=True) if r["trans_err_mm"] < 0.5]
    return {
        "coverage": float(np.mean(covered)),
        "flagged": int(sum(flagged)),
        "errors_over_1mm": len(big),
        "errors_over_1mm_flagged": int(sum(big)),
        "flagged_under_0_5mm": int(sum(small)),
        "under_0_5mm": len(small),
        "median_bound_mm": _median([_bound(r, "translation_mm_95") for r in rows]),
        "median_bound_deg": _median([_bound(r, "rotation_deg_95") for r in rows]),
        "median_estimate_s": _median([r["uncertainty_s"] for r in rows]),
    }


def _f(v, d=3):
    return "—" if v is None else f"{v:.{d}f}"


def markdown(rows: list[dict], summary: dict) -> str:
    md = [
        "| case | method | trans err mm | rot err ° | time s | 95% bound mm / ° | flag | status |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        if r["status"] == "error":
            md.append(f"| {r['case']} | {r['method']} | | | | | | error: {r['error']} |")
            continue
        u = r.get("uncertainty")
        bound = f"{_bound(r, 'translation_mm_95'):.2f} / {_bound(r, 'rotation_deg_95'):.2f}" if u else ""
        flag = ("FLAG" if u["flag"] else "—") if u else ""
        md.append(
            f"| {r['case']} | {r['method']} | {r['trans_err_mm']:.3f} | {r['rot_err_deg']:.3f} | "
            f"{r['time_s']:.2f} | {bound} | {flag} | {r['status']} |"
        )
    md += [
        "",
        "| site | method | median mm | worst mm | median ° | worst ° | fail | median s | ÷ elastix | coverage | flagged | >1 mm flagged |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for site, methods in summary.items():
        for m, s in methods.items():
            cov = _f(s.get("coverage"), 2) if "coverage" in s else ""
            flg = f"{s['flagged']}/{s['cases']}" if "flagged" in s else ""
            big = f"{s['errors_over_1mm_flagged']}/{s['errors_over_1mm']}" if "flagged" in s else ""
            md.append(
                f"| {site} | {m} | {_f(s['median_mm'])} | {_f(s['worst_mm'])} | {_f(s['median_deg'])} | "
                f"{_f(s['worst_deg'])} | {s['failures']}/{s['cases']} | {_f(s['median_s'], 2)} | "
                f"{_f(s['median_ratio_to_elastix'], 2)} | {cov} | {flg} | {big} |"
            )
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    from igrt.synth.cases import anatomy_case_names, get_case

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", help="comma-separated case names (default: the abdomen cases + a few others)")
    ap.add_argument(
        "--methods", default=",".join(DEFAULT_METHODS), help=f"among {', '.join((*OURS, *PEERS))}"
    )
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for anatomy-<time>.{json,md}")
    args = ap.parse_args(argv)
    names = args.cases.split(",") if args.cases else [*anatomy_case_names(), *DEFAULT_CASES]
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in OURS and m not in PEERS]
    if unknown:
        ap.error(f"unknown method(s) {unknown}")
    print("building / loading cases (in a child process: RTK and elastix stay apart) ...", flush=True)
    prepare_cases(names, with_tiny=False)
    cases = [get_case(n) for n in names]
    if any(m.startswith("elastix") for m in methods):
        warm_up()
    run_ours(cases[0], "bone")  # warm-up of ours (first-call costs), not timed
    load_start = os.getloadavg()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"igrt-anatomy-{os.getpid()}"
    rows = []
    for case in cases:
        sizes = (image_size(case.planning_path), image_size(case.daily_path))
        for method in methods:
            row = evaluate(case, method, work / case.name)
            row["sizes"] = [list(s) for s in sizes]
            rows.append(row)
            if row["status"] == "error":
                print(f"  {case.name:<22} {method:<12} error: {row['error']}", flush=True)
                continue
            u = row.get("uncertainty")
            extra = (
                f"  95%: {_bound(row, 'translation_mm_95'):.2f} mm {_bound(row, 'rotation_deg_95'):.2f}°"
                + (" FLAG" if u["flag"] else "")
                if u
                else ""
            )
            print(
                f"  {case.name:<22} {method:<12} {row['trans_err_mm']:7.3f} mm {row['rot_err_deg']:6.3f}° "
                f"{row['time_s']:6.2f} s  {row['status']}{extra}",
                flush=True,
            )
    summary = site_summary(rows)
    text = markdown(rows, summary)
    print()
    print(text)
    print(f"load average at start {load_start}, at end {os.getloadavg()}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    payload = {"rows": rows, "summary": summary, "load_average": [load_start, os.getloadavg()]}
    (out / f"anatomy-{stamp}.json").write_text(json.dumps(payload, indent=2, default=str))
    (out / f"anatomy-{stamp}.md").write_text(text)
    print(f"written: {out / f'anatomy-{stamp}.md'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
