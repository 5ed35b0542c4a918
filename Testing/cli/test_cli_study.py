"""``igrt study run`` and ``igrt review`` on the command line: exit codes, one-line refusals, the summary."""

from __future__ import annotations

import json
import os
import re

import pytest

from igrt.cli.main import main
from igrt.synth.cases import tiny_case


def _run(args, capsys):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture
def images(tmp_path):
    case = tiny_case()
    os.symlink(case.planning_path, tmp_path / "planning.mha")
    os.symlink(case.daily_path, tmp_path / "daily.mha")
    (tmp_path / "corrupt.mha").write_bytes(b"not an image")
    return tmp_path, ",".join(f"{v:.3f}" for v in case.planning_isocenter_lps)


def test_study_run_prints_the_summary_and_writes_the_report(images, capsys):
    folder, iso = images
    (folder / "m.csv").write_text(
        f'patient,fraction,planning,daily,isocenter\nP1,1,planning.mha,daily.mha,"{iso}"\n'
        f'P1,2,planning.mha,corrupt.mha,"{iso}"\n'
    )
    code, err = _run(["study", "run", folder / "m.csv", "--out", folder / "out", "--workers", "1"], capsys)
    assert code == 0, err
    assert re.search(r"^1 ok, 1 failed in \d+\.\d s; wrote ", err, re.M)
    assert "failed: P1/2: " in err and "corrupt.mha" in err
    stats = json.loads((folder / "out" / "stats.json").read_text())
    assert stats["fractions"] == 1 and stats["excluded_fractions"][0]["fraction"] == "2"
    assert "corrupt.mha" in (folder / "out" / "report.html").read_text()
    code, err = _run(["study", "run", folder / "m.csv", "--out", folder / "out", "--workers", "1"], capsys)
    assert code == 0 and "1 fraction(s) to run, 1 already done" in err


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("patient,fraction,planning\nP1,1,planning.mha\n", "missing column(s) daily"),
        (
            "patient,fraction,planning,daily\nP1,1,planning.mha,daily.mha\nP1,1,planning.mha,daily.mha\n",
            "repeats",
        ),
        ("patient,fraction,planning,daily\nP1,1,planning.mha,gone.mha\n", "gone.mha does not exist"),
        (
            "patient,fraction,planning,daily,max_rotation\nP1,1,planning.mha,daily.mha,ten\n",
            "'ten' is not a number",
        ),
        ("patient,fraction,planning,daily\n../../etc,1,planning.mha,daily.mha\n", "not a usable id"),
    ],
)
def test_bad_manifest_exits_2_before_anything_runs(images, capsys, manifest, message):
    folder, _ = images
    (folder / "m.csv").write_text(manifest)
    code, err = _run(["study", "run", folder / "m.csv", "--out", folder / "out"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (folder / "out").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--workers", "0"], "--workers 0"),
        (["--nal-fractions", "0"], "--nal-fractions 0"),
        (["--tolerance-mm", "-1"], "--tolerance-mm"),
    ],
)
def test_bad_study_options_exit_2(images, capsys, extra, message):
    folder, _ = images
    (folder / "m.csv").write_text("patient,fraction,planning,daily\nP1,1,planning.mha,daily.mha\n")
    code, err = _run(["study", "run", folder / "m.csv", "--out", folder / "out", *extra], capsys)
    assert code == 2 and message in err
    with pytest.raises(SystemExit) as stop:  # argparse: --workers and --scheduler exclude each other
        main(
            [
                "study",
                "run",
                str(folder / "m.csv"),
                "--out",
                str(folder / "out"),
                "--workers",
                "2",
                "--scheduler",
                "tcp://127.0.0.1:1",
            ]
        )
    assert stop.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (folder / "out").exists()


def test_review_cli_writes_stats_and_refuses_a_bad_table(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text(
        "patient,fraction,lateral_mm,longitudinal_mm,vertical_mm\nA,1,-1,0,0\nA,2,-3,0,0\nB,1,2,0,0\nB,2,4,0,0\n"
    )
    code, err = _run(["review", table, "--out", tmp_path / "s.json", "--report", tmp_path / "rep"], capsys)
    assert code == 0, err
    stats = json.loads((tmp_path / "s.json").read_text())
    # Lateral e: A 1, 3 (m 2), B −2, −4 (m −3): M = −0.5, Σ = 5/√2 = 3.5355, σ = √2 = 1.4142.
    assert stats["axes"]["lateral"]["Sigma_mm"] == pytest.approx(3.5355, abs=1e-4)
    assert "lateral (mm): M -0.50  Σ 3.54  σ 1.41" in err and "patient is displaced" in err
    assert (tmp_path / "rep" / "report.html").is_file()
    table.write_text("patient,fraction,lateral_mm\nA,1,0\n")
    code, err = _run(["review", table, "--out", tmp_path / "s2.json"], capsys)
    assert code == 2 and "missing column(s) longitudinal_mm, vertical_mm" in err
    assert not (tmp_path / "s2.json").exists()
