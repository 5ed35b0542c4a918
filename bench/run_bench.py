"""Accuracy and speed benchmark: our daily match against plastimatch, elastix and SimpleITK (docs/CONVENTIONS.md §5).

For every known-transform case (planning CT, simulated CBCT, true 4×4; ``igrt.synth.cases``) it runs
our match and each peer from the same isocenter alignment and reports, per case and as medians:

- translation error at the isocenter, |M_est(iso) − M_true(iso)| (mm);
- rotation error, the angle of R_est·R_trueᵀ (°), and the largest per-axis Euler difference (°);
- wall time (s) of the whole run, reading both images included;
- our time / the fastest peer's time among the peers under 1 mm on that case.

A run is a failure when its error exceeds 2 mm or 1°, or when it raises. Results go to stdout and, as
JSON and Markdown, to ``bench/results/`` (gitignored).

    .venv/bin/python bench/run_bench.py [--quick] [--cases NAME,...] [--peers ours,plastimatch,elastix,sitk]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import SimpleITK as sitk

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from metrics import euler_axis_error_deg, rotation_error_deg, translation_error_mm  # noqa: E402
from peers import DEFAULT_PEERS, ELASTIX, PEERS, PLASTIMATCH, thread_settings, warm_up  # noqa: E402

#: A run worse than this on a case is a failure.
FAIL_MM, FAIL_DEG = 2.0, 1.0
#: Peers count for the speed ratio only when they get under this on the case.
ACCURATE_MM = 1.0
#: Acceptance targets for ours (bench/README.md).
TARGETS = {
    "median_mm": 0.3,
    "median_deg": 0.1,
    "worst_mm": 0.5,
    "worst_deg": 0.2,
    "failures": 0,
    "time_ratio": 1.0 / 3.0,
    "full_size_s": 3.0,
}
FULL_SIZE = ((512, 512, 120), (270, 270, 200))


def run_ours(planning_path, daily_path, planning_iso, daily_iso, workdir):
    """Our daily match (method auto: bone then soft tissue), reading both images inside the timing."""
    from igrt.io.volumes import read_volume
    from igrt.registration.match import MatchOptions, run_match

    t0 = time.perf_counter()
    planning = read_volume(planning_path)
    daily = read_volume(daily_path)
    options = MatchOptions(
        method="auto",
        planning_isocenter_lps=tuple(float(v) for v in planning_iso),
        daily_isocenter_lps=tuple(float(v) for v in daily_iso),
    )
    result = run_match(planning, daily, options)
    elapsed = time.perf_counter() - t0
    stages = ", ".join(f"{s['stage']} {s['iterations']} its" for s in result.stages)
    note = f"igrt.registration.match.run_match(method=auto): {stages}; match alone {result.elapsed_s:.2f} s"
    return np.asarray(result.matrix_lps, float), elapsed, note


METHODS = {"ours": run_ours, **PEERS}


def warm_up_ours() -> None:
    """One small match so that first-call costs (imports inside functions, FFT plans) are not timed."""
    try:
        from igrt.synth.cases import tiny_case

        case = tiny_case()
        run_ours(
            case.planning_path, case.daily_path, case.planning_isocenter_lps, case.daily_isocenter_lps, None
        )
    except Exception as exc:  # warm-up is best effort
        print(f"note: warm-up of ours failed ({exc})", file=sys.stderr)


def prepare_cases(names: list[str], with_tiny: bool) -> None:
    """Build missing cases in a child process, so that this process only reads them from the cache.

    Generating a case runs RTK; with RTK loaded in the same process, a later itk-elastix registration
    was seen to spin forever (itk-rtk 2.7 / itk-elastix 0.25.4). A child process keeps them apart.
    """
    code = (
        "import sys\n"
        "from igrt.synth.cases import get_case, tiny_case\n"
        "for n in sys.argv[2:]:\n"
        "    get_case(n)\n"
        "if sys.argv[1] == '1':\n"
        "    tiny_case()\n"
    )
    subprocess.run([sys.executable, "-c", code, "1" if with_tiny else "0", *names], check=True)


def image_size(path) -> tuple:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return tuple(int(v) for v in reader.GetSize())


def tool_versions() -> dict:
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except Exception as exc:
            return f"unavailable ({exc})"

    info = {
        "plastimatch": first_line([PLASTIMATCH, "--version"]),
        "elastix_binary": first_line([ELASTIX, "--version"]),
        "SimpleITK": sitk.Version.VersionString(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    try:
        import itk

        info["itk"] = itk.__version__
        from importlib.metadata import version

        info["itk-elastix"] = version("itk-elastix")
    except Exception as exc:
        info["itk"] = f"unavailable ({exc})"
    return info


def evaluate(case, method: str, workdir: Path, repeat: int = 1) -> dict:
    """Run one method on one case ``repeat`` times: errors of the first run, time = best of the runs.

    The best of several wall times is the usual guard against other work on a shared machine; every
    time is kept in the row.
    """
    iso = np.asarray(case.planning_isocenter_lps, float)
    row = {"case": case.name, "method": method}
    times = []
    try:
        for i in range(max(1, repeat)):
            m_i, elapsed, note_i = METHODS[method](
                case.planning_path, case.daily_path, iso, case.daily_isocenter_lps, workdir / method
            )
            times.append(elapsed)
            if i == 0:
                m, note = m_i, note_i
    except Exception as exc:
        row.update(status="error", error=f"{type(exc).__name__}: {exc}", time_s=None)
        return row
    te = translation_error_mm(m, case.matrix_lps, iso)
    re_ = rotation_error_deg(m, case.matrix_lps)
    row.update(
        trans_err_mm=te,
        rot_err_deg=re_,
        axis_err_deg=euler_axis_error_deg(m, case.matrix_lps),
        time_s=min(times),
        times_s=times,
        status="ok" if te <= FAIL_MM and re_ <= FAIL_DEG else "FAIL",
        note=note,
        matrix_lps=np.asarray(m).tolist(),
    )
    return row


def _fmt(v, digits=2, width=8):
    return f"{'—':>{width}}" if v is None else f"{v:{width}.{digits}f}"


def case_ratio(rows: list[dict]) -> tuple[float | None, str | None]:
    """Our time / the fastest peer's time among the peers under 1 mm on this case."""
    ours = next((r for r in rows if r["method"] == "ours" and r.get("time_s")), None)
    peers = [
        r
        for r in rows
        if r["method"] != "ours" and r["status"] != "error" and r["trans_err_mm"] < ACCURATE_MM
    ]
    if ours is None or not peers:
        return None, None
    best = min(peers, key=lambda r: r["time_s"])
    return ours["time_s"] / best["time_s"], best["method"]


