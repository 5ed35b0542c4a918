"""Which REG item is the planning image's: decided from the images' frames and series, never guessed.

A REG may be written with either image's frame as its Registered RCS (PS3.3 C.20.2: each item registers
its images to the Registered RCS; nothing says that is the planning frame). Taking the Registered RCS
as the planning frame imports a REG written the other way inverted (issue 10, item 1: −6.8 mm where
the truth is +6.1 mm). Truth here: the patient displaced by ``M`` (DESIGN §3) about the isocenter;
the daily → planning map is ``T = A⁻¹`` with ``A = shift(d − p)·M`` (igrt.io.reg docstring).
"""

from __future__ import annotations

import numpy as np
import pytest
from reg_fixtures import write_foreign_reg

from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.io import reg

P_FRAME, D_FRAME, THIRD = "1.2.826.0.1.3680043.10.1459.1", "1.2.826.0.1.3680043.10.1459.2", "1.2.3.99"
P_SERIES, D_SERIES = "1.2.826.0.1.3680043.10.1459.11", "1.2.826.0.1.3680043.10.1459.12"
CT = "1.2.840.10008.5.1.4.1.1.2"
ISO = np.array([20.0, -150.0, 610.0])
D_ISO = np.zeros(3)
#: Patient 6.1 mm left, 2.4 mm posterior, 3.2 mm inferior, rotated 1.5° / −1° / 2° about the isocenter.
M = geometry.rigid_about_point(geometry.rotation_xyz_deg(1.5, -1.0, 2.0), ISO, (6.1, 2.4, -3.2))
T = reg.reg_matrix_from_result(M, ISO, D_ISO)  # daily → planning


def write(tmp_path, items, registered, name="r.dcm", patient="P7"):
    """A REG as another system may write it: items (frame, matrix, series or None), no private block."""
    return write_foreign_reg(tmp_path / name, items, registered, patient)


