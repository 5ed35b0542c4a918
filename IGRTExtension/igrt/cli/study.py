"""`igrt study run MANIFEST --out DIR [--workers N | --scheduler ADDRESS]`: parse, run the study, print, write."""

from __future__ import annotations

import sys

from igrt.cli.common import say
from igrt.cli.outputs import check_outputs
from igrt.cli.review import add_protocol_arguments, protocol_options
from igrt.review.workflow import check_review_options, review
from igrt.study.manifest import read_manifest
from igrt.study.runner import check_run_options, run_study


def add_parser(sub) -> None:
    s = sub.add_parser("study", help="many fractions and patients: run a manifest on Dask")
    ssub = s.add_subparsers(dest="study_command", required=True, parser_class=type(s))
    r = ssub.add_parser(
        "run",
        help="match → shift every fraction of a manifest (CSV) on an embedded or an existing Dask cluster",
    )
    r.add_argument(
        "manifest",
        help="CSV, one row per fraction: patient, fraction, planning, daily [, plan, isocenter, daily_isocenter, "
        "method, orientation, couch, max_rotation, target_mask, known_lateral_mm ... known_roll_deg]; "
        "paths relative to the manifest",
    )
    r.add_argument(
        "--out", required=True, help="study folder: fractions/, study.csv, stats.json, report.html"
    )
    add_cluster_arguments(r)
    r.add_argument("--retries", type=int, default=2, help="Dask retries of a task that raises (default 2)")
    add_protocol_arguments(r)
    r.set_defaults(func=run)


def add_cluster_arguments(p) -> None:
    """``--workers N`` (embedded cluster) or ``--scheduler ADDRESS`` (existing cluster), one of them."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, help="worker processes of the embedded local cluster (default 2)"
    )
    where.add_argument("--scheduler", help="address of an existing Dask scheduler, tcp://HOST:PORT")


class Progress:
    """A tqdm bar on stderr (count, rate, ETA); silent when stderr is not a terminal."""

    def __init__(self):
        self.bar = None
        self.ok = self.failed = 0

    def start(self, to_run: int, skipped: int, cluster: str) -> None:
        from tqdm import tqdm

        say(f"{to_run} fraction(s) to run, {skipped} already done; {cluster}")
        if to_run:
            self.bar = tqdm(total=to_run, unit="fraction", file=sys.stderr, disable=None, dynamic_ncols=True)

    def row(self, row: dict) -> None:
        self.ok += row["status"] == "ok"
        self.failed += row["status"] != "ok"
        if self.bar is not None:
            self.bar.set_postfix(ok=self.ok, failed=self.failed, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def with_progress(run, *args, **kwargs):
    """Call a study runner (``run_study``, ``commission``) with the progress bar; list the failures."""
    progress = Progress()
    try:
        outcome = run(*args, on_start=progress.start, on_row=progress.row, **kwargs)
    finally:
        progress.close()
    for row in outcome.rows:
        if row["status"] != "ok":
            say(f"failed: {row['patient']}/{row['fraction']}: {row['reason']}")
    return outcome


def run(args) -> int:
    options = protocol_options(args)
    check_review_options(**options)  # before anything runs, not after the study
    check_run_options(args.workers, args.scheduler)
    check_outputs([("MANIFEST", args.manifest)], folders=[("--out", args.out)])
    manifest = read_manifest(args.manifest)  # refuses a bad manifest (exit 2) before anything runs
    outcome = with_progress(
        run_study, manifest, args.out, workers=args.workers, scheduler=args.scheduler, retries=args.retries
    )
    if outcome.ok:
        stats = review(outcome.study_csv, stats_out=f"{args.out}/stats.json", report_dir=args.out, **options)
        known = stats.get("known_shift")
        if known:
            say(f"known shifts: {'PASS' if known['pass'] else 'FAIL'} over {known['fractions']} fraction(s)")
    skipped = f" ({outcome.skipped} already done)" if outcome.skipped else ""
    say(
        f"{outcome.ok} ok, {outcome.failed} failed in {outcome.wall_s:.1f} s{skipped}; wrote {outcome.study_csv}"
    )
    if outcome.interrupted:
        say("interrupted: the finished fractions are kept; run the same command again to do the rest")
        return 130
    return 0
