"""Structure readers: real Eclipse and Pinnacle RTSTRUCT contours, written ones that must be refused,
Slicer .seg.nrrd files written by Slicer's own storage node (slicer-core), and label maps.

Expected counts of the real files are read again here with pydicom, independently of the reader.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dose_fixtures import FOR_UID, box_contours, make_dose, write_rtstruct

from igrt.dose.rasterize import polygon_area_mm2
from igrt.dose.sampling import sample_structure
from igrt.dose.workflow import compute_dvh
from igrt.errors import IGRTInputError
from igrt.io.structures import read_structures

ECLIPSE_RS = "eclipse_prostate_rt/dicom/RS.1.2.246.352.71.4.2088656855.2404649.20110920153449.dcm"
PINNACLE_RS = "pinnacle_breast_rt/rtss.dcm"


def _contour_counts(path):
    ds = pydicom.dcmread(path)
    names = {int(r.ROINumber): r.ROIName for r in ds.StructureSetROISequence}
    return {
        names[int(i.ReferencedROINumber)]: len(i.ContourSequence)
        for i in ds.ROIContourSequence
        if len(i.get("ContourSequence", []))
    }


def test_eclipse_structure_set(shared_data):
    path = shared_data / ECLIPSE_RS
    ss = read_structures(path)
    assert ss.names() == ["BODY", "Bladder", "Femoral Head Lt", "Femoral Head RT", "PTV", "Rectum"]
    assert {s.name: len(s.contours) for s in ss.structures} == _contour_counts(path)
    assert "CTV" in ss.empty and "optRectum" in ss.empty and len(ss.empty) == 10
    assert ss.frame_of_reference_uid == "1.2.840.113619.2.55.3.671756986.106.1316467036.462.11505.1"
    assert ss.structures[4].color == (0, 0, 220)  # PTV's ROI Display Color
    assert ss.structures[0].slab_mm == pytest.approx(2.5)


def test_pinnacle_several_contours_per_plane_nothing_dropped(shared_data):
    """Lt Lung: 165 contours on 80 planes. Its volume is the even–odd area of each plane × 3 mm (end planes ½),
    plus a cone cap of area × 3/6 mm beyond each end plane (igrt.dose.contour_stack)."""
    path = shared_data / PINNACLE_RS
    ss = read_structures(path)
    counts = _contour_counts(path)
    assert {s.name: len(s.contours) for s in ss.structures} == counts
    assert "Areola" in ss.empty
    lung = next(s for s in ss.structures if s.name == "Lt Lung")
    planes = Counter(round(float(c[0, 2]), 2) for c in lung.contours)
    assert len(planes) == 80 and max(planes.values()) > 1
    # the lung's contours of one plane are disjoint islands (none inside another), so the volume is
    # Σ area × 3 mm with the end planes ½ + ⅙ (half their slab, and the cap); a dropped contour would cost
    # ≥ 1 % here
    z = np.array([c[0, 2] for c in lung.contours])
    weights = np.where((z == z.min()) | (z == z.max()), 0.5 + 1 / 6, 1.0)
    expected = sum(w * polygon_area_mm2(c) for w, c in zip(weights, lung.contours, strict=True)) * 3.0
    assert sample_structure(lung, 1.0).volume_mm3 == pytest.approx(expected, rel=0.01)


def test_malformed_contours_are_refused_in_one_line(tmp_path):
    good = box_contours(0, 10, 0, 10, [0.0, 2.5])
    bowtie = np.array([[0, 0, 5], [10, 10, 5], [10, 0, 5], [0, 6, 5]], float)  # unequal lobes
    tilted = np.array([[0, 0, 0], [10, 0, 1], [10, 10, 2], [0, 10, 1]], float)
    cases = {
        "crosses itself": bowtie,
        "is not on an axial plane": tilted,
        "a closed contour needs ≥ 3 points": np.array([[0, 0, 0], [1, 1, 0]], float),
        "encloses no area": np.array([[0, 0, 0], [1, 1, 0], [2, 2, 0]], float),
    }
    for message, contour in cases.items():
        path = write_rtstruct(tmp_path / "RS.dcm", [("PTV", good), ("Bad", [contour])])
        with pytest.raises(IGRTInputError, match=message) as err:
            read_structures(path)
        assert "\n" not in str(err.value) and "'Bad' contour 1" in str(err.value)


def test_structures_and_dose_of_different_frames_are_refused(tmp_path):
    path = write_rtstruct(tmp_path / "RS.dcm", [("PTV", box_contours(0, 10, 0, 10, [0.0, 2.5, 5.0]))])
    dose = make_dose(np.ones((10, 15, 15)), for_uid=FOR_UID + ".2")
    with pytest.raises(IGRTInputError, match="frame of reference .* the dose in .*do not belong together"):
        compute_dvh(dose, read_structures(path))
    doc = compute_dvh(make_dose(np.ones((10, 15, 15))), read_structures(path))
    # 500 mm³ and two cone caps of 5 sub-planes each: 2·100·1.25·(1/3 − 1/300) mm³
    assert doc["structures"][0]["volume_cc"] == pytest.approx(0.5825)


def test_label_map_structures(tmp_path):
    a = np.zeros((8, 9, 10), np.int16)
    a[1:4, 2:5, 3:7] = 3
    a[5:7, 1:3, 1:2] = 7
    image = sitk.GetImageFromArray(a)
    image.SetSpacing((1.0, 2.0, 2.5))
    sitk.WriteImage(image, str(tmp_path / "labels.nii.gz"))
    ss = read_structures(tmp_path / "labels.nii.gz")
    assert ss.names() == ["label 3", "label 7"]
    assert [sample_structure(s, 0.5).volume_mm3 for s in ss.structures] == pytest.approx([36 * 5.0, 4 * 5.0])
    sitk.WriteImage(sitk.GetImageFromArray(a * 0.5), str(tmp_path / "ct.nrrd"))
    with pytest.raises(IGRTInputError, match="non-integer values"):
        read_structures(tmp_path / "ct.nrrd")


def test_seg_nrrd_written_by_slicer(tmp_path):
    """Two segments imported from a label map plus an overlapping one (Slicer then writes two layers)."""
    slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")
    from igrt.mrml import volumes

    scene = slicer.vtkMRMLScene()
    a = np.zeros((10, 12, 14), np.uint8)
    a[2:6, 3:7, 4:9] = 1  # 4·4·5 voxels
    a[6:9, 3:5, 2:4] = 2  # 3·2·2
    image = sitk.GetImageFromArray(a)
    image.SetSpacing((1.0, 1.5, 2.0))
    image.SetOrigin((10.0, -20.0, 30.0))
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    for labels in (a, (a == 1).astype(np.uint8) * 5):  # the second import overlaps the first segment
        node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        img = sitk.GetImageFromArray(labels)
        img.CopyInformation(image)
        volumes.update_node_from_image(node, img)
        assert logic.ImportLabelmapToSegmentationNode(node, seg)
    segmentation = seg.GetSegmentation()
    for i, (name, rgb) in enumerate(
        [("PTV", (0.0, 0.0, 1.0)), ("Rectum", (0.5, 0.25, 0.25)), ("PTV copy", (1, 1, 0))]
    ):
        segmentation.GetNthSegment(i).SetName(name)
        segmentation.GetNthSegment(i).SetColor(*rgb)
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "structures.seg.nrrd"))
    assert storage.WriteData(seg)
    ss = read_structures(tmp_path / "structures.seg.nrrd")
    assert ss.names() == ["PTV", "Rectum", "PTV copy"]
    assert [s.color for s in ss.structures] == [(0, 0, 255), (128, 64, 64), (255, 255, 0)]
    volumes_mm3 = [sample_structure(s, 0.5).volume_mm3 for s in ss.structures]
    assert volumes_mm3 == pytest.approx([80 * 3.0, 12 * 3.0, 80 * 3.0])  # voxel 1×1.5×2 = 3 mm³
    ptv = ss.structures[0].mask
    first = np.argwhere(sitk.GetArrayViewFromImage(ptv))[0][::-1]  # (x, y, z) index of a PTV voxel
    assert ptv.TransformIndexToPhysicalPoint([int(v) for v in first]) == pytest.approx((14.0, -15.5, 34.0))
