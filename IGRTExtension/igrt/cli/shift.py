"""`igrt shift RESULT.json --couch ... --out SHIFT.json`: parse, run the couch shift workflow, print, write."""

from __future__ import annotations

import numpy as np

from igrt.cli.common import ORIENTATION_HELP, point, say
from igrt.cli.outputs import check_outputs
from igrt.couch.workflow import check_shift_options, couch_shift
from igrt.errors import IGRTInputError
from igrt.result import load_result, write_json


def add_parser(sub) -> None:
    sh = sub.add_parser("shift", help="couch correction (IEC 61217 table top) of a match result")
    sh.add_argument("result", help="result JSON of igrt match")
    sh.add_argument("--couch", choices=("6dof", "4dof", "3dof"), default="6dof")
    sh.add_argument("--max-rotation", type=float, help="rotation limit of the couch per axis (degrees)")
    sh.add_argument("--orientation", help=f"{ORIENTATION_HELP}; overrides the result's")
    sh.add_argument("--target", type=point, help="point to correct exactly (LPS mm); default the isocenter")
    sh.add_argument(
        "--target-points",
        help="points of the target structure (LPS mm; .json list or x,y,z rows): largest residual",
    )
    sh.add_argument(
        "--target-mask",
        help="label image of the target (planning frame): its centroid is the target, its boundary the points",
    )
    sh.add_argument(
        "--sbrt", action="store_true", help="SRS/SBRT tolerances (1 mm, 0.5°) instead of TG-142 (2 mm, 1°)"
    )
    sh.add_argument(
        "--tolerance-mm", type=float, help="translation tolerance per axis (mm), overrides the profile"
    )
    sh.add_argument("--tolerance-deg", type=float, help="rotation tolerance per axis (degrees)")
    sh.add_argument("--action-mm", type=float, help="translation beyond which to escalate (mm; default 20)")
    sh.add_argument("--action-deg", type=float, help="rotation beyond which to escalate (degrees; default 5)")
    sh.add_argument(
        "--profile",
        choices=("iec", "patient", "varian", "vendor"),
        default="iec",
        help="display only: IEC 61217 couch moves (default), patient displacement (negated), or Varian-like "
        "names Lat/Lng/Vrt/Rtn/Pitch/Roll (IEC signs); never changes the computed motion",
    )
    sh.add_argument("--out", required=True, help="shift JSON to write")
    sh.set_defaults(func=run)


def tolerance_settings(args):
    """Named profile, or a custom one when levels are given on the command line (checked for sense)."""
    base = "SRS/SBRT (1 mm, 0.5°)" if args.sbrt else "TG-142 (2 mm, 1°)"
    custom = {
        key: value
        for key, value in (
            ("translation_mm", args.tolerance_mm),
            ("rotation_deg", args.tolerance_deg),
            ("escalate_mm", args.action_mm),
            ("escalate_deg", args.action_deg),
        )
        if value is not None
    }
    return {"base": base, **custom} if custom else base


def run(args) -> int:
    from igrt.io.masks import read_target_points, target_from_mask

    # Check every argument before reading anything, so that bad input writes nothing.
    profile = tolerance_settings(args)
    check_shift_options(args.couch, args.max_rotation, args.orientation, profile, args.profile)
    if args.target is not None and args.target_mask is not None:
        raise IGRTInputError("give either --target or --target-mask (its centroid is the target), not both")
    check_outputs(
        [
            ("RESULT", args.result),
            ("--target-mask", args.target_mask),
            ("--target-points", args.target_points),
        ],
        files=[("--out", args.out)],
    )
    result = load_result(args.result)
    target, points, extra = args.target, None, {"result_path": str(args.result)}
    if args.target_mask is not None:
        target, points = target_from_mask(args.target_mask)
        extra["target_mask"] = str(args.target_mask)
        extra["target_source"] = "centroid of the target mask"
    if args.target_points is not None:
        more = read_target_points(args.target_points)
        points = more if points is None else np.vstack([points, more])
        extra["target_points"] = str(args.target_points)
    shift = couch_shift(
        result,
        couch=args.couch,
        max_rotation_deg=args.max_rotation,
        orientation=args.orientation,
        target_lps=target,
        target_points_lps=points,
        tolerance_profile=profile,
        display_profile=args.profile,
        inputs=extra,
        source=str(args.result),
    )
    write_json(args.out, shift)
    c = shift["couch"]
    say(f"{c['orientation']}, {c['couch']} couch, IEC 61217 table top ({shift['display']['profile']}):")
    for row in shift["display"]["rows"]:
        say(f"  {row['label']:>22s} {row['value']:+8.2f} {row['unit']:3s} ({row['sense']})")
    say(
        f"verdict: {c['verdict']}" + (f" ({'; '.join(c['verdict_reasons'])})" if c["verdict_reasons"] else "")
    )
    esc = shift["match_uncertainty"]
    if esc["escalate"]:
        say(f"{esc['text']}: {'; '.join(esc['reasons'])}")
    r = c["residuals"]
    say(
        f"residual error (patient is displaced): {r['at_isocenter_mm']:.2f} mm at the isocenter, "
        f"{r['at_target_mm']:.2f} mm at the target"
        + (
            f", up to {r['max_over_target_mm']:.2f} mm over the target"
            if r["max_over_target_mm"] is not None
            else ""
        )
    )
    for w in shift["warnings"]:
        say(f"warning: {w}")
    say(f"wrote {args.out}")
    return 0