def summarise(rows: list[dict], methods: list[str]) -> dict:
    out = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        done = [r for r in mine if r["status"] != "error"]
        te = [r["trans_err_mm"] for r in done]
        re_ = [r["rot_err_deg"] for r in done]
        ts = [r["time_s"] for r in done]
        out[method] = {
            "cases": len(mine),
            "errors": len(mine) - len(done),
            "failures": sum(r["status"] != "ok" for r in mine),
            "median_mm": float(np.median(te)) if te else None,
            "worst_mm": float(np.max(te)) if te else None,
            "median_deg": float(np.median(re_)) if re_ else None,
            "worst_deg": float(np.max(re_)) if re_ else None,
            "median_axis_deg": float(np.median([r["axis_err_deg"] for r in done])) if done else None,
            "median_time_s": float(np.median(ts)) if ts else None,
        }
    return out


def table_lines(rows_by_case: dict, summary: dict, methods: list[str]) -> list[str]:
    head = f"{'case':<20} {'method':<12} {'trans mm':>8} {'rot °':>8} {'axis °':>8} {'time s':>8}  status"
    lines = [head, "-" * len(head)]
    for case_name, rows in rows_by_case.items():
        for i, r in enumerate(rows):
            name = case_name if i == 0 else ""
            if r["status"] == "error":
                lines.append(
                    f"{name:<20} {r['method']:<12} {'':>8} {'':>8} {'':>8} {'':>8}  error: {r['error']}"
                )
                continue
            lines.append(
                f"{name:<20} {r['method']:<12} {_fmt(r['trans_err_mm'], 3)} {_fmt(r['rot_err_deg'], 3)} "
                f"{_fmt(r['axis_err_deg'], 3)} {_fmt(r['time_s'])}  {r['status']}"
            )
        ratio, best = case_ratio(rows)
        if ratio is not None:
            lines.append(f"{'':<20} {'ratio':<12} ours / {best} = {ratio:.2f}")
    lines.append("")
    lines.append(
        f"{'summary':<12} {'med mm':>8} {'worst mm':>8} {'med °':>8} {'worst °':>8} {'med ax°':>8} "
        f"{'med s':>8} {'fail':>6}"
    )
    for method in methods:
        s = summary[method]
        lines.append(
            f"{method:<12} {_fmt(s['median_mm'], 3)} {_fmt(s['worst_mm'], 3)} {_fmt(s['median_deg'], 3)} "
            f"{_fmt(s['worst_deg'], 3)} {_fmt(s['median_axis_deg'], 3)} {_fmt(s['median_time_s'])} "
            f"{s['failures']:>3}/{s['cases']}"
        )
    return lines


