"""SlicerRT's DVH tables read on real MRML (slicer-core), and the DVH engine choice under slicer-core.

Reference: SlicerRT's own DVH of the Eclipse prostate plan (``EclipseProstate_DvhTable_SlicerRT.csv``,
written by vtkSlicerDoseVolumeHistogramModuleLogic::ExportDvhToCsv) read as a vtkMRMLTableNode by the
real table storage node. Its metrics through ``metrics_from_curve`` are the README's SlicerRT column
(Eclipse value + SlicerRT − Eclipse, each rounded to 0.01 Gy: within 0.011 Gy), and its curve's mean is
SlicerRT's own voxel mean (``EclipseProstate_DvhMetrics_SlicerRT.csv``) within 0.005 Gy. SlicerRT itself
is not installable here: its ComputeDvh call runs only in the module's Slicer self-test.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

import vtk  # noqa: E402

from igrt.dose.dvh import metrics_from_curve  # noqa: E402
from igrt.dose.workflow import CORE_ENGINE  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import slicerrt_dvh  # noqa: E402

TESTING = "eclipse_prostate_rt/slicerrt_testing"
TABLE = f"{TESTING}/EclipseProstate_DvhTable_SlicerRT.csv"
METRICS = f"{TESTING}/EclipseProstate_DvhMetrics_SlicerRT.csv"

# README "DVH against Eclipse", SlicerRT: the Eclipse value + SlicerRT − Eclipse (Gy)
README_SLICERRT = {
    "BODY": {"mean_gy": 15.59 - 0.11, "D98_gy": 0.70 - 0.03, "D95_gy": 0.85 - 0.02, "D50_gy": 10.03 - 0.22},
    "Bladder": {
        "mean_gy": 45.90 + 0.01,
        "D98_gy": 39.60 - 0.25,
        "D95_gy": 43.66 + 0.11,
        "D2_gy": 46.78 + 0.05,
    },
    "Femoral Head Lt": {"D98_gy": 21.93 - 0.17, "D50_gy": 25.00, "D2_gy": 28.94 + 0.02},
    "Femoral Head RT": {"mean_gy": 25.84, "D2_gy": 30.18 - 0.13},
    "PTV": {"D98_gy": 45.19 - 0.02, "D95_gy": 45.36 - 0.02, "D50_gy": 45.95 - 0.01, "D2_gy": 46.22 + 0.06},
    "Rectum": {"mean_gy": 39.15 - 0.04, "D98_gy": 23.20 - 2.57, "D50_gy": 41.89 + 0.12, "D2_gy": 45.67},
}


@pytest.fixture(scope="module")
def export_node(shared_data):
    """SlicerRT's exported DVH CSV read by Slicer's own table storage node into a table node."""
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", "SlicerRT DVH")
    storage = scene.AddNewNodeByClass("vtkMRMLTableStorageNode")
    storage.SetFileName(str(shared_data / TABLE))
    assert storage.ReadData(node)
    return scene, node


def test_slicerrt_export_table_gives_the_readme_slicerrt_numbers(export_node, shared_data):
    _, node = export_node
    curves = slicerrt_dvh.curves_from_table_node(node)
    assert sorted(curves) == sorted(README_SLICERRT)
    with open(shared_data / METRICS, newline="") as f:
        own = {row["Structure"]: row for row in csv.DictReader(f)}
    for name, expected in README_SLICERRT.items():
        c = curves[name]
        assert c["dose_gy"][0] == 0.0 and c["volume_pct"][0] == 100.0 and c["dropped_rows"] == 0
        assert c["volume_cc"] == pytest.approx(float(own[name]["Volume (cc)"]), abs=5e-4)
        m = metrics_from_curve(c["dose_gy"], c["volume_pct"], c["volume_cc"])
        for key, value in expected.items():
            assert m[key] == pytest.approx(value, abs=0.011), (name, key)
        assert m["mean_gy"] == pytest.approx(float(own[name]["Mean dose (GY)"]), abs=0.005), name
        # min/max read off 0.2 Gy bins: within one bin of SlicerRT's voxel min/max
        assert m["max_gy"] == pytest.approx(float(own[name]["Max dose (GY)"]), abs=0.2), name
        assert m["min_gy"] == pytest.approx(float(own[name]["Min dose (GY)"]), abs=0.2), name


def _segment_table(scene, name, dose, pct, volume_cc=None, segment_id=None):
    """A per-segment DVH table node laid out as SlicerRT's ComputeDvh makes it: ``Dose``, ``Volume`` (%)."""
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{segment_id or name}_DvhTable")
    for title, values in (("Dose", dose), ("Volume", pct)):
        column = vtk.vtkDoubleArray()
        column.SetName(title)
        for v in values:
            column.InsertNextValue(float(v))
        node.GetTable().AddColumn(column)
    if volume_cc is not None:
        node.SetAttribute(slicerrt_dvh.VOLUME_CC_ATTRIBUTE, f"{volume_cc}")
    if segment_id is not None:
        node.SetAttribute(slicerrt_dvh.SEGMENT_ID_ATTRIBUTE, segment_id)
    return node


