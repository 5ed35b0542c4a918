"""Recipes of the known-transform cases: which planning CT, which displacement, which CBCT.

Displacements are drawn once from fixed seeds (translations within ±15 mm, rotations within ±3° on
every axis: all six degrees of freedom), so the benchmark is reproducible and its truth never drifts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from igrt import geometry
from igrt.synth.cbct import CBCTSettings

#: Full size: 270×270×200 at 1 mm from a 512×512×120 CT (the default acquisition).
FULL_CBCT = CBCTSettings()
#: Medium: the same 27 cm field at 1.25 mm, a coarser detector.
MEDIUM_CBCT = CBCTSettings(
    size=(216, 216, 160), spacing=(1.25, 1.25, 1.25), detector_size=(192, 176), detector_spacing=(2.13, 2.13)
)
#: Demo: 1.5 mm voxels, 120 projections — a few seconds.
DEMO_CBCT = CBCTSettings(
    size=(180, 180, 128),
    spacing=(1.5, 1.5, 1.5),
    n_projections=120,
    detector_size=(160, 124),
    detector_spacing=(2.56, 2.56),
    volume_spacing=2.0,
)
#: Tiny (tests): 64³ at 2.5 mm (16 cm field: the scaled pelvis is still truncated), 72 projections.
TINY_CBCT = CBCTSettings(
    size=(64, 64, 64),
    spacing=(2.5, 2.5, 2.5),
    n_projections=72,
    detector_size=(80, 88),
    detector_spacing=(3.0, 3.0),
    volume_spacing=2.5,
)
MEDIUM_CT = dict(ct_size=(256, 256, 96), ct_spacing=(1.953125, 1.953125, 3.0))
FULL_CT = dict(ct_size=(512, 512, 120), ct_spacing=(0.9765625, 0.9765625, 2.5))


@dataclass(frozen=True)
class CaseSpec:
    """Everything a case is made from; its hash (with the generator version) is the cache key."""

    name: str
    description: str = ""
    source: str = "pelvis"  # "pelvis" (drawn phantom), "tg119" or "abdomen" (real CTs, ../shared/data)
    ct_size: tuple = (256, 256, 96)
    ct_spacing: tuple = (1.953125, 1.953125, 3.0)
    scale: float = 1.0
    phantom_seed: int = 0
    tg119_path: str | None = None
    #: TG-119 only: add steel QA beads (``tg119.QA_BEADS_LPS``) so that a CBCT constrains all 6 DOF
    qa_beads: bool = True
    #: planning isocenter (LPS); None: the prostate landmark (pelvis) or the TG-119 core centre (0, 0, 0)
    isocenter_lps: tuple | None = None
    #: displacement of the isocenter (mm) and rotation about it (°, R = Rz·Ry·Rx about LPS axes)
    translation_mm: tuple = (0.0, 0.0, 0.0)
    rotation_deg: tuple = (0.0, 0.0, 0.0)
    #: an explicit 4×4 (planning frame) instead of translation/rotation
    matrix: tuple | None = None
    cbct: CBCTSettings = CBCTSettings()
    #: implanted gold markers (``markers.Marker``, planning frame), in the planning CT and in the CBCT
    markers: tuple = ()
    #: dense non-marker spots (calcifications, ``CALCIFICATION_HU``) a detector must not take for markers
    calcifications: tuple = ()
    #: (marker index, (dx, dy, dz) mm): that marker migrated by this LPS offset before the daily image
    migration: tuple | None = None
    #: pelvis only: the prostate (with its markers and calcifications) moved by this LPS offset (mm,
    #: planning frame) against the bone before the daily set-up displacement (``organ_motion``)
    organ_shift_mm: tuple | None = None
    #: a named target ellipsoid of the planning CT (``abdomen.ORGANS``): its mask is written with the case
    target: str | None = None
    #: (centre LPS, radius mm, seed): the bowel gas within the sphere differs on the day (``gas.change_gas``)
    gas_change: tuple | None = None

    def key_fields(self) -> dict:
        """The recipe as hashed for the cache; optional fields only when used (older keys stay valid)."""
        d = dataclasses.asdict(self)
        for k in ("markers", "calcifications", "migration", "organ_shift_mm", "target", "gas_change"):
            if not d[k]:
                del d[k]
        return d

    def planning_recipe(self) -> dict:
        """The fields that determine the planning CT (shared between cases)."""
        if self.source == "tg119":
            return {"source": "tg119", "qa_beads": self.qa_beads}
        if self.source == "abdomen":
            return {"source": "abdomen"}
        return {k: getattr(self, k) for k in ("source", "ct_size", "ct_spacing", "scale", "phantom_seed")}

    def isocenter(self) -> np.ndarray:
        if self.isocenter_lps is not None:
            return np.asarray(self.isocenter_lps, float)
        if self.source == "tg119":
            return np.zeros(3)
        if self.source == "abdomen":
            from igrt.synth.abdomen import organ_ellipsoid_lps

            return organ_ellipsoid_lps(self.target or "kidney_left")[0]
        from igrt.synth.phantom import landmark_lps

        return landmark_lps("prostate", scale=self.scale)

    def matrix_lps(self) -> np.ndarray:
        if self.matrix is not None:
            return np.asarray(self.matrix, float)
        r = geometry.rotation_xyz_deg(*self.rotation_deg)
        return geometry.rigid_about_point(r, self.isocenter(), self.translation_mm)

    def target_matrix_lps(self) -> np.ndarray:
        """Where the prostate went: the set-up displacement after its own shift against the bone."""
        shift = self.organ_shift_mm or (0.0, 0.0, 0.0)
        return self.matrix_lps() @ geometry.rigid_matrix(translation=shift)


def _draw(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    t = np.round(rng.uniform(-15.0, 15.0, 3), 2)
    r = np.round(rng.uniform(-3.0, 3.0, 3), 2)
    return {"translation_mm": tuple(map(float, t)), "rotation_deg": tuple(map(float, r))}


def _bench() -> list[CaseSpec]:
    out = []
    for i in range(1, 6):
        out.append(
            CaseSpec(
                name=f"pelvis_m{i:02d}",
                description="pelvis phantom, CT 256×256×96, CBCT 216×216×160 at 1.25 mm",
                cbct=dataclasses.replace(MEDIUM_CBCT, seed=i),
                **MEDIUM_CT,
                **_draw(100 + i),
            )
        )
    out += [
        CaseSpec(
            name="pelvis_m06_lowdose",
            description="pelvis phantom, low dose, strong scatter and a poor HU calibration",
            cbct=dataclasses.replace(
                MEDIUM_CBCT, seed=6, i0=8e3, scatter_fraction=0.35, hu_scale=0.88, hu_offset=-70.0
            ),
            **MEDIUM_CT,
            **_draw(106),
        ),
        CaseSpec(
            name="pelvis_m07_small",
            description="a smaller patient (anatomy ×0.9, other texture), vendor truncation correction",
            scale=0.9,
            phantom_seed=1,
            cbct=dataclasses.replace(MEDIUM_CBCT, seed=7, truncation_correction=0.1),
            **MEDIUM_CT,
            **_draw(107),
        ),
        CaseSpec(
            name="pelvis_m08_extreme",
            description="pelvis phantom at the edges of the range: 15 mm, 3° on every axis",
            cbct=dataclasses.replace(MEDIUM_CBCT, seed=8),
            translation_mm=(15.0, -15.0, 15.0),
            rotation_deg=(-3.0, 3.0, -3.0),
            **MEDIUM_CT,
        ),
    ]
    for i in (1, 2):
        out.append(
            CaseSpec(
                name=f"tg119_{i:02d}",
                description="real TG-119 phantom CT (3×3×2.5 mm, native grid) with 4 steel QA beads, CBCT 216×216×160 at 1.25 mm",
                source="tg119",
                cbct=dataclasses.replace(MEDIUM_CBCT, seed=20 + i),
                **_draw(120 + i),
            )
        )
    for i in (1, 2):
        out.append(
            CaseSpec(
                name=f"pelvis_full_{i:02d}",
                description="pelvis phantom, CT 512×512×120, CBCT 270×270×200 at 1 mm",
                cbct=dataclasses.replace(FULL_CBCT, seed=30 + i),
                **FULL_CT,
                **_draw(130 + i),
            )
        )
    return out


BENCH_SPECS = _bench()


def _demo() -> CaseSpec:
    from igrt.synth.markers import prostate_marker_set
    from igrt.synth.phantom import landmark_lps

    return CaseSpec(
        name="demo",
        description="pelvis phantom (CT 256×256×96) with 4 gold markers in the prostate, CBCT 180×180×128 at 1.5 mm",
        cbct=DEMO_CBCT,
        translation_mm=(6.0, -4.0, 3.0),
        rotation_deg=(1.0, -1.5, 2.0),
        markers=prostate_marker_set(landmark_lps("prostate"), seed=5, n=4),
        **MEDIUM_CT,
    )


DEMO_SPEC = _demo()
TINY_SPEC = CaseSpec(
    name="tiny",
    description="tiny pelvis (anatomy ×0.55, CT 96×96×48 at 2.5 mm, CBCT 64³) for tests",
    ct_size=(96, 96, 48),
    ct_spacing=(2.5, 2.5, 2.5),
    scale=0.55,
    translation_mm=(4.0, -3.0, 5.0),
    rotation_deg=(1.5, -1.0, 2.0),
    cbct=TINY_CBCT,
)


def _marker_bench() -> list[CaseSpec]:
    """CBCT cases with 3–4 implanted markers (mixed shapes), calcifications, one migrated marker."""
    from igrt.synth.markers import Marker, prostate_marker_set
    from igrt.synth.phantom import landmark_lps

    iso = landmark_lps("prostate")
    calcs = (Marker("sphere", tuple(np.round(iso + (6.0, 9.0, -7.0), 2)), diameter_mm=2.0),)
    out = []
    for i in range(1, 11):
        cbct = dataclasses.replace(MEDIUM_CBCT, seed=40 + i)
        if i == 9:
            cbct = dataclasses.replace(cbct, i0=8e3, scatter_fraction=0.35, hu_scale=0.88, hu_offset=-70.0)
        out.append(
            CaseSpec(
                name=f"markers_{i:02d}",
                description=f"pelvis phantom with {3 + i % 2} gold markers (mixed shapes) and a calcification"
                + (", low dose, strong scatter" if i == 9 else ""),
                cbct=cbct,
                markers=prostate_marker_set(iso, seed=200 + i, n=3 + i % 2),
                calcifications=calcs,
                **MEDIUM_CT,
                **_draw(140 + i),
            )
        )
    out.append(
        CaseSpec(
            name="markers_11_migration",
            description="4 gold markers, marker 2 migrated 4 mm (S–I) between planning and treatment",
            cbct=dataclasses.replace(MEDIUM_CBCT, seed=51),
            markers=prostate_marker_set(iso, seed=211, n=4),
            calcifications=calcs,
            migration=(1, (0.0, 0.0, 4.0)),
            **MEDIUM_CT,
            **_draw(151),
        )
    )
    return out


MARKER_SPECS = _marker_bench()


#: Prostate shifts against the bone (LPS mm): mostly anterior–posterior and superior–inferior, as the
#: rectum and bladder fill, up to 6 mm.
ORGAN_SHIFTS = ((0.0, 3.0, -4.0), (1.5, -3.0, 5.0), (-2.0, 4.0, 2.0), (0.0, -5.0, -3.0))


def _soft_bench() -> list[CaseSpec]:
    """CBCT cases whose prostate (with 3 markers) moved against the bone: the soft-tissue benchmark."""
    from igrt.synth.markers import prostate_marker_set
    from igrt.synth.phantom import landmark_lps

    iso = landmark_lps("prostate")
    return [
        CaseSpec(
            name=f"soft_{i:02d}",
            description=f"pelvis phantom, prostate moved {shift} mm against the bone, 3 gold markers",
            cbct=dataclasses.replace(MEDIUM_CBCT, seed=60 + i),
            markers=prostate_marker_set(iso, seed=260 + i, n=3),
            organ_shift_mm=shift,
            **MEDIUM_CT,
            **_draw(160 + i),
        )
        for i, shift in enumerate(ORGAN_SHIFTS, start=1)
    ]


SOFT_SPECS = _soft_bench()


def _tiny_markers() -> CaseSpec:
    from igrt.synth.markers import prostate_marker_set

    # Markers need CBCT voxels near 1 mm: a 96 × 96 × 64 grid at 1.25 mm around the isocenter.
    cbct = dataclasses.replace(
        TINY_CBCT,
        size=(96, 96, 64),
        spacing=(1.25, 1.25, 1.25),
        detector_size=(128, 96),
        detector_spacing=(1.5, 1.5),
        volume_spacing=1.25,
    )
    return dataclasses.replace(
        TINY_SPEC,
        name="tiny-markers",
        description="tiny pelvis (anatomy ×0.55) with 4 gold markers, CBCT 96×96×64 at 1.25 mm",
        cbct=cbct,
        markers=prostate_marker_set(TINY_SPEC.isocenter(), seed=3, n=4),
    )


TINY_MARKER_SPEC = _tiny_markers()


def _abdomen_bench() -> list[CaseSpec]:
    """Known-transform CBCTs of the real abdomen-pelvis CT: soft-tissue and bone targets, hard cases.

    The isocenter is the target's centre unless said otherwise. The CT (3 mm, 366 mm wide) is wider
    than the CBCT's 27 cm field, so every CBCT is truncated laterally.
    """
    from igrt.synth.abdomen import organ_ellipsoid_lps

    def spec(i, name, target, description, cbct=None, **kw):
        return CaseSpec(
            name=f"abdo_{i:02d}_{name}",
            description=f"real abdomen-pelvis CT (3 mm), {description}, CBCT 216×216×160 at 1.25 mm",
            source="abdomen",
            ct_size=(122, 101, 112),
            ct_spacing=(3.0, 3.0, 3.0),
            target=target,
            cbct=cbct or dataclasses.replace(MEDIUM_CBCT, seed=70 + i),
            **{**_draw(170 + i), **kw},
        )

    kidney = organ_ellipsoid_lps("kidney_right")[0]
    low_dose = dict(i0=8e3, scatter_fraction=0.35, hu_scale=0.88, hu_offset=-70.0)
    return [
        spec(1, "kidney_left", "kidney_left", "left kidney target"),
        spec(2, "kidney_right", "kidney_right", "right kidney target"),
        spec(3, "bladder", "bladder", "full bladder target, hip prosthesis (metal) in the field"),
        spec(4, "spine", "lumbar_vertebra", "lumbar vertebra (bone) target"),
        spec(
            5,
            "lowdose",
            "bladder",
            "bladder target, low dose, strong scatter and a poor HU calibration",
            cbct=dataclasses.replace(MEDIUM_CBCT, seed=75, **low_dose),
        ),
        # The right kidney 100 mm lateral of the isocenter: its outer edge is 11 mm inside the 135 mm
        # field of view radius, 3 mm inside the match's reliable field (8 mm rim), next to the truncation.
        spec(
            6,
            "fov_edge",
            "kidney_right",
            "right kidney near the edge of the truncated field of view (isocenter 100 mm medial)",
            isocenter_lps=tuple(float(v) for v in kidney + (100.0, 0.0, 0.0)),
        ),
        spec(
            7,
            "gas",
            "kidney_left",
            "left kidney target, bowel gas that differs between the CT and the CBCT",
            gas_change=(tuple(organ_ellipsoid_lps("kidney_left")[0].tolist()), 90.0, 7),
        ),
        spec(
            8,
            "extreme",
            "kidney_left",
            "left kidney target at the edges of the range: 15 mm, 3° on every axis",
            translation_mm=(-15.0, 15.0, -15.0),
            rotation_deg=(3.0, -3.0, 3.0),
        ),
    ]


ABDOMEN_SPECS = _abdomen_bench()
