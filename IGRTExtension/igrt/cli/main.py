"""The ``igrt`` command line (DESIGN §4): ``match``, ``shift``, ``export-reg``, ``import-reg``, ``demo``.

Exit status: 0 success; 2 bad input (one line on stderr); 3 the match ran but failed (one line).
Outputs are written under temporary names and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from igrt import __version__
from igrt.errors import IGRTInputError
from igrt.registration.match import METHODS, MatchFailedError, MatchOptions, run_match
from igrt.result import write_json


def _point(text: str) -> tuple:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(np.isfinite(vals)):
        raise argparse.ArgumentTypeError(f"expected x,y,z in mm (DICOM LPS), got {text!r}")
    return vals


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress_printer():
    last = [0.0]

    def progress(msg):
        now = time.perf_counter()
        if now - last[0] > 0.5:
            last[0] = now
            _say(f"  {msg}")

    return progress


def _read_label_image(path):
    """A 3-D scalar label image (NRRD/NIfTI/MHA), or one clear line why not."""
    import SimpleITK as sitk

    try:
        mask = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise IGRTInputError(f"cannot read target mask {path}: {str(exc).strip().splitlines()[0]}") from exc
    if mask.GetDimension() != 3 or mask.GetNumberOfComponentsPerPixel() != 1:
        raise IGRTInputError(f"target mask {path} is not a 3-D label image")
    return mask


def read_target_mask(path, planning):
    """A target label image (NRRD/NIfTI/MHA) in the planning frame; refuses one that misses the planning CT."""
    import SimpleITK as sitk

    mask = sitk.Cast(_read_label_image(path) > 0, sitk.sitkUInt8)
    on_planning = sitk.Resample(mask, planning.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    if sitk.GetArrayViewFromImage(on_planning).sum() == 0:
        raise IGRTInputError(f"target mask {path} is empty or lies outside the planning image")
    return mask


def match_files(
    planning_path,
    daily_path,
    *,
    plan=None,
    isocenter=None,
    daily_isocenter=None,
    method="auto",
    orientation=None,
    target_mask=None,
    progress=None,
) -> tuple:
    """Read the inputs, check they belong together, match; returns (result dict, planning, daily)."""
    from igrt.io.volumes import check_pair, read_volume

    t0 = time.perf_counter()
    planning = read_volume(planning_path)
    daily = read_volume(daily_path)
    warnings = list(planning.warnings) + list(daily.warnings) + list(check_pair(planning, daily))
    plan_info = None
    if plan is not None and isocenter is not None:
        raise IGRTInputError("give either --plan or --isocenter, not both")
    if plan is not None:
        from igrt.io.rtplan import read_rtplan

        plan_info = read_rtplan(plan)
        warnings += list(plan_info.warnings)
        if plan_info.patient_id and planning.patient_id and plan_info.patient_id != planning.patient_id:
            raise IGRTInputError(
                f"the plan is for patient {plan_info.patient_id!r} but the planning image is "
                f"for {planning.patient_id!r}"
            )
        isocenter = tuple(plan_info.isocenter_lps)
    if orientation is None:
        orientation = (plan_info.patient_position if plan_info else None) or planning.patient_position
        if orientation is None:
            orientation = "HFS"
            warnings.append("patient orientation unknown (no plan, no DICOM PatientPosition): assumed HFS")
    options = MatchOptions(
        method=method,
        planning_isocenter_lps=isocenter,
        daily_isocenter_lps=daily_isocenter,
        orientation=orientation,
    )
    if target_mask is not None:
        options.soft_mask = read_target_mask(target_mask, planning)
    if isocenter is None:
        warnings.append("no plan or isocenter given: the planning image center is used as the isocenter")
    result = run_match(planning, daily, options, progress=progress)
    result.warnings = warnings + result.warnings
    result.inputs = {
        "planning": planning.identity(),
        "daily": daily.identity(),
        "plan": str(plan) if plan else None,
        "isocenter_source": "plan" if plan else ("given" if isocenter else "planning image center"),
    }
    result.parameters = {
        "method": method,
        "clip_box_mm": list(options.clip_box_mm),
        "soft_box_mm": list(options.soft_box_mm),
        "registration": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(options.settings).items()
        },
    }
    result.elapsed_s = time.perf_counter() - t0
    return result.to_dict(), planning, daily


def _publish_dir(tmp: Path, out: Path) -> None:
    """Move every file of a finished temporary output folder into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    for item in sorted(tmp.rglob("*")):
        if item.is_file():
            dest = out / item.relative_to(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, dest)
    shutil.rmtree(tmp, ignore_errors=True)


