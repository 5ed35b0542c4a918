"""`igrt match PLANNING DAILY ... --out RESULT.json`: parse, run the daily match workflow, print, write."""

from __future__ import annotations

from pathlib import Path

from igrt.cli.common import ORIENTATION_HELP, point, progress_printer, say, structures_argument
from igrt.cli.outputs import Publication, check_outputs
from igrt.errors import IGRTInputError
from igrt.registration.match import METHODS, MatchOptions
from igrt.registration.uncertainty import LIMIT_DEG as UNCERTAINTY_LIMIT_DEG
from igrt.registration.uncertainty import LIMIT_MM as UNCERTAINTY_LIMIT_MM
from igrt.registration.workflow import daily_match_files
from igrt.result import write_json


def add_parser(sub) -> None:
    m = sub.add_parser("match", help="match a daily image (CBCT/CT) to the planning CT")
    m.add_argument("planning", help="planning CT: DICOM series folder or NRRD/NIfTI/MHA file")
    m.add_argument("daily", help="daily image: DICOM series folder or NRRD/NIfTI/MHA file")
    iso = m.add_mutually_exclusive_group()
    iso.add_argument("--plan", help="RTPLAN file giving the planning isocenter and patient position")
    iso.add_argument("--isocenter", type=point, help="planning isocenter x,y,z (DICOM LPS mm)")
    m.add_argument(
        "--daily-isocenter",
        type=point,
        help="treatment isocenter in the daily image's frame, x,y,z (LPS mm); default: same point "
        "when both share a frame of reference, else the daily image center",
    )
    m.add_argument("--method", choices=METHODS, default="auto")
    m.add_argument("--orientation", help=f"{ORIENTATION_HELP}; default from plan or image")
    m.add_argument(
        "--target-mask", help="label image (planning frame) of the target for the soft-tissue match"
    )
    m.add_argument(
        "--uncertainty-limit-mm",
        type=float,
        default=UNCERTAINTY_LIMIT_MM,
        help=f"flag the match (escalate) when its 95%% translation bound exceeds this (mm; default {UNCERTAINTY_LIMIT_MM:g})",
    )
    m.add_argument(
        "--uncertainty-limit-deg",
        type=float,
        default=UNCERTAINTY_LIMIT_DEG,
        help=f"flag the match when its 95%% rotation bound exceeds this (degrees; default {UNCERTAINTY_LIMIT_DEG:g})",
    )
    m.add_argument("--report", help="also write an HTML report with comparison pictures into this folder")
    m.add_argument(
        "--structures",
        help="planning structures drawn on the daily image in the report: RTSTRUCT, .seg.nrrd, .seg.vtm or "
        "a label map (planning frame); default the body and bone outlines of the planning CT",
    )
    m.add_argument(
        "--structure", action="append", metavar="NAME", help="with --structures: draw only these (repeatable)"
    )
    m.add_argument("--out", required=True, help="result JSON to write")
    m.set_defaults(func=run)


def run(args) -> int:
    check_outputs(
        [
            ("PLANNING", args.planning),
            ("DAILY", args.daily),
            ("--plan", args.plan),
            ("--target-mask", args.target_mask),
            ("--structures", args.structures),
        ],
        files=[("--out", args.out)],
        folders=[("--report", args.report)],
    )
    structures, drawn = report_structures(args)
    options = MatchOptions(
        method=args.method,
        planning_isocenter_lps=args.isocenter,
        daily_isocenter_lps=args.daily_isocenter,
        orientation=args.orientation,
        uncertainty_limit_mm=args.uncertainty_limit_mm,
        uncertainty_limit_deg=args.uncertainty_limit_deg,
    )
    result, planning, daily = daily_match_files(
        args.planning,
        args.daily,
        options,
        plan_path=args.plan,
        target_mask_path=args.target_mask,
        structures=structures,
        progress=progress_printer(),
    )
    with Publication() as outputs:  # the report and the result JSON: both or neither
        if args.report:
            from igrt.report import write_report

            write_report(result, planning.image, daily.image, outputs.folder(args.report), structures=drawn)
        write_json(outputs.file(args.out), result)
        outputs.publish()
    t, c = result["translation_mm"], result["couch"]
    say(
        f"patient is displaced (LPS mm): x {t[0]:+.2f}  y {t[1]:+.2f}  z {t[2]:+.2f}; "
        f"rotation (°) {result['rotation_deg']}"
    )
    say(
        f"couch moves (IEC table top): lat {c['lateral_mm']:+.2f} long {c['longitudinal_mm']:+.2f} "
        f"vert {c['vertical_mm']:+.2f} mm, rot {c['rotation_deg']:+.2f} pitch {c['pitch_deg']:+.2f} "
        f"roll {c['roll_deg']:+.2f}°"
    )
    for w in result["warnings"]:
        say(f"warning: {w}")
    say(f"wrote {args.out} ({result['elapsed_s']:.2f} s)")
    return 0


#: Colours (RGB 0–1) of structures that carry none, in order.
PALETTE = ((1.0, 0.85, 0.0), (0.0, 0.9, 1.0), (1.0, 0.3, 0.3), (0.4, 1.0, 0.4), (1.0, 0.5, 1.0))


def report_structures(args):
    """(structure set, [(RGB 0–1, structure)] to draw) of --structures/--structure, read before the match."""
    if args.structures is None:
        if args.structure:
            raise IGRTInputError("--structure names a structure of --structures: give --structures too")
        return None, None
    if not args.report:
        raise IGRTInputError("--structures are drawn on the report: give --report DIR too")
    from igrt.dose.workflow import select_structures
    from igrt.io.structures import read_structures

    value = structures_argument(args.structures)
    structure_set = read_structures(value) if isinstance(value, str | Path) else value
    chosen = select_structures(structure_set, args.structure)
    if not chosen:
        raise IGRTInputError(f"{args.structures}: no structure to draw (all empty)")
    drawn = [
        (tuple(c / 255 for c in s.color) if s.color else PALETTE[k % len(PALETTE)], s)
        for k, s in enumerate(chosen)
    ]
    return structure_set, drawn