def acceptance(summary: dict, rows_by_case: dict, full_size_times: dict) -> tuple[list[str], dict]:
    """Check ours against the targets of bench/README.md; lines to print and the figures."""
    lines, figures = [], {}
    ours = summary.get("ours")
    if not ours:
        return ["(ours not run: no acceptance check)"], figures
    ratios = [case_ratio(rows)[0] for rows in rows_by_case.values()]
    ratios = [r for r in ratios if r is not None]
    accurate_peers = {
        m: s["median_time_s"]
        for m, s in summary.items()
        if m != "ours" and s["median_mm"] is not None and s["median_mm"] < ACCURATE_MM
    }
    fastest = min(accurate_peers, key=accurate_peers.get) if accurate_peers else None
    ratio_of_medians = (
        ours["median_time_s"] / accurate_peers[fastest] if fastest and ours["median_time_s"] else None
    )
    figures.update(
        median_case_ratio=float(np.median(ratios)) if ratios else None,
        ratio_of_medians=ratio_of_medians,
        fastest_accurate_peer=fastest,
        full_size_s=full_size_times,
    )

    def check(label, value, target, fmt="{:.3f}"):
        if value is None:
            lines.append(f"  {label}: n/a (target {fmt.format(target)})")
            return
        ok = value <= target
        lines.append(
            f"  {label}: {fmt.format(value)} (target ≤ {fmt.format(target)})  {'PASS' if ok else 'MISS'}"
        )

    lines.append("acceptance (ours):")
    check("median translation error mm", ours["median_mm"], TARGETS["median_mm"])
    check("median rotation error °", ours["median_deg"], TARGETS["median_deg"])
    check("worst translation error mm", ours["worst_mm"], TARGETS["worst_mm"])
    check("worst rotation error °", ours["worst_deg"], TARGETS["worst_deg"])
    check("failures", ours["failures"], TARGETS["failures"], "{:d}")
    check(
        f"median time / median time of fastest peer under {ACCURATE_MM:g} mm ({fastest})",
        ratio_of_medians,
        TARGETS["time_ratio"],
        "{:.2f}",
    )
    check(
        "median over cases of (our time / fastest accurate peer)",
        figures["median_case_ratio"],
        TARGETS["time_ratio"],
        "{:.2f}",
    )
    for name, t in full_size_times.items():
        check(
            f"full-size case {name} (CT 512×512×120 → CBCT 270×270×200) our wall time s",
            t,
            TARGETS["full_size_s"],
            "{:.2f}",
        )
    if not full_size_times:
        lines.append("  full-size case (CT 512×512×120 → CBCT 270×270×200): not in this run")
    return lines, figures


