"""Simulated cone-beam CT of a planning CT whose patient was moved by a known rigid transform.

Why a full projection/reconstruction and not a resampled CT: a daily CBCT differs from the planning CT
in exactly the ways that make registration hard — noise, scatter cupping, truncation of a body wider
than the detector, cone-beam blur and a wrong HU scale. With RTK's Joseph forward projector and FDK we
get those artifacts while the anatomy's position stays known exactly (the TG-132 known-transform test).

Frames (docs/CONVENTIONS.md, DICOM PS3.3 C.7.6.2.1.1, LPS: +x left, +y posterior, +z superior):
- ``matrix_lps`` ``M`` maps a planned-anatomy point q to where it is in the daily image, so the daily
  value at planning-frame point p is the planning value at M⁻¹(p).
- The CBCT has its own frame: the treatment isocenter (= ``planning_isocenter_lps`` in the room) is at
  (0, 0, 0) and is the image centre. Planning point q appears at daily point d = M(q) − planning_iso.
- RTK's circular geometry turns the source about RTK's y axis, source on +z at gantry 0. The patient's
  superior–inferior axis must be that axis, so RTK (x, y, z) = LPS (+x, +z, −y) = (left, superior,
  anterior), a proper rotation ``_RTK_IN_LPS`` (its columns are the RTK axes written in LPS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import itk
import numpy as np
import SimpleITK as sitk
from itk import RTK as rtk
from scipy import ndimage

from igrt import geometry
from igrt.synth.markers import add_to_array

_RTK_IN_LPS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _img_type():
    """itk float 3-D image type; looked up lazily because it loads ITK's libraries (~10 s, once)."""
    return itk.Image[itk.F, 3]


@dataclass(frozen=True)
class CBCTSettings:
    """Acquisition and reconstruction of a simulated CBCT (mm, degrees; detector is (u, v) = (axial, S–I))."""

    size: tuple[int, int, int] = (270, 270, 200)
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    n_projections: int = 180
    detector_size: tuple[int, int] = (256, 220)
    detector_spacing: tuple[float, float] = (1.6, 1.6)
    sid: float = 1000.0
    sdd: float = 1500.0
    start_angle: float = 0.0
    #: grid (mm) on which the moved CT is forward projected; it covers the whole body, not only the FOV
    volume_spacing: float = 1.5
    #: unattenuated photons per detector pixel (Poisson noise); 0 = noiseless
    i0: float = 3.0e4
    #: scatter added to the primary before the log: fraction × primary blurred by ``scatter_sigma``
    scatter_fraction: float = 0.15
    scatter_sigma: float = 60.0
    mu_water: float = 0.0195  # 1/mm, about 70 keV
    hann_cut: float = 0.9
    #: FDK's extrapolation of truncated projections (fraction of the width); 0 = raw truncation artifacts
    truncation_correction: float = 0.0
    hu_scale: float = 0.96
    hu_offset: float = -25.0
    #: value outside the reconstructed cylinder (no data), like a vendor's field-of-view mask
    fill_hu: float = -1000.0
    seed: int = 0

    def fov_radius(self) -> float:
        """Radius (mm, at the isocenter) of the cylinder every projection sees: set by the detector width."""
        u_half = self.detector_size[0] * self.detector_spacing[0] / 2
        return float(self.sid * np.sin(np.arctan(u_half / self.sdd)))


def _geometry(s: CBCTSettings):
    g = rtk.ThreeDCircularProjectionGeometry.New()
    for i in range(s.n_projections):
        g.AddProjection(s.sid, s.sdd, s.start_angle + i * 360.0 / s.n_projections)
    return g


def _itk(arr, origin, spacing):
    img = itk.image_from_array(np.ascontiguousarray(arr, np.float32))
    img.SetOrigin([float(v) for v in origin])
    img.SetSpacing([float(v) for v in spacing])
    return img