def cmd_match(args) -> int:
    result, planning, daily = match_files(
        args.planning,
        args.daily,
        plan=args.plan,
        isocenter=args.isocenter,
        daily_isocenter=args.daily_isocenter,
        method=args.method,
        orientation=args.orientation,
        target_mask=args.target_mask,
        progress=_progress_printer(),
    )
    if args.report:
        from igrt.report import write_report

        out = Path(args.report)
        tmp = Path(tempfile.mkdtemp(prefix=".igrt-report-", dir=out.parent if out.parent.exists() else None))
        try:
            write_report(result, planning.image, daily.image, tmp)
            _publish_dir(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    write_json(args.out, result)
    t, c = result["translation_mm"], result["couch"]
    _say(
        f"patient is displaced (LPS mm): x {t[0]:+.2f}  y {t[1]:+.2f}  z {t[2]:+.2f}; "
        f"rotation (°) {result['rotation_deg']}"
    )
    _say(
        f"couch moves (IEC table top): lat {c['lateral_mm']:+.2f} long {c['longitudinal_mm']:+.2f} "
        f"vert {c['vertical_mm']:+.2f} mm, rot {c['rotation_deg']:+.2f} pitch {c['pitch_deg']:+.2f} "
        f"roll {c['roll_deg']:+.2f}°"
    )
    for w in result["warnings"]:
        _say(f"warning: {w}")
    _say(f"wrote {args.out} ({result['elapsed_s']:.2f} s)")
    return 0


def read_target_points(path) -> np.ndarray:
    """N×3 LPS points (mm) of a target structure: a JSON list of [x, y, z] or a text/CSV file of rows."""
    import json

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise IGRTInputError(f"cannot read target points {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            data = data.get("points_lps", data) if isinstance(data, dict) else data
            pts = np.asarray(data, float)
        else:
            rows = [line.replace(",", " ").split() for line in text.splitlines()]
            pts = np.asarray([[float(v) for v in r] for r in rows if r and not r[0].startswith("#")], float)
    except (ValueError, TypeError) as exc:
        raise IGRTInputError(f"target points {path}: not rows of x,y,z numbers (LPS mm)") from exc
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.all(np.isfinite(pts)):
        raise IGRTInputError(f"target points {path}: expected rows of x,y,z (LPS mm)")
    return pts


def target_from_mask(path) -> tuple[np.ndarray, np.ndarray]:
    """(centroid, boundary voxel centers) in LPS mm of a label image (NRRD/NIfTI/MHA) in the planning frame."""
    import SimpleITK as sitk

    mask = _read_label_image(path)
    inside = sitk.GetArrayFromImage(mask) > 0  # (k, j, i)
    if not inside.any():
        raise IGRTInputError(f"target mask {path} is empty")
    padded = np.pad(inside, 1)
    interior = inside.copy()
    for axis in range(3):
        for step in (-1, 1):
            interior &= np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]

    def to_lps(kji):
        ijk = kji[:, ::-1].astype(float)
        direction = np.asarray(mask.GetDirection(), float).reshape(3, 3)
        return np.asarray(mask.GetOrigin()) + (ijk * np.asarray(mask.GetSpacing())) @ direction.T

    centroid = to_lps(np.argwhere(inside)).mean(axis=0)
    return centroid, to_lps(np.argwhere(inside & ~interior))


def _load_result(path) -> dict:
    """``igrt.result.load_result``, refusing a malformed document (schema_version not text) as bad input."""
    import json

    from igrt.result import SCHEMA_VERSION, load_result

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise IGRTInputError(f"cannot read result JSON {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), str):
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise IGRTInputError(
            f"{path}: unsupported result schema_version {version!r} (this tool reads {SCHEMA_VERSION})"
        )
    try:
        return load_result(path)
    except (AttributeError, TypeError, ValueError) as exc:
        raise IGRTInputError(
            f"{path}: not a result JSON this tool reads ({type(exc).__name__}: {exc})"
        ) from exc


def _tolerance_settings(args):
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


def cmd_shift(args) -> int:
    from igrt.couch import tolerance
    from igrt.couch.correction import COUCH_MODELS, table_top_from_lps
    from igrt.couch.shift import shift_from_result

    # Check every argument before reading anything, so that bad input writes nothing.
    if args.max_rotation is not None and not (
        np.isfinite(args.max_rotation) and 0 <= args.max_rotation <= 180
    ):
        raise IGRTInputError(f"--max-rotation {args.max_rotation}° makes no sense (use 0 to 180)")
    if args.couch not in COUCH_MODELS:
        raise IGRTInputError(f"unknown couch {args.couch!r}")
    if args.orientation is not None:
        table_top_from_lps(args.orientation)
    profile = _tolerance_settings(args)
    tolerance.tolerance_profile(profile)
    if args.target is not None and args.target_mask is not None:
        raise IGRTInputError("give either --target or --target-mask (its centroid is the target), not both")
    result = _load_result(args.result)
    target, points, extra = args.target, None, {"result_path": str(args.result)}
    if args.target_mask is not None:
        target, points = target_from_mask(args.target_mask)
        extra["target_mask"] = str(args.target_mask)
        extra["target_source"] = "centroid of the target mask"
    if args.target_points is not None:
        more = read_target_points(args.target_points)
        points = more if points is None else np.vstack([points, more])
        extra["target_points"] = str(args.target_points)
    shift = shift_from_result(
        result,
        couch=args.couch,
        max_rotation_deg=args.max_rotation,
        orientation=args.orientation,
        target_lps=target,
        target_points_lps=points,
        tolerance_profile=profile,
        display_profile=args.profile,
        inputs=extra,
    )
    write_json(args.out, shift)
    c = shift["couch"]
    _say(f"{c['orientation']}, {c['couch']} couch, IEC 61217 table top ({shift['display']['profile']}):")
    for row in shift["display"]["rows"]:
        _say(f"  {row['label']:>22s} {row['value']:+8.2f} {row['unit']:3s} ({row['sense']})")
    _say(
        f"verdict: {c['verdict']}" + (f" ({'; '.join(c['verdict_reasons'])})" if c["verdict_reasons"] else "")
    )
    r = c["residuals"]
    _say(
        f"residual error (patient is displaced): {r['at_isocenter_mm']:.2f} mm at the isocenter, "
        f"{r['at_target_mm']:.2f} mm at the target"
        + (
            f", up to {r['max_over_target_mm']:.2f} mm over the target"
            if r["max_over_target_mm"] is not None
            else ""
        )
    )
    for w in shift["warnings"]:
        _say(f"warning: {w}")
    _say(f"wrote {args.out}")
    return 0


def cmd_export_reg(args) -> int:
    from igrt.io.reg import write_reg

    notes: list = []
    write_reg(_load_result(args.result), args.out, notes=notes)
    for note in notes:
        _say(f"note: {note}")
    _say(f"wrote {args.out}")
    return 0


def cmd_import_reg(args) -> int:
    from igrt.io.reg import result_from_reg

    result = result_from_reg(
        args.reg,
        planning_isocenter_lps=args.isocenter,
        daily_isocenter_lps=args.daily_isocenter,
        orientation=args.orientation,
    )
    write_json(args.out, result)
    _say(f"patient is displaced (LPS mm): {result['translation_mm']}; wrote {args.out}")
    return 0


def cmd_fiducials_match(args) -> int:
    from igrt.markers.match import marker_result

    result = marker_result(
        args.planning_markers,
        args.daily_markers,
        args.isocenter,
        args.daily_isocenter,
        args.orientation,
        exclude=[i - 1 for i in args.exclude or ()],
        migration=(args.migration_warn, args.migration_exclude),
    )
    write_json(args.out, result)
    q = result["quality"]
    _say(
        f"marker match: FRE {q['fre_mm']:.2f} mm, residuals {q['residuals_mm']} mm, predicted TRE at the "
        f"isocenter {q['predicted_tre_at_isocenter_mm']} mm"
    )
    _say(f"patient is displaced (LPS mm): {result['translation_mm']}")
    for w in result["warnings"]:
        _say(f"warning: {w}")
    alt = q["without_suspect"]
    if alt:
        _say(
            f"without planning marker {alt['excluded'] + 1}: patient is displaced (LPS mm) "
            f"{alt['translation_mm']}, FRE {alt['fre_mm']:.2f} mm (rerun with --exclude {alt['excluded'] + 1})"
        )
    _say(f"wrote {args.out}")
    return 0


def cmd_fiducials_detect(args) -> int:
    from igrt.io.volumes import read_volume
    from igrt.markers.detect import detect_markers
    from igrt.markers.match import markers_json

    volume = read_volume(args.image)
    roi = args.roi
    found = detect_markers(volume.image, roi[:3] if roi else None, roi[3:] if roi else None, args.threshold)
    if not found:
        raise IGRTInputError(f"no markers found in {args.image} (threshold {args.threshold or 'default'} HU)")
    write_json(args.out, markers_json(found, image=args.image))
    _say(f"{len(found)} marker(s) found; wrote {args.out}")
    return 0


def _box(text: str) -> tuple:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 6 or not all(np.isfinite(vals)) or min(vals[3:]) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected cx,cy,cz,sx,sy,sz in mm (LPS centre and size), got {text!r}"
        )
    return vals


def cmd_demo(args) -> int:
    from igrt.demo import run_demo

    return run_demo(Path(args.out), progress=_say)


class _Parser(argparse.ArgumentParser):
    """argparse with one clear line on stderr for bad arguments (exit 2), as for every other bad input."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="igrt", description="Image-guided radiotherapy: daily match and couch shift.")
    p.add_argument("--version", action="version", version=f"igrt {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("match", help="match a daily image (CBCT/CT) to the planning CT")
    m.add_argument("planning", help="planning CT: DICOM series folder or NRRD/NIfTI/MHA file")
    m.add_argument("daily", help="daily image: DICOM series folder or NRRD/NIfTI/MHA file")
    iso = m.add_mutually_exclusive_group()
    iso.add_argument("--plan", help="RTPLAN file giving the planning isocenter and patient position")
    iso.add_argument("--isocenter", type=_point, help="planning isocenter x,y,z (DICOM LPS mm)")
    m.add_argument(
        "--daily-isocenter",
        type=_point,
        help="treatment isocenter in the daily image's frame, x,y,z (LPS mm); default: same point "
        "when both share a frame of reference, else the daily image center",
    )
    m.add_argument("--method", choices=METHODS, default="auto")
    m.add_argument(
        "--orientation",
        help="patient position (HFS, HFP, FFS, FFP, HFDR, HFDL, FFDR, FFDL); default from plan or image",
    )
    m.add_argument(
        "--target-mask", help="label image (planning frame) of the target for the soft-tissue match"
    )
    m.add_argument("--report", help="also write an HTML report with comparison pictures into this folder")
    m.add_argument("--out", required=True, help="result JSON to write")
    m.set_defaults(func=cmd_match)

    sh = sub.add_parser("shift", help="couch correction (IEC 61217 table top) of a match result")
    sh.add_argument("result", help="result JSON of igrt match")
    sh.add_argument("--couch", choices=("6dof", "4dof", "3dof"), default="6dof")
    sh.add_argument("--max-rotation", type=float, help="rotation limit of the couch per axis (degrees)")
    sh.add_argument(
        "--orientation",
        help="patient position, overrides the result's: HFS, HFP, FFS, FFP, HFDR, HFDL, FFDR, FFDL",
    )
    sh.add_argument("--target", type=_point, help="point to correct exactly (LPS mm); default the isocenter")
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
    sh.set_defaults(func=cmd_shift)

    ex = sub.add_parser("export-reg", help="write a match result as a DICOM Spatial Registration (REG)")
    ex.add_argument("result", help="result JSON of igrt match")
    ex.add_argument("--out", required=True, help="REG file to write (.dcm)")
    ex.set_defaults(func=cmd_export_reg)

    im = sub.add_parser(
        "import-reg", help="read a rigid DICOM REG (ours or another system's) into a result JSON"
    )
    im.add_argument("reg", help="DICOM Spatial Registration file")
    im.add_argument(
        "--isocenter", type=_point, help="planning isocenter (LPS mm) when the REG does not carry it"
    )
    im.add_argument("--daily-isocenter", type=_point, help="daily isocenter in the daily frame (LPS mm)")
    im.add_argument("--orientation", help="patient position (HFS, HFP, FFS, FFP, HFDR, HFDL, FFDR, FFDL)")
    im.add_argument("--out", required=True, help="result JSON to write")
    im.set_defaults(func=cmd_import_reg)

    fd = sub.add_parser("fiducials", help="implanted markers")
    fsub = fd.add_subparsers(dest="fiducials_command", required=True)
    fdet = fsub.add_parser("detect", help="find gold markers in a CT (DICOM folder or volume file)")
    fdet.add_argument("image")
    fdet.add_argument("--roi", type=_box, help="search box cx,cy,cz,sx,sy,sz (LPS mm)")
    fdet.add_argument("--threshold", type=float, help="HU above which a marker core lies (default 1800)")
    fdet.add_argument("--out", required=True, help="markers JSON to write")
    fdet.set_defaults(func=cmd_fiducials_detect)
    fm = fsub.add_parser("match", help="pair and match planning and daily markers (markers.json files)")
    fm.add_argument("planning_markers")
    fm.add_argument("daily_markers")
    fm.add_argument(
        "--isocenter", type=_point, help="planning isocenter (LPS mm); default the markers' centroid"
    )
    fm.add_argument(
        "--daily-isocenter", type=_point, help="isocenter in the daily frame; default the same point"
    )
    fm.add_argument("--orientation", default="HFS", help="patient position for the couch correction")
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
    fm.set_defaults(func=cmd_fiducials_match)

    d = sub.add_parser("demo", help="run the whole daily match on the bundled phantom case (offline)")
    d.add_argument("--out", default="igrt-demo", help="output folder (default: ./igrt-demo)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except IGRTInputError as exc:
        _say(f"igrt: error: {exc}")
        return 2
    except MatchFailedError as exc:
        _say(f"igrt: {exc}")
        return 3
    except KeyboardInterrupt:
        _say("igrt: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
