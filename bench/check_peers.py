"""Self-check of the peers' conventions on a pair with a known transform (no CBCT physics).

The planning volume is the project's pelvis phantom; the daily volume is the same phantom moved by a
known rigid ``M`` (docs/CONVENTIONS.md) and resampled with SimpleITK onto a grid of its own frame, centred on
the daily isocenter at (0, 0, 0) like a CBCT. Both are written as .mha files and every peer is run on
them exactly as in the benchmark. A peer whose convention (direction of the transform, centre of
rotation, Euler order, isocenter shift) is wrong shows an error of millimetres or degrees here; a
correct one shows registration noise only.

    .venv/bin/python bench/check_peers.py [--peers plastimatch,elastix,sitk] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import euler_axis_error_deg, rotation_error_deg, translation_error_mm  # noqa: E402
from peers import PEERS, thread_settings, warm_up  # noqa: E402

from igrt import geometry  # noqa: E402
from igrt.synth.phantom import landmark_lps, make_pelvis_phantom  # noqa: E402

#: Known motion of the anatomy: rotations about LPS x, y, z (R = Rz·Ry·Rx) and isocenter displacement.
TRUE_ROTATION_DEG = (2.0, -1.5, 3.0)
TRUE_TRANSLATION_MM = (4.0, -6.0, 3.0)


def make_pair(workdir: Path):
    """Write planning.mha and daily.mha; return (paths, truth matrix, planning iso, daily iso)."""
    planning = make_pelvis_phantom(size=(256, 256, 80), spacing=(1.5, 1.5, 3.0), seed=1)
    p_iso = landmark_lps("prostate")
    d_iso = np.zeros(3)
    m_true = geometry.rigid_about_point(
        geometry.rotation_xyz_deg(*TRUE_ROTATION_DEG), p_iso, TRUE_TRANSLATION_MM
    )

    # Daily grid: its own frame, 2 mm isotropic, centred on the daily isocenter (0, 0, 0).
    size, spacing = (200, 200, 100), (2.0, 2.0, 2.0)
    ref = sitk.Image(size, sitk.sitkFloat32)
    ref.SetSpacing(spacing)
    ref.SetOrigin(tuple(-(n - 1) / 2 * s for n, s in zip(size, spacing, strict=True)))
    # Resample maps output (daily) points to input (planning) points:
    # daily d shows the anatomy of planning point M⁻¹(d - d_iso + p_iso).
    to_planning = np.linalg.inv(m_true) @ geometry.rigid_matrix(translation=p_iso - d_iso)
    tx = sitk.AffineTransform(3)
    tx.SetMatrix(tuple(float(v) for v in to_planning[:3, :3].ravel()))
    tx.SetTranslation(tuple(float(v) for v in to_planning[:3, 3]))
    daily = sitk.Resample(planning, ref, tx, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)

    p_path, d_path = workdir / "planning.mha", workdir / "daily.mha"
    sitk.WriteImage(planning, str(p_path), useCompression=False)
    sitk.WriteImage(daily, str(d_path), useCompression=False)
    return p_path, d_path, m_true, p_iso, d_iso


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated: " + ",".join(PEERS))
    ap.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        ap.error(f"unknown peer(s): {', '.join(unknown)}")

    tmp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="igrt-check-peers-")
        workdir = Path(tmp.name)
    p_path, d_path, m_true, p_iso, d_iso = make_pair(workdir)
    warm_up()
    print(f"threads: {thread_settings()}")
    print(
        f"truth: rotation {TRUE_ROTATION_DEG} deg (Rz·Ry·Rx), isocenter displacement {TRUE_TRANSLATION_MM} mm"
    )
    print(f"planning iso {np.round(p_iso, 2).tolist()}  daily iso {d_iso.tolist()}")
    print(f"{'peer':<12} {'trans err mm':>12} {'rot err deg':>11} {'max axis deg':>12} {'time s':>7}")
    worst = 0.0
    for name in names:
        try:
            m, elapsed, note = PEERS[name](p_path, d_path, p_iso, d_iso, workdir / name)
        except Exception as exc:  # a peer that cannot run is reported, not fatal
            print(f"{name:<12} FAILED: {exc}")
            continue
        te = translation_error_mm(m, m_true, p_iso)
        re_ = rotation_error_deg(m, m_true)
        ae = euler_axis_error_deg(m, m_true)
        worst = max(worst, te)
        print(f"{name:<12} {te:12.3f} {re_:11.3f} {ae:12.3f} {elapsed:7.1f}")
        print(f"{'':<12} {note}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
