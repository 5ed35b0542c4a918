"""`igrt demo [--out DIR]`: the main job on the bundled phantom case (offline)."""

from __future__ import annotations

from pathlib import Path

from igrt.cli.common import say


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="run the whole daily match on the bundled phantom case (offline)")
    d.add_argument("--out", default="igrt-demo", help="output folder (default: ./igrt-demo)")
    d.set_defaults(func=run)


def run(args) -> int:
    from igrt.demo import run_demo

    return run_demo(Path(args.out), progress=say)