def _body_corners(planning: sitk.Image, threshold=-500.0) -> np.ndarray:
    """LPS corners of the box holding everything denser than air (what can attenuate a ray)."""
    a = sitk.GetArrayViewFromImage(planning) > threshold
    if not a.any():
        a = np.ones_like(a)
    ranges = []
    for ax in (2, 1, 0):  # array axes (z, y, x) → index order (x, y, z)
        hit = np.flatnonzero(a.any(axis=tuple(i for i in range(3) if i != ax)))
        ranges.append((hit[0] - 1.0, hit[-1] + 1.0))
    idx = np.array(np.meshgrid(*ranges, indexing="ij")).reshape(3, -1).T
    return np.array([planning.TransformContinuousIndexToPhysicalPoint(list(map(float, i))) for i in idx])


def moved_attenuation(planning, matrix_lps, planning_isocenter_lps, s: CBCTSettings, inclusions=()):
    """μ (1/mm) of the moved anatomy on an RTK-frame grid that covers the body: an itk image for RTK.

    ``inclusions``: [(markers at their daily positions, μ)] drawn in with their partial volume.
    """
    # Planning point q → daily (CBCT-frame) point d = M(q) − iso: the isocenter is the CBCT origin.
    a = geometry.planning_to_daily(matrix_lps, planning_isocenter_lps, (0.0, 0.0, 0.0))
    corners_d = geometry.apply(a, _body_corners(planning))
    corners_r = corners_d @ _RTK_IN_LPS  # r = Dᵀ d for each row
    lo, hi = corners_r.min(axis=0), corners_r.max(axis=0)
    # S–I: rays reaching the detector edge stay within ±v_half·(sid + far side)/sdd of the midplane.
    reach = max(np.abs(corners_r[:, [0, 2]]).max(), s.fov_radius())
    v_half = s.detector_size[1] * s.detector_spacing[1] / 2 * (s.sid + reach) / s.sdd
    lo[1], hi[1] = max(lo[1], -v_half), min(hi[1], v_half)
    h = s.volume_spacing
    n = np.maximum(np.ceil((hi - lo) / h).astype(int) + 1, 2)
    ref = sitk.Image([int(v) for v in n], sitk.sitkFloat32)
    ref.SetSpacing([h] * 3)
    ref.SetDirection(_RTK_IN_LPS.ravel().tolist())
    ref.SetOrigin((_RTK_IN_LPS @ lo).tolist())
    # Output (daily) point d ← planning point A⁻¹(d): the patient moved by M (docs/CONVENTIONS.md).
    inv = np.linalg.inv(a)
    t = sitk.AffineTransform(3)
    t.SetMatrix(inv[:3, :3].ravel().tolist())
    t.SetTranslation(inv[:3, 3].tolist())
    hu = sitk.GetArrayFromImage(sitk.Resample(planning, ref, t, sitk.sitkLinear, -1000.0, sitk.sitkFloat32))
    mu = np.maximum(s.mu_water * (1.0 + hu / 1000.0), 0.0)
    for objects, value in inclusions:
        add_to_array(mu, objects, _RTK_IN_LPS @ lo, [h] * 3, _RTK_IN_LPS, value)
    return _itk(mu, lo, [h] * 3)


def _detector_source(s: CBCTSettings):
    nu, nv = s.detector_size
    du, dv = s.detector_spacing
    src = rtk.ConstantImageSource[_img_type()].New()
    src.SetOrigin([-(nu - 1) / 2 * du, -(nv - 1) / 2 * dv, 0.0])
    src.SetSpacing([du, dv, 1.0])
    src.SetSize([nu, nv, s.n_projections])
    src.SetConstant(0.0)
    return src


def _measure(line_integrals: np.ndarray, s: CBCTSettings, rng) -> np.ndarray:
    """Line integrals → detected intensity with scatter and Poisson noise → measured line integrals."""
    if s.i0 <= 0 and s.scatter_fraction <= 0:
        return line_integrals
    i0 = s.i0 if s.i0 > 0 else 1.0
    primary = i0 * np.exp(-line_integrals.astype(np.float64))
    signal = primary
    if s.scatter_fraction > 0:
        sig = (0.0, s.scatter_sigma / s.detector_spacing[1], s.scatter_sigma / s.detector_spacing[0])
        signal = primary + s.scatter_fraction * ndimage.gaussian_filter(primary, sig, mode="nearest")
    floor = 1e-9 * i0
    if s.i0 > 0:
        signal = rng.poisson(signal).astype(np.float64)
        floor = 0.5  # a detector reading of zero photons is logged as half a photon
    return (-np.log(np.maximum(signal, floor) / i0)).astype(np.float32)


