"""`igrt review TABLE --out STATS.json [--report DIR]`: parse, run the review workflow, print, write."""

from __future__ import annotations

from igrt.cli.common import say
from igrt.cli.outputs import check_outputs
from igrt.review.workflow import review


def add_protocol_arguments(p) -> None:
    """Options shared by the verbs that review a table (``review``, ``study run``)."""
    p.add_argument("--nal-fractions", type=int, default=3, help="NAL/eNAL: fractions imaged first (N_m, 3)")
    p.add_argument("--enal-period", type=int, default=5, help="eNAL: weekly image every P fractions (5)")
    p.add_argument("--sal-alpha", type=float, default=9.0, help="SAL: initial action level α in mm (9)")
    p.add_argument("--sal-nmax", type=int, default=2, help="SAL: N_max measurements without action (2)")
    p.add_argument(
        "--tolerance-mm", type=float, default=2.0, help="known-shift pass limit and plot band (mm, 2)"
    )
    p.add_argument("--tolerance-deg", type=float, default=1.0, help="known-shift pass limit (degrees, 1)")


def protocol_options(args) -> dict:
    return {
        "nal_fractions": args.nal_fractions,
        "enal_period": args.enal_period,
        "sal_alpha_mm": args.sal_alpha,
        "sal_nmax": args.sal_nmax,
        "tolerance_mm": args.tolerance_mm,
        "tolerance_deg": args.tolerance_deg,
    }


def add_parser(sub) -> None:
    r = sub.add_parser(
        "review",
        help="population statistics (M, Σ, σ), margins and offline protocols of per-fraction couch corrections",
    )
    r.add_argument(
        "table",
        help="study.csv, or a CSV with patient, fraction, lateral_mm, longitudinal_mm, vertical_mm "
        "[, rotation_deg, pitch_deg, roll_deg] (couch moves)",
    )
    r.add_argument("--out", required=True, help="STATS.json to write")
    r.add_argument("--report", help="also write report.html and its pictures into this folder")
    add_protocol_arguments(r)
    r.set_defaults(func=run)


def print_summary(stats: dict) -> None:
    """The statistics on stderr, every line saying its sense."""
    say(f"{stats['patients']} patients, {stats['fractions']} fractions; set-up error = patient is displaced")
    for name, a in stats["axes"].items():
        u = "mm" if "M_mm" in a else "deg"
        vals = [a[f"{k}_{u}"] for k in ("M", "Sigma", "sigma", "margin_van_herk", "margin_stroom")]
        text = ["–" if v is None else f"{v:.2f}" for v in vals]
        say(
            f"  {name:>12s} ({u}): M {text[0]}  Σ {text[1]}  σ {text[2]}  margin van Herk {text[3]}  Stroom {text[4]}"
        )
    for name, p in stats["protocols"].items():
        sig = [p["axes"][a]["Sigma_mm"] for a in ("lateral", "longitudinal", "vertical")]
        say(
            f"  protocol {name:>6s}: residual Σ lat/long/vert {' / '.join('–' if v is None else f'{v:.2f}' for v in sig)} mm, "
            f"{p['imaged_fractions']} fractions imaged"
        )
    known = stats.get("known_shift")
    if known:
        worst = ", ".join(f"{a} {v['max_abs']:.2f}" for a, v in known["axes"].items())
        say(
            f"  known shifts: {'PASS' if known['pass'] else 'FAIL'} over {known['fractions']} fractions (max |error| {worst})"
        )
    for note in stats["notes"]:
        say(f"note: {note}")


def run(args) -> int:
    check_outputs([("TABLE", args.table)], files=[("--out", args.out)], folders=[("--report", args.report)])
    stats = review(args.table, stats_out=args.out, report_dir=args.report, **protocol_options(args))
    print_summary(stats)
    say(f"wrote {args.out}" + (f" and {args.report}/report.html" if args.report else ""))
    return 0
