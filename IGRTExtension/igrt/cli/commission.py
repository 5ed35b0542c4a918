"""`igrt commission --out DIR [...]`: known couch offsets → generated CBCTs → study → applied vs measured report."""

from __future__ import annotations

from igrt.cli.common import ORIENTATION_HELP, point, say
from igrt.cli.outputs import check_outputs
from igrt.cli.study import add_cluster_arguments, with_progress
from igrt.review.workflow import check_review_options, review
from igrt.study.commission import Generator, commission, default_offsets, quick_offsets, read_offsets
from igrt.study.runner import check_run_options


def add_parser(sub) -> None:
    c = sub.add_parser(
        "commission",
        help="known-shift test: apply known couch offsets to the bundled phantom (or your CT), image, match, report",
    )
    c.add_argument(
        "--out", required=True, help="folder: manifest.csv, fractions/, study.csv, stats.json, report.html"
    )
    src = c.add_mutually_exclusive_group()
    src.add_argument(
        "--phantom", choices=("demo", "tiny"), help="bundled phantom (default demo; tiny: quick)"
    )
    src.add_argument(
        "--planning", help="your planning CT (DICOM folder or volume file) instead of the phantom"
    )
    c.add_argument("--isocenter", type=point, help="isocenter of --planning, x,y,z (DICOM LPS mm)")
    c.add_argument("--orientation", default="HFS", help=ORIENTATION_HELP + " (default HFS)")
    offs = c.add_mutually_exclusive_group()
    offs.add_argument(
        "--offsets", help="CSV of known couch offsets: known_lateral_mm ... known_roll_deg (couch moves)"
    )
    offs.add_argument(
        "--quick", action="store_true", help="4 offsets instead of the 34 TG-142/MPPG-style ones"
    )
    c.add_argument("--sbrt", action="store_true", help="SRS/SBRT tolerance 1 mm / 0.5° instead of 2 mm / 1°")
    c.add_argument("--tolerance-mm", type=float, help="largest |measured − known| per translation axis (mm)")
    c.add_argument(
        "--tolerance-deg", type=float, help="largest |measured − known| per rotation axis (degrees)"
    )
    add_cluster_arguments(c)
    c.set_defaults(func=run)


def run(args) -> int:
    from igrt import patient_position

    tol_mm = args.tolerance_mm if args.tolerance_mm is not None else (1.0 if args.sbrt else 2.0)
    tol_deg = args.tolerance_deg if args.tolerance_deg is not None else (0.5 if args.sbrt else 1.0)
    check_review_options(3, 5, 9.0, 2, tol_mm, tol_deg)
    check_run_options(args.workers, args.scheduler)
    check_outputs([("--planning", args.planning), ("--offsets", args.offsets)], folders=[("--out", args.out)])
    if args.isocenter is not None and args.planning is None:
        from igrt.errors import IGRTInputError

        raise IGRTInputError("--isocenter goes with --planning (the phantom's isocenter is known)")
    offsets = (
        read_offsets(args.offsets) if args.offsets else (quick_offsets() if args.quick else default_offsets())
    )
    generator = Generator(
        phantom=args.phantom or "demo",
        planning=args.planning,
        isocenter_lps=args.isocenter,
        orientation=patient_position.normalise(args.orientation),
    )
    say(
        f"{len(offsets)} known offset(s); making the daily images ({'your CT' if args.planning else generator.phantom + ' phantom'})"
    )
    outcome = with_progress(
        commission, args.out, offsets, generator, workers=args.workers, scheduler=args.scheduler
    )
    say(f"{outcome.ok} ok, {outcome.failed} failed in {outcome.wall_s:.1f} s")
    if not outcome.ok:
        say("no fraction matched: no known-shift report")
        return 1
    stats = review(
        outcome.study_csv,
        stats_out=f"{args.out}/stats.json",
        report_dir=args.out,
        tolerance_mm=tol_mm,
        tolerance_deg=tol_deg,
    )
    known = stats["known_shift"]
    say(f"known shift, error = measured − known (couch moves), tolerance {tol_mm:g} mm / {tol_deg:g}°:")
    for axis, a in known["axes"].items():
        sd = "–" if a["sd"] is None else f"{a['sd']:.2f}"
        say(
            f"  {axis:>16s}: mean {a['mean']:+.2f}  SD {sd}  max |e| {a['max_abs']:.2f}  "
            f"p95 |e| {a['p95_abs']:.2f}  {'pass' if a['pass'] else 'FAIL'}"
        )
    passed = known["pass"] and not outcome.failed
    say(f"commissioning {'PASS' if passed else 'FAIL'}; wrote {args.out}/report.html")
    return 0 if passed else 1