def _fdk(projections, geometry, s: CBCTSettings):
    """FDK (Hann-windowed ramp) onto the CBCT grid expressed in the RTK frame."""
    nx, ny, nz = s.size
    sx, sy, sz = s.spacing
    size_r, spacing_r = [nx, nz, ny], [sx, sz, sy]
    src = rtk.ConstantImageSource[_img_type()].New()
    src.SetOrigin([-(n - 1) / 2 * h for n, h in zip(size_r, spacing_r, strict=True)])
    src.SetSpacing(spacing_r)
    src.SetSize(size_r)
    src.SetConstant(0.0)
    f = rtk.FDKConeBeamReconstructionFilter[_img_type()].New()
    f.SetInput(0, src.GetOutput())
    f.SetInput(1, projections)
    f.SetGeometry(geometry)
    f.GetRampFilter().SetHannCutFrequency(s.hann_cut)
    f.GetRampFilter().SetTruncationCorrection(s.truncation_correction)
    f.Update()
    return itk.array_from_image(f.GetOutput())


def simulate_cbct(
    planning: sitk.Image, matrix_lps, planning_isocenter_lps, settings=None, timings=None, inclusions=()
) -> sitk.Image:
    """Daily CBCT (float32 HU, LPS, isocenter at the origin and image centre) of the moved planning CT.

    Deterministic for a given ``settings.seed``. ``timings`` (a dict) receives seconds per stage.
    ``inclusions`` ([(markers in the CBCT frame, μ 1/mm)]) are drawn into the attenuation analytically.
    """
    s = settings or CBCTSettings()
    tm = timings if timings is not None else {}
    t0 = time.perf_counter()
    mu = moved_attenuation(planning, matrix_lps, planning_isocenter_lps, s, inclusions)
    tm["resample_s"] = time.perf_counter() - t0
    geometry = _geometry(s)
    fp = rtk.JosephForwardProjectionImageFilter[_img_type(), _img_type()].New()
    detector = _detector_source(s)  # keep the source alive until the pipeline has run
    fp.SetInput(0, detector.GetOutput())
    fp.SetInput(1, mu)
    fp.SetGeometry(geometry)
    t0 = time.perf_counter()
    fp.Update()
    tm["forward_projection_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    proj = fp.GetOutput()
    p = _measure(itk.array_from_image(proj), s, np.random.default_rng(s.seed))
    measured = _itk(p, proj.GetOrigin(), proj.GetSpacing())
    tm["noise_scatter_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec = _fdk(measured, geometry, s)
    tm["fdk_s"] = time.perf_counter() - t0
    return _to_lps_image(rec, s)


def _to_lps_image(rec_r: np.ndarray, s: CBCTSettings) -> sitk.Image:
    """RTK array [z_r=anterior, y_r=superior, x_r=left] → LPS array [z, y, x] in HU, FOV-masked."""
    mu = rec_r.transpose(1, 0, 2)[:, ::-1, :]  # z = y_r; y (posterior) = −z_r, reversed; x = x_r
    hu = 1000.0 * (mu / s.mu_water - 1.0)
    hu = s.hu_scale * hu + s.hu_offset
    nx, ny, _ = s.size
    sx, sy, _ = s.spacing
    x = (np.arange(nx) - (nx - 1) / 2) * sx
    y = (np.arange(ny) - (ny - 1) / 2) * sy
    outside = (x[None, :] ** 2 + y[:, None] ** 2) > s.fov_radius() ** 2
    hu[:, outside] = s.fill_hu
    img = sitk.GetImageFromArray(np.ascontiguousarray(hu, np.float32))
    img.SetSpacing([float(v) for v in s.spacing])
    img.SetOrigin([-(n - 1) / 2 * h for n, h in zip(s.size, s.spacing, strict=True)])
    return img
