"""Scale of the studies (issue 12): review speed, Dask parallel efficiency, an external cluster, a killed worker.

    .venv/bin/python bench/run_study_bench.py [--fractions 40] [--external 12] [--out bench/out/study]

1. ``review``: statistics and all protocols on 10,000 fractions (400 patients × 25; simulated set-up
   errors, Σ = 2 mm and σ = 1.5 mm per axis) — target under 1 s; the recovered Σ and σ are printed.
2. ``parallel``: a study of N fractions of the bundled demo phantom on an embedded cluster of 2 worker
   processes: parallel efficiency = Σ single-fraction times / (2 × wall time of the tasks) — target ≥ 80 %.
3. ``external``: the first M fractions on a separately started ``dask scheduler`` + 2 ``dask worker``
   processes (loopback); one worker process is killed (SIGKILL) after the first fraction is done; the
   study must still complete every fraction and give the same ``study.csv`` as the embedded cluster
   (elapsed times aside).
It also writes the README picture (the review report of a simulated 12-patient clinic table).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "IGRTExtension"))

from igrt.review.stats_json import review_statistics  # noqa: E402
from igrt.review.table import read_shift_table  # noqa: E402
from igrt.review.workflow import review  # noqa: E402
from igrt.study.manifest import read_manifest  # noqa: E402
from igrt.study.runner import run_study  # noqa: E402

AXES = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")


def simulated_table(path: Path, patients: int, fractions: int, seed: int = 0) -> None:
    """Couch corrections (couch moves) of patients with Σ = 2 mm, σ = 1.5 mm (0.7°, 0.5° for rotations)."""
    rng = np.random.default_rng(seed)
    scale_sys = np.array([2.0, 2.0, 2.0, 0.7, 0.7, 0.7])
    scale_rand = np.array([1.5, 1.5, 1.5, 0.5, 0.5, 0.5])
    systematic = rng.normal(0, 1, (patients, 1, 6)) * scale_sys
    errors = systematic + rng.normal(0, 1, (patients, fractions, 6)) * scale_rand
    lines = ["patient,fraction," + ",".join(AXES)]
    for p in range(patients):
        for f in range(fractions):
            lines.append(f"P{p:03d},{f + 1}," + ",".join(f"{-v:.3f}" for v in errors[p, f]))
    path.write_text("\n".join(lines) + "\n")


def bench_review(out: Path) -> None:
    path = out / "review_10000.csv"
    simulated_table(path, 400, 25)
    t0 = time.perf_counter()
    table = read_shift_table(path)
    t1 = time.perf_counter()
    stats = review_statistics(table)
    t2 = time.perf_counter()
    lat = stats["axes"]["lateral"]
    print(
        f"review: {stats['fractions']} fractions, {stats['patients']} patients: read {t1 - t0:.3f} s, statistics "
        f"and 5 protocols {t2 - t1:.3f} s (target < 1 s); lateral Σ {lat['Sigma_mm']:.2f} (2.0), σ {lat['sigma_mm']:.2f} "
        f"(1.5), van Herk {lat['margin_van_herk_mm']:.2f} mm; NAL residual Σ "
        f"{stats['protocols']['NAL']['axes']['lateral']['Sigma_mm']:.2f} mm"
    )
    picture = out / "review_12_patients"
    simulated_table(out / "clinic_12.csv", 12, 25, seed=3)
    review(out / "clinic_12.csv", stats_out=picture / "stats.json", report_dir=picture)
    shots = REPO / "Resources" / "Screenshots"
    shutil.copy(picture / "shift_history.png", shots / "study-shift-history.png")
    print(f"picture: {shots / 'study-shift-history.png'} (report {picture / 'report.html'})")


def demo_manifest(path: Path, n: int) -> None:
    from igrt.synth.cases import demo_case

    case = demo_case()
    iso = ",".join(f"{v:.4f}" for v in case.planning_isocenter_lps)
    lines = ["patient,fraction,planning,daily,isocenter,daily_isocenter,orientation"]
    for i in range(n):
        lines.append(
            f'P{i // 10:02d},{i % 10 + 1},{case.planning_path},{case.daily_path},"{iso}","0,0,0",HFS'
        )
    path.write_text("\n".join(lines) + "\n")


def _rows(path: Path) -> list:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.pop("elapsed_s")
    return rows


def bench_parallel(out: Path, n: int) -> Path:
    manifest = out / f"manifest_{n}.csv"
    demo_manifest(manifest, n)
    folder = out / "embedded"
    shutil.rmtree(folder, ignore_errors=True)
    started = {}
    outcome = run_study(
        read_manifest(manifest),
        folder,
        workers=2,
        on_start=lambda *a: started.setdefault("t", time.perf_counter()),
    )
    end = time.perf_counter()
    tasks_wall = end - started["t"]
    single = sum(float(r["elapsed_s"]) for r in outcome.rows)
    print(
        f"parallel: {outcome.ok} ok, {outcome.failed} failed; wall {outcome.wall_s:.1f} s (tasks {tasks_wall:.1f} s, "
        f"cluster start {outcome.wall_s - tasks_wall:.1f} s); Σ single-fraction {single:.1f} s; efficiency "
        f"{single / (2 * tasks_wall):.0%} of the tasks' wall ({single / (2 * outcome.wall_s):.0%} with the start); "
        f"{outcome.ok / tasks_wall:.2f} fractions/s; load average {os.getloadavg()[0]:.1f}"
    )
    return folder / "study.csv"


def bench_external(out: Path, n: int, embedded_csv: Path) -> None:
    import psutil

    manifest = out / f"manifest_{n}.csv"
    demo_manifest(manifest, n)
    folder = out / "external"
    shutil.rmtree(folder, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp())
    sched_file = tmp / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "IGRTExtension")}
    procs = [
        subprocess.Popen(
            [
                *dask,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                ":0",
                "--scheduler-file",
                str(sched_file),
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(100):
            if sched_file.is_file():
                break
            time.sleep(0.2)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        "--scheduler-file",
                        str(sched_file),
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                    ],
                    env=env,
                    stderr=subprocess.DEVNULL,
                )
            )
        import json

        from distributed import Client

        address = json.loads(sched_file.read_text())["address"]
        with Client(address) as c:
            c.wait_for_workers(2, timeout=60)
        killed = {}

        def kill_one(row):
            if not killed:
                victim = procs[1]
                for child in psutil.Process(victim.pid).children(recursive=True):
                    child.kill()
                victim.send_signal(signal.SIGKILL)
                killed["at"] = time.perf_counter()

        t0 = time.perf_counter()
        outcome = run_study(read_manifest(manifest), folder, scheduler=address, on_row=kill_one)
        same = _rows(folder / "study.csv") == _rows(embedded_csv)[:n]
        print(
            f"external: dask scheduler + 2 dask workers on loopback, one worker killed (SIGKILL) after the first "
            f"fraction: {outcome.ok} ok, {outcome.failed} failed of {n} in {time.perf_counter() - t0:.1f} s; "
            f"study.csv the same as the embedded cluster's: {same}"
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fractions", type=int, default=40)
    ap.add_argument("--external", type=int, default=12)
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "study"))
    ap.add_argument("--only", choices=("review", "parallel", "external"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "review"):
        bench_review(out)
    if args.only in (None, "parallel", "external"):
        embedded = bench_parallel(out, args.fractions)
        if args.only in (None, "external"):
            bench_external(out, min(args.external, args.fractions), embedded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
