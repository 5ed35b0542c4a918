"""`igrt dvh` and `igrt dose-impact`: parse, run the dose workflow (igrt.dose.workflow), print, write."""

from __future__ import annotations

from igrt.cli.common import say, structures_argument
from igrt.cli.outputs import check_outputs
from igrt.dose.workflow import dose_impact, dvh_document
from igrt.result import write_json


def add_parser(sub) -> None:
    dvh = sub.add_parser("dvh", help="cumulative DVH and metrics of structures in a dose")
    dvh.add_argument("dose", nargs="+", help="RTDOSE file(s) (several need --sum) or a dose volume in Gy")
    dvh.add_argument("structures", help="RTSTRUCT, Slicer .seg.nrrd / .seg.vtm or label-map volume")
    _common(dvh)
    dvh.add_argument("--out", required=True, help="DVH JSON to write")
    dvh.set_defaults(func=run_dvh)

    imp = sub.add_parser(
        "dose-impact",
        help="planned vs delivered DVH metrics for the anatomy where a match (or after a shift) put it",
    )
    imp.add_argument(
        "placements",
        nargs="+",
        metavar="RESULT_OR_SHIFT",
        help="match result JSON (no correction) or shift JSON (after that couch correction); several = "
        "one per fraction, accumulated over the course; a study's fractions/<patient> folder = all its fractions",
    )
    imp.add_argument("--dose", nargs="+", required=True, help="RTDOSE file(s) or a dose volume in Gy")
    imp.add_argument(
        "--structures", required=True, help="RTSTRUCT, Slicer .seg.nrrd / .seg.vtm or label-map volume"
    )
    imp.add_argument(
        "--uncorrected",
        action="store_true",
        help="for a study folder: each fraction's result.json (no correction) instead of its shift.json",
    )
    imp.add_argument("--fractions", type=int, help="fractions of the course (= the number of results given)")
    _common(imp)
    imp.add_argument("--out", required=True, help="dose-impact JSON to write")
    imp.set_defaults(func=run_impact)


def _common(p) -> None:
    p.add_argument("--structure", action="append", metavar="NAME", help="report this structure (repeatable)")
    p.add_argument("--sum", action="store_true", help="sum several RTDOSE files (per-beam doses of one plan)")
    p.add_argument(
        "--v-dose", type=float, action="append", default=[], metavar="GY", help="also report Vx (repeatable)"
    )


def run_dvh(args) -> int:
    check_outputs(
        [*(("DOSE", d) for d in args.dose), ("STRUCTURES", args.structures)], files=[("--out", args.out)]
    )
    doc = dvh_document(
        args.dose,
        structures_argument(args.structures),
        names=args.structure,
        sum_doses=args.sum,
        v_doses_gy=args.v_dose,
    )
    write_json(args.out, doc)
    say(f"{'structure':<20s} {'cc':>9s} {'mean':>7s} {'D98':>7s} {'D95':>7s} {'D50':>7s} {'D2':>7s}  Gy")
    for s in doc["structures"]:
        m = s["metrics"]
        say(
            f"{s['name'][:20]:<20s} {s['volume_cc']:9.2f} {m['mean_gy']:7.2f} {m['D98_gy']:7.2f} "
            f"{m['D95_gy']:7.2f} {m['D50_gy']:7.2f} {m['D2_gy']:7.2f}"
        )
    _finish(doc, args.out)
    return 0


def run_impact(args) -> int:
    check_outputs(
        [*(("RESULT_OR_SHIFT", p) for p in args.placements), *(("--dose", d) for d in args.dose)]
        + [("--structures", args.structures)],
        files=[("--out", args.out)],
    )
    doc = dose_impact(
        args.placements,
        args.dose,
        structures_argument(args.structures),
        fractions=args.fractions,
        names=args.structure,
        sum_doses=args.sum,
        v_doses_gy=args.v_dose,
        corrected=not args.uncorrected,
    )
    write_json(args.out, doc)
    where = "; ".join(f"{p['source']} (correction: {p['correction']})" for p in doc["placements"])
    say(f"patient is displaced as in: {where}")
    say(f"{'structure':<20s} {'mean planned':>12s} {'fraction':>9s} {'Δ':>7s} {'ΔD95':>7s} {'ΔD2':>7s}  Gy")
    for s in doc["structures"]:
        p, f, d = s["planned"], s["fraction"], s["delta"]
        say(
            f"{s['name'][:20]:<20s} {p['mean_gy']:12.2f} {f['mean_gy']:9.2f} {d['mean_gy']:+7.2f} "
            f"{d['D95_gy']:+7.2f} {d['D2_gy']:+7.2f}"
        )
    say(f"approximation: {doc['approximation']}")
    _finish(doc, args.out)
    return 0


def _finish(doc, out) -> None:
    for w in doc["warnings"]:
        say(f"warning: {w}")
    say(f"wrote {out} ({doc['elapsed_s']:.2f} s)")
