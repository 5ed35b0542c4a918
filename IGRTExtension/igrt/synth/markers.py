"""Implanted gold markers for the known-transform cases: shapes, partial-volume rendering and truth.

Why analytic markers: a marker is 1 mm across, smaller than a CT voxel, so its image is all partial
volume. Each marker is rendered as the fraction of every voxel it fills (supersampled), into the
planning CT in HU and into the CBCT simulator's attenuation grid at its daily position; the projector
then makes the streaks (photon starvation, scatter) a real CBCT shows, and the truth is the marker's
centre, known exactly. Shapes: gold cylinders (seeds), spheres and coils (a coil is a thin hollow
helix: a cylinder of lower mean density).

Positions are DICOM patient LPS mm (PS3.3 C.7.6.2.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igrt import geometry

#: Planning CT value of solid gold (beam hardening and the scanner's calibration keep it far below
#: µ_gold/µ_water), stored on
#: an extended CT scale that saturates at ``CT_MAX_HU`` like a real scanner's (the CT is drawn, not
#: reconstructed).
CT_GOLD_HU = 150000.0
CT_MAX_HU = 30710.0
#: Effective linear attenuation of gold (1/mm) in the simulated CBCT beam: about 100 keV, above gold's
#: K edge (µ/ρ ≈ 5 cm²/g × 19.3 g/cm³ ≈ 10/cm·10; taken lower, 5/mm, for a hardened beam).
MU_GOLD = 5.0
#: Mean fill of a coil's envelope (a gold wire wound tightly into a 0.75 mm helix).
COIL_FILL = 0.6
#: A prostate calcification or phlebolith: dense for soft tissue, far below gold (HU; µ = µ_water·(1 + HU/1000)).
CALCIFICATION_HU = 900.0


@dataclass(frozen=True)
class Marker:
    """One marker: ``shape`` "cylinder" | "sphere" | "coil", centre (LPS mm), unit axis, size (mm)."""

    shape: str
    center_lps: tuple
    axis: tuple = (0.0, 0.0, 1.0)
    length_mm: float = 3.0
    diameter_mm: float = 1.0

    def fill(self) -> float:
        return COIL_FILL if self.shape == "coil" else 1.0

    def moved(self, matrix) -> Marker:
        """The marker carried by a rigid 4×4 (its centre and axis)."""
        m = np.asarray(matrix, float)
        c = geometry.apply(m, self.center_lps)
        a = m[:3, :3] @ np.asarray(self.axis, float)  # a direction: rotated, not translated
        return Marker(
            self.shape, tuple(map(float, c)), tuple(map(float, a)), self.length_mm, self.diameter_mm
        )

    def shifted(self, offset_mm) -> Marker:
        c = np.asarray(self.center_lps, float) + np.asarray(offset_mm, float)
        return Marker(self.shape, tuple(map(float, c)), self.axis, self.length_mm, self.diameter_mm)

    def inside(self, pts: np.ndarray) -> np.ndarray:
        """Boolean: which of the N×3 LPS points lie in the marker."""
        d = pts - np.asarray(self.center_lps, float)
        if self.shape == "sphere":
            return np.einsum("...i,...i->...", d, d) <= (self.diameter_mm / 2) ** 2
        a = np.asarray(self.axis, float)
        a = a / np.linalg.norm(a)
        along = d @ a
        radial2 = np.einsum("...i,...i->...", d, d) - along**2
        return (np.abs(along) <= self.length_mm / 2) & (radial2 <= (self.diameter_mm / 2) ** 2)

    def interior_points(self) -> tuple[np.ndarray, float]:
        """(N×3 LPS points filling the marker on a fine grid in its own frame, volume per point mm³)."""
        h = min(self.diameter_mm, self.length_mm) / 10
        a = np.asarray(self.axis, float)
        a = a / np.linalg.norm(a)
        u = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        u /= np.linalg.norm(u)
        v = np.cross(a, u)
        half_len = self.diameter_mm / 2 if self.shape == "sphere" else self.length_mm / 2
        along = (np.arange(np.ceil(2 * half_len / h)) + 0.5) * h - half_len
        across = (np.arange(np.ceil(self.diameter_mm / h)) + 0.5) * h - self.diameter_mm / 2
        la, lu, lv = np.meshgrid(along, across, across, indexing="ij")
        pts = np.asarray(self.center_lps, float) + la.reshape(-1, 1) * a + lu.reshape(-1, 1) * u
        pts = pts + lv.reshape(-1, 1) * v
        pts = pts[self.inside(pts)]
        return pts, self.volume_mm3() / len(pts)  # the exact volume, shared by the points

    def volume_mm3(self) -> float:
        """Volume of the marker's envelope (mm³)."""
        if self.shape == "sphere":
            return float(np.pi / 6 * self.diameter_mm**3)
        return float(np.pi / 4 * self.diameter_mm**2 * self.length_mm)

    def reach_mm(self) -> float:
        return max(self.length_mm, self.diameter_mm) / 2


