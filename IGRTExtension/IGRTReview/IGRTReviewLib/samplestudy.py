"""The hand-worked study of the module's self-test (and its slicer-core test): a study folder on disk.

``study.csv`` (couch corrections, IEC 61217 table top, **couch moves**; the set-up error is
e = − couch, patient is displaced). Lateral e per fraction: P1 1, 2, 3 (m = 2, s = 1); P2 −1, 0, 1
(m = 0, s = 1); P3 4, 6, 8 (m = 6, s = 2). Longitudinal e = 0 and vertical e = −2 everywhere. P3
fraction 4 failed (status ``failed``): left out and listed, never read as zeros.

Lateral, by hand: M = (2 + 0 + 6)/3 = 8/3 = 2.6667 mm; Σ = SD(2, 0, 6) (n−1)
= sqrt(((2 − 8/3)² + (8/3)² + (6 − 8/3)²)/2) = sqrt(28/3) = 3.0551 mm; σ = sqrt((1² + 1² + 2²)/3)
= sqrt(2) = 1.4142 mm; van Herk 2.5Σ + 0.7σ = 8.6276 mm. Vertical: M = −2 mm, Σ = σ = 0.

``fractions/P1/1`` is a real fraction: the tiny synthetic case run through the study's own
match → couch-shift workflow (:func:`igrt.study.fraction.run_fraction`); its numbers are those of its
``result.json``, not the hand row.
"""

from __future__ import annotations

from pathlib import Path

STUDY_CSV = """patient,fraction,status,reason,lateral_mm,longitudinal_mm,vertical_mm
P1,1,ok,,-1,0,2
P1,2,ok,,-2,0,2
P1,3,ok,,-3,0,2
P2,1,ok,,1,0,2
P2,2,ok,,0,0,2
P2,3,ok,,-1,0,2
P3,1,ok,,-4,0,2
P3,2,ok,,-6,0,2
P3,3,ok,,-8,0,2
P3,4,failed,daily image unreadable,,,
"""

#: Lateral Σ and σ of the table above (mm), worked in the module docstring.
LATERAL_SIGMA_MM = (28 / 3) ** 0.5
LATERAL_RANDOM_MM = 2**0.5


def write_study_table(folder) -> Path:
    """``folder/study.csv`` with the hand-worked rows (the folder is made)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.csv"
    path.write_text(STUDY_CSV, encoding="utf-8")
    return path


def run_real_fraction(folder, patient: str = "P1", fraction: str = "1") -> dict:
    """Run the tiny synthetic case as ``patient``/``fraction`` of the study in ``folder``; its study.csv row.

    Needs the known-transform generator (scipy, itk-rtk) the first time the tiny case is built.
    """
    from igrt.study.fraction import run_fraction
    from igrt.study.manifest import read_manifest
    from igrt.synth.cases import tiny_case

    case = tiny_case()
    folder = Path(folder)
    iso = ",".join(f"{v:.4f}" for v in case.planning_isocenter_lps)
    manifest = folder / "manifest.csv"
    manifest.write_text(
        f'patient,fraction,planning,daily,isocenter\n{patient},{fraction},{case.planning_path},{case.daily_path},"{iso}"\n',
        encoding="utf-8",
    )
    (spec,) = read_manifest(manifest).fractions
    return run_fraction(spec, str(folder))