def test_per_segment_table_reads_as_the_export(export_node):
    scene, node = export_node
    ptv = slicerrt_dvh.curves_from_table_node(node)["PTV"]
    one = _segment_table(scene, "x", ptv["dose_gy"], ptv["volume_pct"], 48.613, segment_id="PTV")
    ((name, curve),) = slicerrt_dvh.curves_from_table_node(one).items()
    assert name == "PTV" and curve["volume_cc"] == pytest.approx(48.613)
    np.testing.assert_array_equal(curve["dose_gy"], ptv["dose_gy"])
    np.testing.assert_array_equal(curve["volume_pct"], ptv["volume_pct"])
    by_name = _segment_table(scene, "Rectum", [0.0, 0.1, 0.3, 0.5], [100.0, 100.0, 40.0, 0.0], 30.41)
    ((name, curve),) = slicerrt_dvh.curves_from_table_node(by_name).items()
    # hand-worked: D50 between (0.1 Gy, 100 %) and (0.3 Gy, 40 %) → 0.1 + 0.2·50/60
    assert name == "Rectum" and metrics_from_curve(curve["dose_gy"], curve["volume_pct"])["D50_gy"] == (
        pytest.approx(0.1 + 0.2 * 50 / 60)
    )
    no_volume = _segment_table(scene, "Bladder", [0.0, 0.1], [100.0, 0.0])
    with pytest.raises(IGRTInputError, match="Volume \\(cc\\)"):
        slicerrt_dvh.curves_from_table_node(no_volume)
    other = scene.AddNewNodeByClass("vtkMRMLTableNode", "not a DVH")
    with pytest.raises(IGRTInputError, match="not a SlicerRT DVH table"):
        slicerrt_dvh.curves_from_table_node(other)


def test_engine_under_slicer_core_is_the_igrt_core():
    assert not slicerrt_dvh.slicerrt_available()  # the slicer-core wheel has no SlicerRT
    assert slicerrt_dvh.dvh_engine() == CORE_ENGINE == slicerrt_dvh.dvh_engine("core") == "igrt core"
    with pytest.raises(IGRTInputError, match="Dose Volume Histogram module is not loaded"):
        slicerrt_dvh.dvh_engine("slicerrt")
    with pytest.raises(IGRTInputError, match="DVH engine 'eclipse'"):
        slicerrt_dvh.dvh_engine("eclipse")


def test_engine_is_slicerrt_when_its_module_is_loaded(monkeypatch):
    """The choice rule only: Slicer's ``slicer.modules`` holds ``dosevolumehistogram`` when SlicerRT is
    loaded, and SlicerRT's MRML class is importable; then "auto" picks SlicerRT."""

    class Modules:
        dosevolumehistogram = object()

    monkeypatch.setattr(slicer, "modules", Modules(), raising=False)
    assert not slicerrt_dvh.slicerrt_available()  # the module without SlicerRT's MRML class: not usable
    monkeypatch.setattr(slicer, "vtkMRMLDoseVolumeHistogramNode", object, raising=False)
    assert slicerrt_dvh.slicerrt_available()
    assert slicerrt_dvh.dvh_engine() == slicerrt_dvh.SLICERRT_ENGINE == "SlicerRT DoseVolumeHistogram"
    assert slicerrt_dvh.dvh_engine("core") == CORE_ENGINE
