"""Our DVH of the Eclipse prostate plan against the DVH table Eclipse itself exported (issue 11 acceptance).

Inputs: Eclipse's RTSTRUCT (planar contours) and the plan dose as SlicerRT exported it (NRRD, Gy,
2.5 mm grid, same frame: the contours' planes are its z planes). Reference: Eclipse's cumulative DVH
table (0.046 Gy bins), read off with linear interpolation; its volumes are given to 0.1 cc.

Tolerances are the issue's acceptance levels (≥ 25 cc: volume 3 %, D98/D95/D50/D2/mean 1.5 % of the
plan maximum 47.07 Gy = 0.71 Gy), for every structure and metric. Measured (README table): volumes within
−0.4 … +0.2 %, doses within 0.33 Gy (bladder D98); the rectum's D98, 0.25 Gy below Eclipse, depends on how
the structure ends (its coldest 2 % is its inferior end, where the dose climbs ~3.7 Gy/mm along z): ending
flat at the end planes gave +1.24 Gy, a flat half slab beyond −3.6 Gy, the cone caps of
igrt.dose.contour_stack −0.25 Gy. SlicerRT's own table is 2.57 Gy below Eclipse for it.
"""

from __future__ import annotations

import pytest

from igrt.dose.dvh import metrics_from_curve
from igrt.dose.workflow import dvh_document
from igrt.io.dvh_table import read_dvh_table

CASE = "eclipse_prostate_rt"
RS = f"{CASE}/dicom/RS.1.2.246.352.71.4.2088656855.2404649.20110920153449.dcm"
DOSE = f"{CASE}/slicerrt_testing/EclipseProstate_Dose.nrrd"
ECLIPSE = f"{CASE}/slicerrt_testing/EclipseProstate_DvhTable_Eclipse.csv"
PLAN_MAX_GY = 47.07  # maximum of the dose grid
DOSE_TOL = 0.015 * PLAN_MAX_GY


def _key(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "")


@pytest.fixture(scope="module")
def comparison(shared_data):
    ours = dvh_document(shared_data / DOSE, shared_data / RS)
    reference = {_key(k): v for k, v in read_dvh_table(shared_data / ECLIPSE).items()}
    return ours, reference


def test_every_eclipse_structure_within_the_acceptance_levels(comparison):
    ours, reference = comparison
    assert ours["dose"]["max_gy"] == pytest.approx(PLAN_MAX_GY, abs=0.01)
    assert {_key(s["name"]) for s in ours["structures"]} == set(reference)
    for s in ours["structures"]:
        ref = reference[_key(s["name"])]
        assert s["volume_cc"] >= 25  # every structure of this plan is in the ≥ 25 cc class
        assert s["volume_cc"] == pytest.approx(ref["volume_cc"], rel=0.03), s["name"]
        expected = metrics_from_curve(ref["dose_gy"], ref["volume_pct"], ref["volume_cc"])
        for metric in ("mean_gy", "D98_gy", "D95_gy", "D50_gy", "D2_gy"):
            assert s["metrics"][metric] == pytest.approx(expected[metric], abs=DOSE_TOL), (s["name"], metric)


def test_the_whole_curve_follows_eclipse(comparison):
    """At every Eclipse dose bin, our volume within 1.5 percent points (the curves, not only the metrics)."""
    import numpy as np

    ours, reference = comparison
    for s in ours["structures"]:
        ref = reference[_key(s["name"])]
        mine = np.interp(ref["dose_gy"], s["dvh"]["dose_gy"], s["dvh"]["volume_pct"])
        worst = float(np.max(np.abs(mine - ref["volume_pct"])))
        assert worst < 1.5, (s["name"], worst)
