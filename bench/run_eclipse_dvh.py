"""Our DVH of the Eclipse prostate plan beside Eclipse's own DVH table and SlicerRT's (README table).

Inputs (../shared/data/eclipse_prostate_rt): Eclipse's RTSTRUCT, the plan dose as SlicerRT exported it
(NRRD, Gy), Eclipse's exported DVH table and SlicerRT's DVH table of the same plan. Prints a Markdown
table: volume (cc) of each, and per dose metric ours − Eclipse and SlicerRT − Eclipse (Gy), with the
acceptance level of issue 11 (≥ 25 cc: 1.5 % of the plan maximum; volume 3 %).

    .venv/bin/python bench/run_eclipse_dvh.py
"""

from __future__ import annotations

import time
from pathlib import Path

from igrt.dose.dvh import metrics_from_curve
from igrt.dose.workflow import dvh_document
from igrt.io.dvh_table import read_dvh_table

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eclipse_prostate_rt"
RS = DATA / "dicom" / "RS.1.2.246.352.71.4.2088656855.2404649.20110920153449.dcm"
DOSE = DATA / "slicerrt_testing" / "EclipseProstate_Dose.nrrd"
METRICS = ("mean_gy", "D98_gy", "D95_gy", "D50_gy", "D2_gy")


def _key(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "")


def main() -> None:
    t0 = time.perf_counter()
    ours = dvh_document(DOSE, RS)
    elapsed = time.perf_counter() - t0
    tables = {
        who: {
            _key(k): v
            for k, v in read_dvh_table(
                DATA / "slicerrt_testing" / f"EclipseProstate_DvhTable_{who}.csv"
            ).items()
        }
        for who in ("Eclipse", "SlicerRT")
    }
    dmax = ours["dose"]["max_gy"]
    print(
        f"plan maximum {dmax:.2f} Gy; acceptance 1.5 % of it = {0.015 * dmax:.2f} Gy; ours in {elapsed:.1f} s\n"
    )
    print(
        "| structure | volume cc: ours / Eclipse / SlicerRT | " + " | ".join(m[:-3] for m in METRICS) + " |"
    )
    print("|---|---|" + "---|" * len(METRICS))
    worst = 0.0
    for s in ours["structures"]:
        e, r = tables["Eclipse"][_key(s["name"])], tables["SlicerRT"][_key(s["name"])]
        em = metrics_from_curve(e["dose_gy"], e["volume_pct"], e["volume_cc"])
        rm = metrics_from_curve(r["dose_gy"], r["volume_pct"], r["volume_cc"])
        cells = []
        for m in METRICS:
            d = s["metrics"][m] - em[m]
            worst = max(worst, abs(d) / dmax)
            cells.append(f"{em[m]:.2f}: {d:+.2f} / {rm[m] - em[m]:+.2f}")
        vol = f"{s['volume_cc']:.1f} / {e['volume_cc']:.1f} / {r['volume_cc']:.1f} ({100 * (s['volume_cc'] / e['volume_cc'] - 1):+.1f} %)"
        print(f"| {s['name']} | {vol} | " + " | ".join(cells) + " |")
    print(
        f"\ncells: Eclipse value (Gy): ours − Eclipse / SlicerRT − Eclipse; worst of ours {100 * worst:.1f} % of the maximum"
    )


if __name__ == "__main__":
    main()
