"""Slicer ``.seg.vtm`` segmentations: SlicerRT's planar contours of the Eclipse prostate structures (RAS)
read back to the same contours, volumes and DVH as Eclipse's RTSTRUCT (LPS); a closed-surface file
written by VTK (a sphere of known volume); and ``igrt dvh`` reading a ``.seg.vtm``."""

from __future__ import annotations

import json

import numpy as np
import pytest

vtk = pytest.importorskip("vtk", reason="VTK is not installed")

from igrt.cli.main import main  # noqa: E402
from igrt.dose.sampling import sample_structure  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.io.structures import read_structures  # noqa: E402
from igrt.mrml.seg_vtm import read_seg_vtm  # noqa: E402

CASE = "eclipse_prostate_rt"
VTM = f"{CASE}/slicerrt_testing/EclipseProstate_Structures.seg.vtm"
RS = f"{CASE}/dicom/RS.1.2.246.352.71.4.2088656855.2404649.20110920153449.dcm"
DOSE = f"{CASE}/slicerrt_testing/EclipseProstate_Dose.nrrd"


def test_slicerrt_planar_contours_are_the_rtstruct_contours(shared_data):
    vtm = read_seg_vtm(shared_data / VTM)
    rs = read_structures(shared_data / RS)
    assert vtm.names() == rs.names()
    assert vtm.structures[4].color == (0, 0, 220)  # PTV, as in the RTSTRUCT's ROI Display Color
    for a, b in zip(vtm.structures, rs.structures, strict=True):
        assert len(a.contours) == len(b.contours) and a.slab_mm == b.slab_mm
        # same planes, and every RAS point flipped back onto the LPS contour (x, y negated)
        za = sorted(float(c[0, 2]) for c in a.contours)
        assert za == pytest.approx(sorted(float(c[0, 2]) for c in b.contours))
        first = min(a.contours, key=lambda c: c[0, 2])
        match = min(b.contours, key=lambda c: c[0, 2])
        d = np.min(np.linalg.norm(match[:, None, :] - first[None, :, :], axis=2), axis=1)
        assert d.max() < 1e-3, a.name
    rect_a = next(s for s in vtm.structures if s.name == "Rectum")
    rect_b = next(s for s in rs.structures if s.name == "Rectum")
    assert sample_structure(rect_a, 0.5).volume_mm3 == pytest.approx(
        sample_structure(rect_b, 0.5).volume_mm3, rel=1e-4
    )


def test_closed_surface_sphere(tmp_path):
    """A 20 mm sphere at RAS (10, −20, 30) = LPS (−10, 20, 30): 33.51 cc, voxelised at 1 mm (±3 %)."""
    sphere = vtk.vtkSphereSource()
    sphere.SetCenter(10.0, -20.0, 30.0)
    sphere.SetRadius(20.0)
    sphere.SetThetaResolution(96)
    sphere.SetPhiResolution(96)
    sphere.Update()
    poly = sphere.GetOutput()
    name = vtk.vtkStringArray()
    name.SetName("Segment_Name")
    name.InsertNextValue("Ball")
    poly.GetFieldData().AddArray(name)
    blocks = vtk.vtkMultiBlockDataSet()
    blocks.SetBlock(0, poly)
    writer = vtk.vtkXMLMultiBlockDataWriter()
    writer.SetFileName(str(tmp_path / "ball.seg.vtm"))
    writer.SetInputData(blocks)
    assert writer.Write()
    (ball,) = read_seg_vtm(tmp_path / "ball.seg.vtm").structures
    samples = sample_structure(ball, 0.5)
    assert ball.name == "Ball"
    assert samples.volume_mm3 == pytest.approx(4 / 3 * np.pi * 20.0**3, rel=0.03)
    assert samples.points.mean(axis=0) == pytest.approx((-10.0, 20.0, 30.0), abs=0.1)
    with pytest.raises(IGRTInputError, match="needs VTK"):
        read_structures(tmp_path / "ball.seg.vtm")  # the core reader names the one that reads it


def test_igrt_dvh_reads_a_seg_vtm(shared_data, tmp_path, capsys):
    out = tmp_path / "dvh.json"
    assert (
        main(
            ["dvh", str(shared_data / DOSE), str(shared_data / VTM), "--structure", "PTV", "--out", str(out)]
        )
        == 0
    )
    (ptv,) = json.loads(out.read_text())["structures"]
    assert ptv["volume_cc"] == pytest.approx(48.50, abs=0.02)  # as from the RTSTRUCT (README table)
    assert ptv["metrics"]["D95_gy"] == pytest.approx(45.36, abs=0.02)
    capsys.readouterr()
