"""Our DVH beside dicompyler-core's DVH calculation and the planning system's own DVH (Pinnacle).

Case: ../shared/data/pinnacle_breast_rt (Pinnacle RTSTRUCT + RTDOSE, 2.5 × 2.5 × 3 mm dose grid; the
RTDOSE also carries Pinnacle's own cumulative DVHs, DVH Sequence PS3.3 C.8.8.4). For every structure
with contours: volume (cc), mean, D98, D95, D50, D2, max (Gy) of ours, of dicompyler-core's
``dvhcalc.get_dvh`` (its defaults: dose-grid points inside each contour, each plane a full slab) and of
Pinnacle; the differences ours − Pinnacle and dicompyler − Pinnacle; the time of each per structure
(inputs read once). Pinnacle's and dicompyler's metrics are read off their cumulative curves with
:func:`igrt.dose.dvh.metrics_from_curve`.

    pip install -e ".[bench]"           # dicompyler-core
    .venv/bin/python bench/run_dvh_bench.py [--out bench/results/dvh.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pydicom

from igrt.dose.dvh import metrics_from_curve
from igrt.dose.workflow import compute_dvh
from igrt.io.dose import read_dose
from igrt.io.structures import read_structures

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pinnacle_breast_rt"
METRICS = ("volume_cc", "mean_gy", "D98_gy", "D95_gy", "D50_gy", "D2_gy", "max_gy")


def _curve_metrics(dose_gy, volume_cc):
    """Metrics of a cumulative curve given as absolute volumes (cc) at each dose."""
    v = np.asarray(volume_cc, float)
    m = metrics_from_curve(np.asarray(dose_gy, float), 100.0 * v / v[0], v[0])
    return {"volume_cc": float(v[0]), **m}


def pinnacle_dvhs(rtdose: pydicom.Dataset) -> dict[int, dict]:
    """{ROI number: metrics} of the DVH Sequence (pairs of bin width, volume cc; cumulative)."""
    out = {}
    for item in rtdose.get("DVHSequence", []):
        if str(item.DVHType).upper() != "CUMULATIVE" or str(item.DVHVolumeUnits).upper() != "CM3":
            continue
        data = np.asarray(item.DVHData, float)
        widths, volumes = data[0::2] * float(item.DVHDoseScaling), data[1::2]
        lower = np.concatenate([[0.0], np.cumsum(widths)[:-1]])
        out[int(item.DVHReferencedROISequence[0].ReferencedROINumber)] = _curve_metrics(lower, volumes)
    return out


def _dicompyler():
    """dicompyler-core 0.5.6 (the newest on PyPI) imports ``pydicom.dicomio.read_file``, which pydicom 3
    removed (it was an alias of ``dcmread``); the alias is put back for it, nothing else is changed."""
    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):
        pydicom.dicomio.read_file = pydicom.dcmread
    from dicompylercore import dvhcalc

    return dvhcalc


def dicompyler_dvh(rtss, rtdose, roi: int) -> dict:
    dvhcalc = _dicompyler()

    d = dvhcalc.get_dvh(rtss, rtdose, roi)
    return _curve_metrics(d.bins[:-1], d.counts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the Markdown table here")
    args = ap.parse_args(argv)
    rs_path, rd_path = DATA / "rtss.dcm", DATA / "rtdose.dcm"
    t0 = time.perf_counter()
    dose, structures = read_dose(rd_path), read_structures(rs_path)
    read_s = time.perf_counter() - t0
    rtss, rtdose = pydicom.dcmread(rs_path), pydicom.dcmread(rd_path)
    tps = pinnacle_dvhs(rtdose)
    lines = [
        f"Pinnacle breast (pinnacle_breast_rt), dose max {dose.max_gy():.2f} Gy; our reading {read_s:.2f} s.",
        "Cells: ours / dicompyler-core / Pinnacle; Δ = ours − Pinnacle, dicompyler − Pinnacle (Gy, cc).",
        "",
        "| structure | " + " | ".join(METRICS) + " | time ours / dicompyler (s) |",
        "|---|" + "---|" * (len(METRICS) + 1),
    ]
    worst = {"ours": 0.0, "dicompyler": 0.0}
    for s in structures.structures:
        t = time.perf_counter()
        ours_doc = compute_dvh(dose, structures, names=[s.name])
        ours_s = time.perf_counter() - t
        row = ours_doc["structures"][0]
        ours = {"volume_cc": row["volume_cc"], **row["metrics"]}
        t = time.perf_counter()
        dcm = dicompyler_dvh(rtss, rtdose, s.number)
        dcm_s = time.perf_counter() - t
        ref = tps.get(s.number)
        cells = []
        for k in METRICS:
            cell = f"{ours[k]:.2f} / {dcm[k]:.2f}"
            if ref is not None:
                cell += f" / {ref[k]:.2f} (Δ {ours[k] - ref[k]:+.2f}, {dcm[k] - ref[k]:+.2f})"
                if k not in ("volume_cc",):
                    worst["ours"] = max(worst["ours"], abs(ours[k] - ref[k]))
                    worst["dicompyler"] = max(worst["dicompyler"], abs(dcm[k] - ref[k]))
            cells.append(cell)
        lines.append(f"| {s.name} | " + " | ".join(cells) + f" | {ours_s:.2f} / {dcm_s:.2f} |")
    lines += [
        "",
        f"largest dose difference to Pinnacle: ours {worst['ours']:.2f} Gy, dicompyler-core "
        f"{worst['dicompyler']:.2f} Gy (dose max {dose.max_gy():.2f} Gy)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
