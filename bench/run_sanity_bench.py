"""The daily-image sanity checks on the bench cases (igrt.registration.sanity): mirror test and its cost.

For each case: the match of the daily image as given (must be accepted) and of the daily image mirrored
left–right by a wrong header (voxels flipped along the image's first axis, geometry kept; must be
refused), the two coarse-search correlations of each, and the time of the check against the match.

    PYTHONPATH=IGRTExtension python bench/run_sanity_bench.py [CASE ...]   (default: every bench case)
"""

from __future__ import annotations

import sys
import time

import numpy as np
import SimpleITK as sitk

from igrt.errors import IGRTInputError
from igrt.registration import sanity
from igrt.registration.match import MatchFailedError, MatchOptions, run_match
from igrt.synth.cases import bench_case_names, get_case
from igrt.volume import Volume


def mirrored(image: sitk.Image) -> sitk.Image:
    """The voxels flipped along the first image axis, header kept: what a negated x spacing does."""
    out = sitk.Flip(image, [True, False, False])
    out.CopyInformation(image)
    return out


def main(names) -> None:
    timed, last = {"check": [], "match": []}, {}
    check, scores = sanity.check_daily_image, sanity.mirror_scores

    def timed_check(*args, **kw):
        t0 = time.perf_counter()
        try:
            return check(*args, **kw)
        finally:
            timed["check"].append(time.perf_counter() - t0)

    def kept_scores(*args, **kw):
        last["scores"] = scores(*args, **kw)
        return last["scores"]

    sanity.check_daily_image, sanity.mirror_scores = timed_check, kept_scores
    print(f"{'case':22s} as given: as-is, mirrored L-R, A-P, S-I, verdict | mirrored L-R: the same")
    for name in names:
        case = get_case(name)
        planning = Volume(sitk.ReadImage(str(case.planning_path), sitk.sitkFloat32), str(case.planning_path))
        daily = sitk.ReadImage(str(case.daily_path), sitk.sitkFloat32)
        options = MatchOptions(
            planning_isocenter_lps=case.planning_isocenter_lps, daily_isocenter_lps=case.daily_isocenter_lps
        )
        row = f"{name:22s}"
        for label, image in (("given", daily), ("mirrored", mirrored(daily))):
            last.clear()
            t0 = time.perf_counter()
            try:
                run_match(planning, Volume(image, f"{label}.mha"), options)
                verdict = "accepted"
                timed["match"].append(time.perf_counter() - t0)
            except IGRTInputError:
                verdict = "refused"
            except MatchFailedError:
                verdict = "failed"
            a, m = last.get("scores", (float("nan"), [float("nan")] * 3))
            row += f" {a:6.3f} {' '.join(f'{v:6.3f}' for v in m)} {verdict:>9s} |"
        print(row, flush=True)
    print(
        f"check: median {1000 * np.median(timed['check']):.0f} ms over {len(timed['check'])} runs; "
        f"accepted matches (check included): median {np.median(timed['match']):.2f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:] or bench_case_names())