def fraction_patches(markers, origin, spacing, direction, shape_zyx, psf_voxels: float = 0.6):
    """[(slices, fraction block)] of each marker on a grid (array order z, y, x), seen through a PSF.

    ``direction`` is the 3×3 whose columns are the grid's index axes in LPS. A voxel's value is the
    marker's fill averaged under a Gaussian point-spread function centred on the voxel, σ =
    ``psf_voxels`` × the spacing along each axis: a scanner resolves about its voxel size, and without a
    PSF a marker smaller than a voxel would carry no sub-voxel position at all. The values sum (× voxel
    volume) to the marker's volume × fill, and their centroid is the marker's centre.
    """
    origin, spacing = np.asarray(origin, float), np.asarray(spacing, float)
    step = np.asarray(direction, float).reshape(3, 3) * spacing  # index → LPS offset
    to_index = np.linalg.inv(step)
    sigma = psf_voxels * spacing
    out = []
    for mk in markers:
        pts, dv = mk.interior_points()
        pi = (pts - origin) @ to_index.T  # continuous indices of the interior points (x, y, z)
        r = np.ceil(mk.reach_mm() / spacing + 3 * psf_voxels) + 1
        ci = to_index @ (np.asarray(mk.center_lps, float) - origin)
        lo = np.maximum(np.floor(ci - r).astype(int), 0)
        hi = np.minimum(np.ceil(ci + r).astype(int) + 1, np.asarray(shape_zyx)[::-1])
        if np.any(hi <= lo):
            continue
        # Separable Gaussian: weight of every interior point for every voxel index along each axis.
        g = [
            np.exp(-0.5 * ((np.arange(a, b)[:, None] - pi[:, k][None]) * spacing[k] / sigma[k]) ** 2)
            / (np.sqrt(2 * np.pi) * sigma[k])
            for k, (a, b) in enumerate(zip(lo, hi, strict=True))
        ]
        frac = np.einsum("ip,jp,kp->kji", *g) * dv * mk.fill()  # (z, y, x)
        out.append(((slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])), frac))
    return out


def add_to_array(array, markers, origin, spacing, direction, value) -> None:
    """Blend ``value`` into ``array`` (z, y, x) in proportion to each marker's voxel fraction."""
    for sl, frac in fraction_patches(markers, origin, spacing, direction, array.shape):
        block = array[sl]
        block += frac * (value - block)


def prostate_marker_set(isocenter_lps, seed: int, n: int = 3) -> tuple[Marker, ...]:
    """``n`` markers of mixed shapes spread 8–18 mm around the isocenter, as implanted in a prostate.

    Markers are at least 10 mm apart (as implanted, and so that pairing is unambiguous); shapes and axes
    are drawn from ``seed``.
    """
    rng = np.random.default_rng(seed)
    kinds = [
        ("cylinder", 3.0, 1.0),
        ("cylinder", 5.0, 1.2),
        ("cylinder", 3.0, 0.8),
        ("sphere", 1.5, 1.5),
        ("coil", 10.0, 0.75),
    ]
    iso = np.asarray(isocenter_lps, float)
    centres: list[np.ndarray] = []
    while len(centres) < n:
        d = rng.normal(size=3)
        c = iso + d / np.linalg.norm(d) * rng.uniform(8.0, 18.0)
        if all(np.linalg.norm(c - o) >= 10.0 for o in centres):
            centres.append(c)
    out = []
    for c in centres:
        shape, length, diameter = kinds[int(rng.integers(len(kinds)))]
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        out.append(Marker(shape, tuple(np.round(c, 2)), tuple(np.round(axis, 4)), length, diameter))
    return tuple(out)
