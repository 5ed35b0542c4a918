"""The dose model's array outlives the image it came from (a view of a freed buffer would not)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import SimpleITK as sitk

from igrt.dose.model import Dose


def _temporary_dose() -> Dose:
    return Dose(image=sitk.GetImageFromArray(np.full((20, 30, 40), 7.5, np.float32)), paths=[])


def test_array_of_a_temporary_dose_keeps_its_values():
    """``_temporary_dose().array()``: the Dose and its image are gone after the call. A view of the image's
    buffer then reads freed memory (0 Gy once new images reuse it, seen with the old view); the copy keeps
    7.5 Gy."""
    values = _temporary_dose().array()
    reuse = [sitk.GetImageFromArray(np.zeros((20, 30, 40), np.float32)) for _ in range(20)]
    gc.collect()
    assert float(values.min()) == float(values.max()) == 7.5 and len(reuse) == 20
    with pytest.raises(ValueError, match="read-only"):
        values[0, 0, 0] = 1.0


def test_array_follows_a_replaced_image():
    dose = _temporary_dose()
    first = dose.array()
    assert dose.array() is first  # held, not copied again
    dose.image = sitk.GetImageFromArray(np.full((2, 3, 4), 1.0, np.float32))
    assert dose.array().shape == (2, 3, 4) and float(dose.array().max()) == 1.0
