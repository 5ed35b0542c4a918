"""`igrt fiducials detect|match`: parse, run the marker workflows, print, write."""

from __future__ import annotations

from igrt.cli.common import ORIENTATION_HELP, box, point, say
from igrt.cli.outputs import check_outputs
from igrt.markers.detect import DEFAULT_THRESHOLD_HU
from igrt.result import write_json


def add_parser(sub) -> None:
    fd = sub.add_parser("fiducials", help="implanted markers: detect, match")
    fsub = fd.add_subparsers(dest="fiducials_command", required=True)
    fdet = fsub.add_parser("detect", help="find gold markers in a CT (DICOM folder or volume file)")
    fdet.add_argument("image")
    fdet.add_argument("--roi", type=box, help="search box cx,cy,cz,sx,sy,sz (LPS mm)")
    fdet.add_argument(
        "--threshold",
        type=float,
        help=f"contrast of a marker core over its local background, HU (default {DEFAULT_THRESHOLD_HU:g}; "
        "0.7× that for cores of 70 mm³ or less)",
    )
    fdet.add_argument("--out", required=True, help="markers JSON to write")
    fdet.set_defaults(func=run_detect)
    fm = fsub.add_parser("match", help="pair and match planning and daily markers (markers.json files)")
    fm.add_argument("planning_markers", help="markers.json or RTSTRUCT with POINT ROIs (planning frame)")
    fm.add_argument("daily_markers", help="markers.json of the daily image (its own frame)")
    fm.add_argument(
        "--isocenter", type=point, help="planning isocenter (LPS mm); default the markers' centroid"
    )
    fm.add_argument(
        "--daily-isocenter", type=point, help="isocenter in the daily frame; default the same point"
    )
    fm.add_argument("--orientation", help=f"{ORIENTATION_HELP} for the couch correction; default HFS")
    fm.add_argument(
        "--exclude", type=int, nargs="+", metavar="N", help="planning marker numbers (1-based) to leave out"
    )
    fm.add_argument(
        "--migration-warn", type=float, default=1.5, help="warn when inter-marker distances change more (mm)"
    )
    fm.add_argument(
        "--migration-exclude", type=float, default=3.0, help="suggest excluding the marker above this (mm)"
    )
    fm.add_argument("--out", required=True, help="result JSON to write")
    fm.set_defaults(func=run_match)


def run_detect(args) -> int:
    from igrt.io.volumes import read_volume
    from igrt.markers.workflow import detect

    check_outputs([("IMAGE", args.image)], files=[("--out", args.out)])
    volume = read_volume(args.image)
    roi = args.roi
    doc = detect(
        volume.image,
        roi_center_lps=roi[:3] if roi else None,
        roi_size_mm=roi[3:] if roi else None,
        threshold_hu=args.threshold,
        source=str(args.image),
    )
    write_json(args.out, doc)
    for w in volume.warnings + doc.get("warnings", []):
        say(f"warning: {w}")
    say(f"{len(doc['markers'])} marker(s) found; wrote {args.out}")
    return 0


def run_match(args) -> int:
    from igrt.markers.match import read_markers
    from igrt.markers.workflow import marker_match

    check_outputs(
        [("PLANNING_MARKERS", args.planning_markers), ("DAILY_MARKERS", args.daily_markers)],
        files=[("--out", args.out)],
    )
    result = marker_match(
        read_markers(args.planning_markers),
        read_markers(args.daily_markers),
        isocenter=args.isocenter,
        daily_isocenter=args.daily_isocenter,
        orientation=args.orientation,
        exclude=[i - 1 for i in args.exclude or ()],
        migration=(args.migration_warn, args.migration_exclude),
        inputs={"planning_markers": str(args.planning_markers), "daily_markers": str(args.daily_markers)},
    )
    write_json(args.out, result)
    q = result["quality"]
    say(
        f"marker match: FRE {q['fre_mm']:.2f} mm, residuals {q['residuals_mm']} mm, predicted TRE at the "
        f"isocenter {q['predicted_tre_at_isocenter_mm']} mm"
    )
    say(f"patient is displaced (LPS mm): {result['translation_mm']}")
    for w in result["warnings"]:
        say(f"warning: {w}")
    alt = q["without_suspect"]
    if alt:
        say(
            f"without planning marker {alt['excluded'] + 1}: patient is displaced (LPS mm) "
            f"{alt['translation_mm']}, FRE {alt['fre_mm']:.2f} mm (rerun with --exclude {alt['excluded'] + 1})"
        )
    say(f"wrote {args.out}")
    return 0
