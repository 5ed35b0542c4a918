"""What every `igrt` verb shares: argument types, the one-line messages, progress on stderr."""

from __future__ import annotations

import argparse
import re
import sys
import time

import numpy as np

from igrt.errors import IGRTInputError


def say(msg: str) -> None:
    """One line on stderr (results go to files; the terminal gets the summary and the warnings)."""
    print(msg, file=sys.stderr, flush=True)


def progress_printer():
    """A progress callback that prints at most two lines a second."""
    last = [0.0]

    def progress(msg):
        now = time.perf_counter()
        if now - last[0] > 0.5:
            last[0] = now
            say(f"  {msg}")

    return progress


def point(text: str) -> tuple:
    """``x,y,z`` in mm (DICOM LPS) as an argparse type."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(np.isfinite(vals)):
        raise argparse.ArgumentTypeError(f"expected x,y,z in mm (DICOM LPS), got {text!r}")
    return vals


def box(text: str) -> tuple:
    """``cx,cy,cz,sx,sy,sz`` in mm (LPS centre and full edge lengths) as an argparse type."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 6 or not all(np.isfinite(vals)) or min(vals[3:]) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected cx,cy,cz,sx,sy,sz in mm (LPS centre and size), got {text!r}"
        )
    return vals


ORIENTATION_HELP = "patient position (HFS, HFP, FFS, FFP, HFDR, HFDL, FFDR, FFDL)"


#: A coordinate list that starts with a minus sign: "-72.18,14.37,-12.70" (never an option name).
_NEGATIVE_LIST = re.compile(r"^-(\d|\.\d)[\d.eE+-]*(,[-+]?[\d.eE+-]+)+$")


def join_negative_lists(argv: list[str]) -> list[str]:
    """``--isocenter -72.18,14.37,-12.70`` as ``--isocenter=-72.18,14.37,-12.70``.

    argparse takes a value starting with "-" for an option and refuses the option as "expected one
    argument"; a comma-separated list of numbers is never an option, so it is joined to the option before.
    """
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_LIST.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def structures_argument(path):
    """The STRUCTURES argument: a .seg.vtm is read by the VTK reader of the MRML layer, the rest by the core."""
    if not str(path).lower().endswith(".seg.vtm"):
        return path
    try:
        from igrt.mrml.seg_vtm import read_seg_vtm
    except ImportError as e:
        raise IGRTInputError(f"{path}: reading a .seg.vtm needs VTK (pip install vtk)") from e
    return read_seg_vtm(path)
