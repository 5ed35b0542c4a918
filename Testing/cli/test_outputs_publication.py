"""All outputs of a run are published together or not at all (issue 10, item 10; igrt.cli.outputs)."""

from __future__ import annotations

import pytest

from igrt.cli.outputs import Publication
from igrt.errors import IGRTInputError


def test_a_failed_publication_takes_back_what_it_had_published(tmp_path):
    """The report folder goes first, the result JSON second: when the JSON cannot be renamed into place,
    the report's files are removed again and nothing of the run is left."""
    report, result = tmp_path / "report", tmp_path / "result.json"
    with pytest.raises(IGRTInputError, match="nothing was written"):
        with Publication() as out:
            folder = out.folder(report)
            (folder / "report.html").write_text("couch moves ...")
            (folder / "panels").mkdir()
            (folder / "panels" / "a.png").write_bytes(b"png")
            out.file(result).write_text("{}")
            result.mkdir()  # the rename of the JSON onto a non-empty folder fails
            (result / "blocker").write_text("")
            out.publish()
    assert not report.exists()  # the report folder it had made is gone with its files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no temporaries either
    assert [p.name for p in result.iterdir()] == ["blocker"]


def test_published_together_and_nothing_left_behind(tmp_path):
    with Publication() as out:
        (out.folder(tmp_path / "report") / "report.html").write_text("ok")
        out.file(tmp_path / "result.json").write_text("{}")
        out.publish()
    assert (tmp_path / "report" / "report.html").read_text() == "ok"
    assert (tmp_path / "result.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "result.json"]


def test_an_unpublished_run_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with Publication() as out:
            (out.folder(tmp_path / "report") / "report.html").write_text("half")
            out.file(tmp_path / "result.json")
            raise RuntimeError("the match failed")
    assert list(tmp_path.iterdir()) == []
