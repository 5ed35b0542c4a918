"""The ``igrt`` command line (docs/CONVENTIONS.md §Command line): one module per verb under ``igrt.cli``.

Each verb only parses its arguments, calls its core workflow, prints and writes. Exit status: 0 success;
2 bad input (one line on stderr); 3 the match ran but failed (one line). Outputs are written under
temporary names and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys

from igrt import __version__
from igrt.cli import commission, demo, dose, fiducials, match, reg, review, shift, study
from igrt.cli.common import join_negative_lists, say
from igrt.errors import IGRTInputError
from igrt.registration.match import MatchFailedError


class _Parser(argparse.ArgumentParser):
    """argparse with one clear line on stderr for bad arguments (exit 2), as for every other bad input."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: The verbs, in the order of the help text: (module, how it registers its parser(s)).
VERBS = (
    (match, "add_parser"),
    (shift, "add_parser"),
    (reg, "add_parsers"),
    (fiducials, "add_parser"),
    (dose, "add_parser"),
    (study, "add_parser"),
    (review, "add_parser"),
    (commission, "add_parser"),
    (demo, "add_parser"),
)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="igrt", description="")
    p.add_argument("--version", action="version", version=f"igrt {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module, register in VERBS:
        getattr(module, register)(sub)
    names = ", ".join(sub.choices)
    p.description = (
        f"Image-guided radiotherapy: daily match, markers, couch shift, DICOM REG. Verbs: {names}. "
        "`igrt VERB --help` for each."
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(join_negative_lists(sys.argv[1:] if argv is None else list(argv)))
    try:
        return args.func(args)
    except IGRTInputError as exc:
        say(f"igrt: error: {exc}")
        return 2
    except MatchFailedError as exc:
        say(f"igrt: {exc}")
        return 3
    except KeyboardInterrupt:
        say("igrt: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
