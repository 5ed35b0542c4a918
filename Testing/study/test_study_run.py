"""``run_study`` on real Dask ``distributed`` clusters on loopback, with the tiny synthetic CBCT case.

Manifest (3 fractions, paths relative to the manifest, through symlinks to the cached case):
    P1/1  the tiny case, with its known couch correction (known_* columns)
    P1/2  the tiny case again (no known values)
    P2/1  a corrupt daily image: recorded as failed with its reason, the others finish
The tiny case's patient is displaced by 4, −3, 5 mm (LPS) at the isocenter, rotated (1.5, −1, 2)°; HFS
table top (Xt = +x, Yt = +z, Zt = −y), so the couch moves about −4 lateral, −5 longitudinal, −3 vertical.
"""

from __future__ import annotations

import csv
import os
import signal

import pytest

from igrt.couch.correction import full_couch_correction
from igrt.study.manifest import read_manifest
from igrt.study.runner import run_study
from igrt.synth.cases import tiny_case

KNOWN = ("lateral_mm", "longitudinal_mm", "vertical_mm", "rotation_deg", "pitch_deg", "roll_deg")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    case = tiny_case()
    root = tmp_path_factory.mktemp("study")
    (root / "images").mkdir()
    os.symlink(case.planning_path, root / "images" / "planning.mha")
    os.symlink(case.daily_path, root / "images" / "daily.mha")
    (root / "images" / "corrupt.mha").write_bytes(b"ObjectType = Image\nNDims = 3\nthis is not an image\n")
    known = full_couch_correction(case.matrix_lps, case.planning_isocenter_lps, "HFS")
    assert [known[k] for k in KNOWN[:3]] == pytest.approx([-4, -5, -3], abs=0.05)
    iso = '"' + ",".join(f"{v:.4f}" for v in case.planning_isocenter_lps) + '"'
    cols = ",".join(f"known_{k}" for k in KNOWN)
    vals = ",".join(f"{known[k]:.4f}" for k in KNOWN)
    text = (
        f"patient,fraction,planning,daily,isocenter,orientation,{cols}\n"
        f"P1,1,images/planning.mha,images/daily.mha,{iso},HFS,{vals}\n"
        f"P1,2,images/planning.mha,images/daily.mha,{iso},HFS,,,,,,\n"
        f"P2,1,images/planning.mha,images/corrupt.mha,{iso},HFS,,,,,,\n"
    )
    (root / "manifest.csv").write_text(text)
    (root / "manifest_done.csv").write_text("\n".join(text.splitlines()[:3]) + "\n")
    return root, known


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_embedded_cluster_interrupt_then_rerun_finishes_and_skips_done(study):
    root, known = study
    out = root / "embedded"

    def stop_after_first(row):
        raise KeyboardInterrupt

    first = run_study(read_manifest(root / "manifest.csv"), out, workers=2, on_row=stop_after_first)
    assert first.interrupted and first.cluster == "embedded LocalCluster, 2 worker processes"
    rows = _read(out / "study.csv")
    assert 1 <= len(rows) < 3  # only what had finished: a consistent folder
    assert not list(out.rglob("*.tmp"))
    for folder in (out / "fractions").glob("*/*"):
        names = {p.name for p in folder.iterdir()}
        assert names in ({"result.json", "shift.json"}, {"failure.json"}, {"result.json"}, set())

    second = run_study(read_manifest(root / "manifest.csv"), out, workers=2)
    assert not second.interrupted and (second.ok, second.failed) == (2, 1)
    assert second.skipped >= sum(r["status"] == "ok" for r in rows)
    rows = {(r["patient"], r["fraction"]): r for r in _read(out / "study.csv")}
    (root / "embedded_full.csv").write_text((out / "study.csv").read_text())
    assert list(rows) == [("P1", "1"), ("P1", "2"), ("P2", "1")]  # manifest order
    p1 = rows[("P1", "1")]
    assert p1["status"] == "ok" and p1["verdict"] == "apply shift" and float(p1["similarity"]) > 0.5
    # Measured − known, per axis, and within the commissioning limits (0.5 mm, 0.2°).
    for k in KNOWN:
        assert float(p1[f"error_{k}"]) == pytest.approx(float(p1[k]) - known[k], abs=2e-4)
        assert abs(float(p1[f"error_{k}"])) < (0.5 if k.endswith("_mm") else 0.2)
    # Patient is displaced +4 mm to the left (LPS x) and the couch moves to the patient's right.
    assert float(p1["translation_x_mm"]) == pytest.approx(4.0, abs=0.5) and float(p1["lateral_mm"]) < -3.5
    assert rows[("P1", "2")]["error_lateral_mm"] == ""
    bad = rows[("P2", "1")]
    assert bad["status"] == "failed" and "corrupt.mha" in bad["reason"] and bad["lateral_mm"] == ""
    assert (out / "fractions" / "P2" / "1" / "failure.json").is_file()

    mtimes = {p: p.stat().st_mtime_ns for p in (out / "fractions").rglob("*.json")}
    third = run_study(read_manifest(root / "manifest_done.csv"), out, workers=2)
    assert (third.ran, third.skipped, third.ok) == (0, 2, 2)
    assert third.cluster.startswith("none")  # nothing to do: no cluster started
    assert {p: p.stat().st_mtime_ns for p in (out / "fractions").rglob("*.json")} == mtimes
    assert [r["lateral_mm"] for r in _read(out / "study.csv")] == [
        p1["lateral_mm"],
        rows[("P1", "2")]["lateral_mm"],
    ]


