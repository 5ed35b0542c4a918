"""`igrt export-reg` / `igrt import-reg`: a result JSON as a DICOM Spatial Registration, and back."""

from __future__ import annotations

from igrt.cli.common import ORIENTATION_HELP, point, say
from igrt.cli.outputs import check_outputs
from igrt.result import load_result, write_json


def add_parsers(sub) -> None:
    ex = sub.add_parser("export-reg", help="write a match result as a DICOM Spatial Registration (REG)")
    ex.add_argument("result", help="result JSON of igrt match")
    ex.add_argument("--out", required=True, help="REG file to write (.dcm)")
    ex.set_defaults(func=run_export)

    im = sub.add_parser(
        "import-reg", help="read a rigid DICOM REG (ours or another system's) into a result JSON"
    )
    im.add_argument("reg", help="DICOM Spatial Registration file")
    im.add_argument(
        "--isocenter", type=point, help="planning isocenter (LPS mm) when the REG does not carry it"
    )
    im.add_argument("--daily-isocenter", type=point, help="daily isocenter in the daily frame (LPS mm)")
    im.add_argument(
        "--plan",
        help="RTPLAN of the planning image: tells the REG's planning frame, gives isocenter and position",
    )
    im.add_argument(
        "--planning", help="planning image (DICOM folder or volume file): tells the REG's planning frame"
    )
    im.add_argument("--daily", help="daily image (DICOM folder or volume file): tells the REG's daily frame")
    im.add_argument("--orientation", help=ORIENTATION_HELP)
    im.add_argument("--out", required=True, help="result JSON to write")
    im.set_defaults(func=run_import)


def run_export(args) -> int:
    from igrt.io.reg import write_reg

    check_outputs([("RESULT", args.result)], files=[("--out", args.out)])
    notes: list = []
    write_reg(load_result(args.result), args.out, notes=notes)
    for note in notes:
        say(f"note: {note}")
    say(f"wrote {args.out}")
    return 0


def run_import(args) -> int:
    from igrt.io.reg import import_reg_files

    check_outputs(
        [("REG", args.reg), ("--plan", args.plan), ("--planning", args.planning), ("--daily", args.daily)],
        files=[("--out", args.out)],
    )
    result = import_reg_files(
        args.reg,
        plan_path=args.plan,
        planning_path=args.planning,
        daily_path=args.daily,
        planning_isocenter_lps=args.isocenter,
        daily_isocenter_lps=args.daily_isocenter,
        orientation=args.orientation,
    )
    write_json(args.out, result)
    say(f"patient is displaced (LPS mm): {result['translation_mm']}; wrote {args.out}")
    return 0
