"""RT plans: the isocenter and patient position of two real plans, and the refusals.

Expected numbers were read by hand with pydicom (``dcmread(f).BeamSequence[i].ControlPointSequence[0]
.IsocenterPosition`` and ``PatientSetupSequence``), not produced by the code under test.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from igrt.errors import IGRTInputError
from igrt.io.rtplan import read_rtplan

ECLIPSE_PLAN = "eclipse_prostate_rt/dicom/RP.1.2.246.352.71.5.2088656855.377401.20110920153647.dcm"


def test_eclipse_prostate_plan(shared_data):
    """Eclipse 8.1 prostate phantom: 4 fields + a CBCT setup field, all at one isocenter.

    By hand: every beam's first control point has IsocenterPosition [-1.31333e-4, 9.0895911e-1,
    -3.333e-6] mm; all 5 patient setups are HFS; RTPlanLabel 'PROS'; PatientID 'TEST PHYS PROSTATE'.
    The plan has no Frame of Reference UID; its structure set RS.1.2.246.352.71.4.2088656855.2404649
    .20110920153449 (same folder) references frame 1.2.840.113619.2.55.3.671756986.106.1316467036.462.11505.1.
    """
    info = read_rtplan(shared_data / ECLIPSE_PLAN)
    assert info.isocenter_lps == pytest.approx([-1.31333e-4, 0.90895911, -3.333e-6], abs=1e-9)
    assert info.patient_position == "HFS"
    assert info.plan_label == "PROS"
    assert info.patient_id == "TEST PHYS PROSTATE"
    assert info.sop_instance_uid == "1.2.246.352.71.5.2088656855.377401.20110920153647"
    assert info.frame_of_reference_uid == "1.2.840.113619.2.55.3.671756986.106.1316467036.462.11505.1"
    assert list(info.beam_isocenters) == ["AP PROS", "RT LAT PROS", "PA PROS", "LT LAT PROS", "CBCT"]
    assert info.warnings == []


def test_pinnacle_breast_plan(shared_data):
    """Pinnacle breast plan (dicompyler-core test data): 4 photon beams at one isocenter.

    By hand: IsocenterPosition [72.5304715048, -304.3445582552, -9.3092401018882] mm in beams
    '3 RAO', '4 AP', '5 LAO', '6 LPO'; setups HFS; RTPlanLabel 'B1'; PatientID '123456';
    FrameOfReferenceUID 2.16.840.1.113662.2.12.0.3057.1241703565.36.
    """
    info = read_rtplan(shared_data / "pinnacle_breast_rt" / "rtplan.dcm")
    assert info.isocenter_lps == pytest.approx([72.5304715048, -304.3445582552, -9.3092401018882], abs=1e-9)
    assert info.patient_position == "HFS"
    assert info.plan_label == "B1"
    assert info.patient_id == "123456"
    assert info.sop_instance_uid == "1.2.246.352.71.5.320687012.24189.20090603083342"
    assert info.frame_of_reference_uid == "2.16.840.1.113662.2.12.0.3057.1241703565.36"
    assert list(info.beam_isocenters) == ["3 RAO", "4 AP", "5 LAO", "6 LPO"]
    assert info.warnings == []


def _plan(tmp_path, isocenters, positions=("HFS",), name="plan.dcm", setup_beam=None):
    """A minimal RT Plan: one beam per isocenter, beam i uses setup i (mod len(positions))."""
    ds = pydicom.Dataset()
    ds.SOPClassUID = pydicom.uid.RTPlanStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "RTPLAN"
    ds.PatientID = "P"
    ds.RTPlanLabel = "TEST"
    ds.FrameOfReferenceUID = "1.2.3"
    ds.PatientSetupSequence = []
    for i, pos in enumerate(positions):
        s = pydicom.Dataset()
        s.PatientSetupNumber, s.PatientPosition = i + 1, pos
        ds.PatientSetupSequence.append(s)
    ds.BeamSequence = []
    for i, iso in enumerate(isocenters):
        b = pydicom.Dataset()
        b.BeamNumber, b.BeamName = i + 1, f"B{i + 1}"
        b.TreatmentDeliveryType = "SETUP" if i == setup_beam else "TREATMENT"
        b.ReferencedPatientSetupNumber = i % len(positions) + 1
        cp = pydicom.Dataset()
        if iso is not None:
            cp.IsocenterPosition = list(iso)
        b.ControlPointSequence = [cp]
        ds.BeamSequence.append(b)
    path = tmp_path / name
    ds.save_as(path, implicit_vr=True, little_endian=True)
    return path


def test_beams_that_disagree_are_named(tmp_path):
    info = read_rtplan(_plan(tmp_path, [(0, 0, 0), (0, 0, 0.005), (10, 0, 0), (0, -5, 0)]))
    assert info.isocenter_lps == pytest.approx([0, 0, 0])
    (w,) = info.warnings
    assert "different isocenters" in w and "'B1'" in w and "'B3'" in w and "'B4'" in w and "'B2'" not in w


def test_treatment_beam_isocenter_preferred_over_setup_beam(tmp_path):
    info = read_rtplan(_plan(tmp_path, [(5, 5, 5), (1, 2, 3)], setup_beam=0))
    assert info.isocenter_lps == pytest.approx([1, 2, 3])
    assert "'B1'" in info.warnings[0]


def test_plan_without_isocenter_refused(tmp_path):
    with pytest.raises(IGRTInputError, match="no beam with an Isocenter Position"):
        read_rtplan(_plan(tmp_path, [None, None]))


def test_plan_with_two_patient_positions_refused(tmp_path):
    with pytest.raises(IGRTInputError, match=r"different patient positions: \['FFS', 'HFS'\]"):
        read_rtplan(_plan(tmp_path, [(0, 0, 0), (0, 0, 0)], positions=("HFS", "FFS")))


def test_structure_set_is_not_a_plan(shared_data):
    with pytest.raises(IGRTInputError, match="is not an RT plan \\(it is RTSTRUCT\\)"):
        read_rtplan(shared_data / "pinnacle_breast_rt" / "rtss.dcm")


def test_not_a_plan_refused(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(IGRTInputError, match="not an RT plan|not a readable DICOM"):
        read_rtplan(tmp_path / "x.txt")
    with pytest.raises(IGRTInputError, match="does not exist"):
        read_rtplan(tmp_path / "missing.dcm")
    with pytest.raises(IGRTInputError, match="does not exist or is not a file"):
        read_rtplan(tmp_path)


def test_isocenter_is_a_float_array(tmp_path):
    info = read_rtplan(_plan(tmp_path, [(1.5, -2.25, 3)]))
    assert isinstance(info.isocenter_lps, np.ndarray) and info.isocenter_lps.dtype == float