def test_existing_scheduler_by_address_gives_the_same_study_csv(study):
    """The same tasks on a cluster started apart and given by address; a worker process busy with a
    fraction is killed (SIGKILL) when the first fraction is done: its nanny starts a new one, the
    scheduler reruns the fraction, and the study still finishes every row with the same numbers."""
    from distributed import Client, LocalCluster

    root, _ = study
    killed = []
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
        ) as c,
        Client(c.scheduler_address) as observer,
    ):

        def kill_a_busy_worker(row):
            if killed:
                return
            busy = [w for w, tasks in observer.processing().items() if tasks]
            pids = observer.run(os.getpid)
            victim = busy[0] if busy else next(iter(pids))
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(bool(busy))

        outcome = run_study(
            read_manifest(root / "manifest.csv"),
            root / "external",
            scheduler=c.scheduler_address,
            on_row=kill_a_busy_worker,
        )
    assert killed  # a worker process was killed during the study
    assert outcome.cluster == f"Dask scheduler {c.scheduler_address}"
    assert (outcome.ok, outcome.failed, outcome.skipped) == (2, 1, 0)
    external = _read(root / "external" / "study.csv")
    embedded_path = root / "embedded_full.csv"
    if not embedded_path.is_file():
        pytest.skip("the embedded run did not run first")
    embedded = _read(embedded_path)
    for a, b in zip(external, embedded, strict=True):
        a.pop("elapsed_s"), b.pop("elapsed_s")
        assert a == b


def test_run_options_are_checked_before_anything(study, tmp_path):
    from igrt.errors import IGRTInputError

    root, _ = study
    m = read_manifest(root / "manifest.csv")
    with pytest.raises(IGRTInputError, match="not both"):
        run_study(m, tmp_path / "x", workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(IGRTInputError, match="--workers 0"):
        run_study(m, tmp_path / "x", workers=0)
    with pytest.raises(IGRTInputError, match="tcp://HOST:PORT"):
        run_study(m, tmp_path / "x", scheduler="localhost")
    assert not (tmp_path / "x").exists()
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(IGRTInputError, match="cannot reach the Dask scheduler"):
            run_study(m, tmp_path / "y", scheduler="tcp://127.0.0.1:9")