INV_T = np.linalg.inv(T)  # planning → daily: the planning item's matrix when the daily frame is the RCS
MP = geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 30), (1.0, 2.0, 3.0))  # planning → a third frame
LAYOUTS = {
    # Registered RCS = daily frame: the layout that used to import inverted, daily item first or second.
    "daily-rcs, daily first": ([(D_FRAME, np.eye(4), None), (P_FRAME, INV_T, None)], D_FRAME),
    "daily-rcs, planning first": ([(P_FRAME, INV_T, None), (D_FRAME, np.eye(4), None)], D_FRAME),
    "daily-rcs, one item": ([(P_FRAME, INV_T, None)], D_FRAME),
    "planning-rcs, daily first": ([(D_FRAME, T, None), (P_FRAME, np.eye(4), None)], P_FRAME),
    "third frame": ([(D_FRAME, MP @ T, None), (P_FRAME, MP, None)], THIRD),
}
EVIDENCE = {
    "planning frame (RT plan)": ({"frame_of_reference_uid": P_FRAME}, None),
    "daily frame only": (None, {"frame_of_reference_uid": D_FRAME}),
    "both images": (
        {"frame_of_reference_uid": P_FRAME, "patient_id": "P7"},
        {"frame_of_reference_uid": D_FRAME},
    ),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("evidence", EVIDENCE)
def test_reg_with_either_frame_as_reference_imports_the_truth(tmp_path, layout, evidence):
    items, registered = LAYOUTS[layout]
    planning, daily = EVIDENCE[evidence]
    path = write(tmp_path, items, registered)
    out = reg.result_from_reg(
        path, planning_isocenter_lps=ISO, daily_isocenter_lps=D_ISO, planning=planning, daily=daily
    )
    np.testing.assert_allclose(out["matrix_lps"], M, atol=1e-6)
    assert out["translation_mm"] == pytest.approx([6.1, 2.4, -3.2], abs=1e-5)  # not −6.1: not inverted
    assert out["inputs"]["planning"]["frame_of_reference_uid"] == P_FRAME
    assert out["inputs"]["daily"]["frame_of_reference_uid"] == D_FRAME


def test_shared_frame_told_apart_by_the_referenced_series(tmp_path):
    """Both items in one frame (a daily CT on the planning frame): only the series tell them apart."""
    m = geometry.rigid_matrix(translation=(5.0, 0.0, 0.0))
    t = reg.reg_matrix_from_result(m, ISO, ISO)
    # The daily image is the Registered RCS's identity item, listed first: order and identity both mislead.
    path = write(tmp_path, [(P_FRAME, np.eye(4), D_SERIES), (P_FRAME, np.linalg.inv(t), P_SERIES)], P_FRAME)
    planning = {"frame_of_reference_uid": P_FRAME, "series_uid": P_SERIES}
    out = reg.result_from_reg(path, planning_isocenter_lps=ISO, planning=planning)
    np.testing.assert_allclose(out["matrix_lps"], m, atol=1e-9)
    with pytest.raises(IGRTInputError, match="cannot tell which"):  # the frame alone says nothing here
        reg.result_from_reg(path, planning_isocenter_lps=ISO, planning={"frame_of_reference_uid": P_FRAME})


@pytest.mark.parametrize(
    ("planning", "daily", "words"),
    [
        (None, None, "cannot tell which"),  # another system's REG, nothing given
        ({"frame_of_reference_uid": THIRD}, None, "do not match the images"),  # the REG of other images
        ({"frame_of_reference_uid": P_FRAME}, {"frame_of_reference_uid": P_FRAME}, "do not match"),
        ({"frame_of_reference_uid": P_FRAME, "patient_id": "P8"}, None, "patient"),
        ({"frame_of_reference_uid": D_FRAME, "series_uid": P_SERIES}, None, "disagree"),
    ],
)
def test_undecidable_or_contradicting_frames_refused(tmp_path, planning, daily, words):
    path = write(tmp_path, [(D_FRAME, np.eye(4), None), (P_FRAME, INV_T, P_SERIES)], D_FRAME)
    with pytest.raises(IGRTInputError, match=words) as err:
        reg.result_from_reg(
            path, planning_isocenter_lps=ISO, daily_isocenter_lps=D_ISO, planning=planning, daily=daily
        )
    assert "\n" not in str(err.value)


def test_own_reg_reads_without_images_and_refuses_swapped_ones(tmp_path):
    """Our REG (private block) is read by how we write it; images that say the opposite are refused."""
    doc = {
        "schema_version": "1.0",
        "method": "auto",
        "matrix_lps": M.tolist(),
        "planning_isocenter_lps": ISO.tolist(),
        "daily_isocenter_lps": D_ISO.tolist(),
        "orientation": "HFS",
        "inputs": {
            "planning": {"frame_of_reference_uid": P_FRAME},
            "daily": {"frame_of_reference_uid": D_FRAME},
        },
    }
    path = reg.write_reg(doc, tmp_path / "own.dcm", notes=[])
    np.testing.assert_allclose(reg.result_from_reg(path)["matrix_lps"], M, atol=1e-6)
    same = reg.result_from_reg(path, planning={"frame_of_reference_uid": P_FRAME})
    np.testing.assert_allclose(same["matrix_lps"], M, atol=1e-6)
    with pytest.raises(IGRTInputError, match="swapped"):
        reg.result_from_reg(path, planning={"frame_of_reference_uid": D_FRAME})


def test_cli_import_reg_told_by_the_planning_or_daily_image(tmp_path, capsys):
    """`igrt import-reg --planning/--daily`: the images' headers tell the frames; without them, refused."""
    import json

    import pydicom
    import SimpleITK as sitk

    from igrt.cli.main import main
    from igrt.io.dicom_write import write_image_series

    img = sitk.GetImageFromArray(np.zeros((3, 4, 5), np.float32))
    folders = {role: write_image_series(img, tmp_path / role, patient_id="P7") for role in ("ct", "cbct")}
    frame = {r: str(pydicom.dcmread(sorted(f.iterdir())[0]).FrameOfReferenceUID) for r, f in folders.items()}
    path = write(tmp_path, [(frame["cbct"], np.eye(4), None), (frame["ct"], INV_T, None)], frame["cbct"])
    iso = ["--isocenter", ",".join(map(str, ISO)), "--daily-isocenter", "0,0,0"]
    out = tmp_path / "r.json"
    assert main(["import-reg", str(path), *iso, "--out", str(out)]) == 2
    assert "cannot tell which" in capsys.readouterr().err and not out.exists()
    for option, folder in (("--planning", folders["ct"]), ("--daily", folders["cbct"])):
        assert main(["import-reg", str(path), *iso, option, str(folder), "--out", str(out)]) == 0
        np.testing.assert_allclose(json.loads(out.read_text())["matrix_lps"], M, atol=1e-6)
