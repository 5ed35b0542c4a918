"""Gold-marker detection on CT: sub-voxel centroids of partial-volume markers, no bone taken for a marker."""

import json

import numpy as np
import SimpleITK as sitk

from conftest import make_block_phantom
from igrt.marker_detect import detect_markers

# Three gold cylinders (1 mm × 3 mm, axis along z, 8000 HU) at non-integer voxel positions.
CENTERS_INDEX = ((100.3, 84.6, 50.2), (112.7, 78.2, 44.9), (90.5, 95.1, 58.4))


def _ct_with_markers():
    img = make_block_phantom(size=(200, 170, 100), spacing=(1.0, 1.0, 1.25), origin=(-100.0, -140.0, 220.0))
    arr = sitk.GetArrayFromImage(img)
    sp = np.array(img.GetSpacing())
    sub = (np.arange(4) + 0.5) / 4 - 0.5  # 4³ supersampling: the partial volume of each voxel
    truth = []
    for c in CENTERS_INDEX:
        ci = np.array(c)
        truth.append(img.TransformContinuousIndexToPhysicalPoint(c))
        lo = np.floor(ci - 4).astype(int)
        zz, yy, xx = np.meshgrid(*(np.arange(a, a + 9) for a in lo[::-1]), indexing="ij")
        frac = np.zeros(zz.shape)
        for dx in sub:
            for dy in sub:
                for dz in sub:
                    x, y, z = (
                        (xx + dx - ci[0]) * sp[0],
                        (yy + dy - ci[1]) * sp[1],
                        (zz + dz - ci[2]) * sp[2],
                    )
                    frac += ((x**2 + y**2 <= 0.25) & (np.abs(z) <= 1.5)) / 64
        block = arr[lo[2] : lo[2] + 9, lo[1] : lo[1] + 9, lo[0] : lo[0] + 9]
        block[...] = block * (1 - frac) + 8000 * frac
    out = sitk.GetImageFromArray(arr.astype(np.float32))
    out.CopyInformation(img)
    return out, np.array(truth)


def test_markers_found_at_their_centroids():
    img, truth = _ct_with_markers()
    found = detect_markers(img)
    assert len(found) == 3  # the bone (1200 HU) and the dense sphere (900 HU) are not markers
    for t in truth:
        err = min(np.linalg.norm(p - t) for p, _ in found)
        assert err < 0.3, err
    assert all(0 < c <= 1 for _, c in found)


def test_search_box_and_cli(tmp_path, capsys):
    from igrt.cli import main

    img, truth = _ct_with_markers()
    found = detect_markers(img, roi_center_lps=truth[0], roi_size_mm=(10, 10, 10))
    assert len(found) == 1 and np.linalg.norm(found[0][0] - truth[0]) < 0.3
    sitk.WriteImage(img, str(tmp_path / "ct.mha"))
    out = tmp_path / "markers.json"
    assert main(["fiducials", "detect", str(tmp_path / "ct.mha"), "--out", str(out)]) == 0
    markers = json.loads(out.read_text())["markers"]
    assert len(markers) == 3 and {"position_lps", "confidence"} <= set(markers[0])
    capsys.readouterr()
