"""A loaded image volume with the DICOM identity the workflow must check before matching."""

from __future__ import annotations

from dataclasses import dataclass, field

import SimpleITK as sitk


@dataclass
class Volume:
    """An image in DICOM patient coordinates (LPS, mm) plus where it came from.

    ``image`` is a float32 SimpleITK image whose origin/spacing/direction are LPS (DICOM PS3.3
    C.7.6.2). Identity fields are ``None`` when the source (e.g. a NRRD file) does not carry them.
    """

    image: sitk.Image
    path: str
    modality: str | None = None
    patient_id: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    frame_of_reference_uid: str | None = None
    patient_position: str | None = None
    warnings: list[str] = field(default_factory=list)

    def center_lps(self):
        """Physical center of the image grid (LPS mm): the default daily isocenter of a CBCT."""
        size = self.image.GetSize()
        return self.image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in size])

    def identity(self) -> dict:
        """The fields recorded in the result JSON's ``inputs``."""
        return {
            "path": self.path,
            "modality": self.modality,
            "patient_id": self.patient_id,
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "patient_position": self.patient_position,
            "size": list(self.image.GetSize()),
            "spacing_mm": [round(s, 6) for s in self.image.GetSpacing()],
        }