def markdown(meta: dict, rows_by_case: dict, summary: dict, methods: list[str], acc_lines: list[str]) -> str:
    md = [f"# Benchmark {meta['started']}", "", f"Threads: `{json.dumps(meta['threads'])}`", ""]
    md += [f"Versions: `{json.dumps(meta['versions'])}`", ""]
    md += [
        "| case | method | trans err mm | rot err ° | max axis ° | time s | status |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for case_name, rows in rows_by_case.items():
        for r in rows:
            if r["status"] == "error":
                md.append(f"| {case_name} | {r['method']} | | | | | error: {r['error']} |")
            else:
                md.append(
                    f"| {case_name} | {r['method']} | {r['trans_err_mm']:.3f} | {r['rot_err_deg']:.3f} | "
                    f"{r['axis_err_deg']:.3f} | {r['time_s']:.2f} | {r['status']} |"
                )
        ratio, best = case_ratio(rows)
        if ratio is not None:
            md.append(f"| {case_name} | ratio ours/{best} | | | | {ratio:.2f} | |")
    md += [
        "",
        "| method | median mm | worst mm | median ° | worst ° | median s | failures |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in methods:
        s = summary[m]
        cells = [_fmt(s[k], 3, 0) for k in ("median_mm", "worst_mm", "median_deg", "worst_deg")]
        md.append(
            f"| {m} | {' | '.join(cells)} | {_fmt(s['median_time_s'], 2, 0)} | {s['failures']}/{s['cases']} |"
        )
    md += ["", "```", *acc_lines, "```", "", "## What each method ran", ""]
    notes = {}
    for rows in rows_by_case.values():
        for r in rows:
            notes.setdefault(r["method"], r.get("note") or r.get("error"))
    md += [f"- **{m}**: {notes.get(m)}" for m in methods]
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=None, help="comma-separated case names (default: all bench cases)")
    ap.add_argument(
        "--peers",
        default=",".join(("ours", *DEFAULT_PEERS)),
        help=f"comma-separated methods among: {', '.join(METHODS)}",
    )
    ap.add_argument("--quick", action="store_true", help="only the first 3 cases")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per method and case; the time is the best of them (default 1)",
    )
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON and Markdown results")
    ap.add_argument(
        "--workdir", default=None, help="keep the peers' files here (default: a temporary folder)"
    )
    args = ap.parse_args(argv)

    from igrt.synth.cases import bench_case_names, get_case

    methods = [m.strip() for m in args.peers.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown method(s): {', '.join(unknown)}; known: {', '.join(METHODS)}")
    names = [n.strip() for n in args.cases.split(",")] if args.cases else bench_case_names()
    if args.quick:
        names = names[:3]

    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "threads": thread_settings(),
        "versions": tool_versions(),
        "cases": names,
        "methods": methods,
        "repeat": args.repeat,
        "load_average_at_start": os.getloadavg(),
        "fail_if": f"translation error > {FAIL_MM} mm or rotation error > {FAIL_DEG}°, or an exception",
    }
    print(f"threads (defaults, nothing overridden): {meta['threads']}; time = best of {args.repeat} run(s)")
    print(f"versions: {meta['versions']}")

    print("building / loading cases ...", flush=True)
    prepare_cases(names, with_tiny="ours" in methods)
    cases = []
    for name in names:
        t0 = time.perf_counter()
        case = get_case(name)
        sizes = (image_size(case.planning_path), image_size(case.daily_path))
        cases.append((case, sizes))
        print(
            f"  {name}: CT {'×'.join(map(str, sizes[0]))} → CBCT {'×'.join(map(str, sizes[1]))} "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )

    print("warming up (imports, elastix, one tiny match; not timed) ...", flush=True)
    if any(m.startswith("elastix") for m in methods):
        warm_up()
    if "ours" in methods:
        warm_up_ours()

    tmp = None
    if args.workdir:
        workroot = Path(args.workdir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="igrt-bench-")
        workroot = Path(tmp.name)
    rows_by_case: dict[str, list[dict]] = {}
    full_size_times: dict[str, float] = {}
    for case, sizes in cases:
        rows = []
        for method in methods:
            row = evaluate(case, method, workroot / case.name, args.repeat)
            row["sizes"] = [list(s) for s in sizes]
            rows.append(row)
            status = row["status"] if row["status"] != "error" else f"error ({row['error']})"
            err = (
                f"{row['trans_err_mm']:.3f} mm {row['rot_err_deg']:.3f}°" if row["status"] != "error" else ""
            )
            print(f"  {case.name:<20} {method:<12} {err:<20} {_fmt(row['time_s'])} s  {status}", flush=True)
        rows_by_case[case.name] = rows
        if sizes == FULL_SIZE:
            ours = next((r for r in rows if r["method"] == "ours" and r.get("time_s")), None)
            if ours:
                full_size_times[case.name] = ours["time_s"]
    if tmp is not None:
        tmp.cleanup()

    meta["load_average_at_end"] = os.getloadavg()
    print(
        f"load average (1, 5, 15 min): start {meta['load_average_at_start']}, end {meta['load_average_at_end']}"
    )
    summary = summarise([r for rows in rows_by_case.values() for r in rows], methods)
    lines = table_lines(rows_by_case, summary, methods)
    acc_lines, figures = acceptance(summary, rows_by_case, full_size_times)
    print()
    print("\n".join(lines))
    print()
    for name, t in full_size_times.items():
        print(f"full-size case {name}: CT 512×512×120 vs CBCT 270×270×200, our wall time {t:.2f} s")
    print("\n".join(acc_lines))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    payload = {
        "meta": meta,
        "rows": rows_by_case,
        "summary": summary,
        "acceptance": {"targets": TARGETS, **figures, "lines": acc_lines},
    }
    for stem in (f"bench-{stamp}", "latest"):
        (out / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=str))
        (out / f"{stem}.md").write_text(markdown(meta, rows_by_case, summary, methods, acc_lines))
    print(f"\nwritten: {out / f'bench-{stamp}.json'} and .md (also latest.json / latest.md)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
