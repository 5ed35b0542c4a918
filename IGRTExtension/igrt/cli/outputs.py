"""Where a verb writes: checked before anything runs, published together or not at all (issue 10).

Every verb names its inputs and outputs once: :func:`check_outputs` refuses an output that is one of the
inputs (by any spelling, link or hard link: ``os.path.samefile``), a folder where a file is written, and
a place that cannot be written, before the work starts; :class:`Publication` stages every output of a run
beside its final name and renames them all at the end, removing what it had published when one fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from igrt.errors import IGRTInputError
from igrt.result import output_mode, publish_dir


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _writable_folder(path: Path, what: str) -> None:
    """The nearest existing folder of ``path`` must be a folder we may create files in."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise IGRTInputError(f"cannot write {what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise IGRTInputError(f"cannot write {what} {path}: the folder {parent} is not writable")


def check_outputs(inputs, files=(), folders=()) -> None:
    """Refuse, before running, outputs that would replace an input or cannot be written (one line).

    Parameters
    ----------
    inputs : iterable of (option, path or None)
        What the verb reads (files or DICOM folders); ``None`` entries are skipped.
    files, folders : iterable of (option, path or None)
        What it writes: files (a JSON, a REG) and folders (a report).
    """
    inputs = [(name, Path(p)) for name, p in inputs if p is not None]
    outputs = [(name, Path(p), False) for name, p in files if p is not None]
    outputs += [(name, Path(p), True) for name, p in folders if p is not None]
    for k, (name, out, is_folder) in enumerate(outputs):
        for in_name, src in inputs:
            if _same(out, src):
                raise IGRTInputError(
                    f"{name} {out} is the input {in_name} {src}: it would be replaced; write somewhere else"
                )
        for other, path, _ in outputs[k + 1 :]:
            if _same(out, path):
                raise IGRTInputError(f"{name} and {other} are the same path {out}: give two different ones")
        if not is_folder and out.is_dir():
            raise IGRTInputError(f"{name} {out} is a folder: give the file name to write")
        if is_folder and out.exists() and not out.is_dir():
            raise IGRTInputError(f"{name} {out} is a file: give a folder for it")
        _writable_folder(out / "x" if is_folder and out.is_dir() else out, name)


class Publication:
    """Outputs staged under temporary names beside their final ones, renamed together by :meth:`publish`.

    Use as a context manager: whatever was staged and not published is removed on the way out.
    """

    def __init__(self):
        self._staged: list[tuple[Path, Path, bool]] = []  # (temporary, final, is folder)

    def file(self, final) -> Path:
        """A temporary path to write the file ``final`` to."""
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        self._staged.append((Path(tmp), final, False))
        return Path(tmp)

    def folder(self, final) -> Path:
        """A temporary folder to fill with what goes into the folder ``final``."""
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        os.chmod(tmp, output_mode(folder=True))  # mkdtemp makes it private
        self._staged.append((tmp, final, True))
        return tmp

    def publish(self) -> None:
        """Rename every staged output to its final name; on a failure undo those done and say why."""
        done: list[Path] = []
        created: list[Path] = []  # folders this publication made (removed again on a failure)
        try:
            for tmp, final, is_folder in self._staged:
                if is_folder:
                    if not final.exists():
                        created.append(final)
                    done += publish_dir(tmp, final)
                else:
                    os.replace(tmp, final)
                    done.append(final)
        except OSError as exc:
            for path in done:
                path.unlink(missing_ok=True)
            for folder in created:
                shutil.rmtree(folder, ignore_errors=True)
            raise IGRTInputError(
                f"cannot write the outputs ({exc.strerror or exc}): nothing was written"
            ) from exc
        self._staged = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for tmp, _, is_folder in self._staged:
            if is_folder:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        self._staged = []
        return False
