"""An analytic plan for the pelvis phantom: a four-field box dose around the prostate and the planning
structures (prostate, PTV, rectum) as planar contours, for ``igrt demo`` and tests of the dose impact.

Not a planning system's dose: each field is a flat beam with an error-function penumbra (σ = 3.5 mm),
no attenuation or scatter. The lateral pair (beams along x) covers |y − c_y| ≤ w_y, |z − c_z| ≤ w_z, the
anterior–posterior pair |x − c_x| ≤ w_x, |z − c_z| ≤ w_z, each pair giving half the prescription, so
the box where they cross gets the prescription and each beam path alone half of it. Field half-widths
= PTV semi-axes + 5 mm. All coordinates LPS mm in the planning frame.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy.special import erf

from igrt.dose.model import Dose, Structure, StructureSet
from igrt.synth.phantom import (
    DEFAULT_CENTER_LPS,
    RECTUM_RADIUS_MM,
    RECTUM_Z_RANGE,
    anatomy_center,
    prostate_ellipsoid_lps,
    rectum_center_y,
)

PRESCRIPTION_GY = 60.0  # e.g. 60 Gy in 20 fractions
PTV_MARGIN_MM = 7.0
FIELD_MARGIN_MM = 5.0
PENUMBRA_SIGMA_MM = 3.5
DOSE_SPACING_MM = 2.5
DOSE_HALF_EXTENT_MM = (120.0, 100.0, 90.0)
PLANE_MM = 2.5
VERTICES = 72


def _field(u, center, half_width):
    """Profile of a flat field of half-width w with an erf penumbra of σ = PENUMBRA_SIGMA_MM (0…1)."""
    s = PENUMBRA_SIGMA_MM * np.sqrt(2.0)
    return 0.5 * (erf((u - center + half_width) / s) - erf((u - center - half_width) / s))


def four_field_box_dose(center_lps, half_widths_mm, prescription_gy=PRESCRIPTION_GY, for_uid=None) -> Dose:
    """The four-field box dose (Gy) on a 2.5 mm grid around ``center_lps`` (see the module docstring)."""
    c = np.asarray(center_lps, float)
    n = (2 * np.asarray(DOSE_HALF_EXTENT_MM) / DOSE_SPACING_MM).astype(int) + 1
    origin = c - np.asarray(DOSE_HALF_EXTENT_MM)
    x, y, z = (origin[i] + DOSE_SPACING_MM * np.arange(n[i]) for i in range(3))
    wx, wy, wz = half_widths_mm
    fx, fy, fz = _field(x, c[0], wx), _field(y, c[1], wy), _field(z, c[2], wz)
    gy = prescription_gy * 0.5 * fz[:, None, None] * (fy[None, :, None] + fx[None, None, :])
    image = sitk.GetImageFromArray(gy.astype(np.float32))
    image.SetOrigin(origin.tolist())
    image.SetSpacing([DOSE_SPACING_MM] * 3)
    return Dose(
        image=image,
        paths=["analytic four-field box (igrt.synth.plan)"],
        summation_type="PLAN",
        dose_type="PHYSICAL",
        frame_of_reference_uid=for_uid,
        warnings=["analytic four-field box dose (flat fields, erf penumbra, no attenuation): not a TPS dose"],
    )


def _ellipse(cx, cy, a, b, z) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, VERTICES, endpoint=False)
    return np.column_stack([cx + a * np.cos(t), cy + b * np.sin(t), np.full(VERTICES, z)])


def ellipsoid_contours(center, semi_axes, plane_mm=PLANE_MM) -> list[np.ndarray]:
    """Axial elliptical contours of an ellipsoid on planes every ``plane_mm`` through its centre."""
    c, (a, b, h) = np.asarray(center, float), semi_axes
    k = np.arange(-np.floor(h / plane_mm), np.floor(h / plane_mm) + 1)
    out = []
    for dz in k * plane_mm:
        f = np.sqrt(max(1.0 - (dz / h) ** 2, 0.0))
        if f > 0.05:
            out.append(_ellipse(c[0], c[1], a * f, b * f, c[2] + dz))
    return out


def pelvis_structures(center=DEFAULT_CENTER_LPS, scale=1.0, for_uid=None) -> StructureSet:
    """Prostate, PTV (prostate + PTV_MARGIN_MM) and rectum of the pelvis phantom as planar contours (LPS)."""
    p_center, p_semi = prostate_ellipsoid_lps(center, scale)
    anatomy = anatomy_center(center, scale)
    z0, z1 = (anatomy[2] + v * scale for v in RECTUM_Z_RANGE)
    zs = np.arange(np.ceil(z0 / PLANE_MM), np.floor(z1 / PLANE_MM) + 1) * PLANE_MM
    r = RECTUM_RADIUS_MM * scale
    rectum = [
        _ellipse(anatomy[0], anatomy[1] + scale * rectum_center_y((z - anatomy[2]) / scale), r, r, z)
        for z in zs
    ]
    rois = [
        ("PTV", ellipsoid_contours(p_center, p_semi + PTV_MARGIN_MM), (255, 0, 0)),
        ("Prostate", ellipsoid_contours(p_center, p_semi), (0, 160, 255)),
        ("Rectum", rectum, (150, 90, 40)),
    ]
    structures = [
        Structure(name, contours=c, color=rgb, number=i + 1, frame_of_reference_uid=for_uid, slab_mm=PLANE_MM)
        for i, (name, c, rgb) in enumerate(rois)
    ]
    return StructureSet(
        structures, path="analytic pelvis structures (igrt.synth.plan)", frame_of_reference_uid=for_uid
    )


def pelvis_plan(center=DEFAULT_CENTER_LPS, scale=1.0, for_uid=None) -> tuple[Dose, StructureSet]:
    """The four-field box around the PTV of the pelvis phantom, and its structures."""
    p_center, p_semi = prostate_ellipsoid_lps(center, scale)
    half = p_semi + PTV_MARGIN_MM + FIELD_MARGIN_MM
    return four_field_box_dose(p_center, half, for_uid=for_uid), pelvis_structures(center, scale, for_uid)
