"""What the REG writer writes is validated: invalid UIDs, orientation text or non-finite numbers never
reach a REG file (issue 10, items 4 and 12); the refusal is one line and leaves nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest

from igrt import geometry
from igrt.errors import IGRTInputError
from igrt.io import reg

ISO = [10.0, -40.0, 200.0]
GOOD_UID = "1.2.826.0.1.3680043.10.1459.7"


def result(**edit) -> dict:
    m = geometry.rigid_matrix(translation=(3.0, -2.0, 1.0))
    doc = {
        "schema_version": "1.0",
        "method": "auto",
        "matrix_lps": m.tolist(),
        "planning_isocenter_lps": ISO,
        "daily_isocenter_lps": [0.0, 0.0, 0.0],
        "orientation": "HFS",
        "inputs": {"planning": {"frame_of_reference_uid": GOOD_UID}, "daily": {}},
    }
    doc.update(edit)
    return doc


BAD = {
    "frame UID with letters": (
        {"inputs": {"planning": {"frame_of_reference_uid": "1.2.3.abc"}, "daily": {}}},
        "FrameOfReferenceUID would hold '1.2.3.abc', not a valid UI",
    ),
    "study UID with a leading zero": (
        {"inputs": {"planning": {"study_uid": "1.2.03.4", "frame_of_reference_uid": GOOD_UID}, "daily": {}}},
        "StudyInstanceUID would hold '1.2.03.4'",
    ),
    "daily frame UID too long": (
        {"inputs": {"planning": {}, "daily": {"frame_of_reference_uid": "1." + "2" * 70}}},
        r"RegistrationSequence\[2\].FrameOfReferenceUID",
    ),
    "orientation lower case with a space": (
        {"orientation": "hfs x"},
        "unsupported result orientation 'hfs x'",
    ),
    "orientation not a position": ({"orientation": "SUPINE"}, "unsupported result orientation"),
    "NaN planning isocenter": ({"planning_isocenter_lps": [float("nan"), 0.0, 0.0]}, "three finite LPS"),
    "Inf daily isocenter": ({"daily_isocenter_lps": [0.0, float("inf"), 0.0]}, "three finite LPS"),
    "text isocenter": ({"planning_isocenter_lps": "10,-40,200"}, "three finite LPS"),
    "NaN in the matrix": (
        {"matrix_lps": [[1, 0, 0, float("nan")], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
        "rigid",
    ),
    "inputs a list": ({"inputs": ["a"]}, "inputs is not an object"),
    "inputs.planning text": ({"inputs": {"planning": "ct", "daily": {}}}, "must be objects"),
}


@pytest.mark.parametrize("case", BAD)
def test_invalid_values_never_reach_a_reg(tmp_path, case):
    edit, words = BAD[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pydicom warning is no longer the only sign
        with pytest.raises(IGRTInputError, match=words) as err:
            reg.write_reg(result(**edit), tmp_path / "reg.dcm", notes=[])
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_valid_values_written_and_orientation_normalised(tmp_path):
    path = reg.write_reg(result(orientation="ffs"), tmp_path / "reg.dcm", notes=[])
    ds = pydicom.dcmread(path)
    assert ds.FrameOfReferenceUID == GOOD_UID
    back = reg.result_from_reg(path)
    assert back["orientation"] == "FFS"
    np.testing.assert_allclose(back["planning_isocenter_lps"], ISO)
