"""Python packages Slicer does not bundle, installed on first use from ``Resources/requirements.txt``.

Module files never import them at load (a stock Slicer has numpy, SimpleITK, pydicom and VTK only);
the action that needs one calls :func:`ensure` first. Inside Slicer the user is asked before anything
is installed (``slicer.pydeps.pip_ensure`` where Slicer has it, else a dialog and
``slicer.util.pip_install``); headless, a missing package is one clear ``IGRTInputError`` line.
"""

import importlib
import importlib.metadata
import importlib.util
import logging
from pathlib import Path

import slicer

from igrt.errors import IGRTInputError
from IGRTModuleLib.base import IN_SLICER_APP

#: The one requirements file of the IGRT modules (installed with this package: one shared Resources/
#: folder holds every scripted module's resources, so a per-module file of that name would collide).
REQUIREMENTS_FILE = Path(__file__).resolve().parent / "Resources" / "requirements.txt"


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def requirementLines(path=REQUIREMENTS_FILE) -> dict:
    """Distribution name (canonical) → requirement line, from a requirements file (comments skipped)."""
    from packaging.requirements import Requirement

    lines = {}
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines[_canonical(Requirement(line).name)] = line
    return lines


#: Import name of a distribution when it is not the distribution name (itk-rtk installs ``itk``).
IMPORT_NAMES = {"itk-rtk": "itk"}


def _importable(distribution: str) -> bool:
    name = IMPORT_NAMES.get(_canonical(distribution), _canonical(distribution).replace("-", "_"))
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _satisfied(line: str) -> bool:
    """Installed at a fitting version (package metadata) and importable."""
    from packaging.requirements import Requirement

    requirement = Requirement(line)
    try:
        installed = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(installed, prereleases=True) and _importable(requirement.name)


def missing(packages, path=REQUIREMENTS_FILE) -> list:
    """Requirement lines of ``packages`` (distribution names) that are not installed at a fitting version."""
    lines = requirementLines(path)
    unknown = [p for p in packages if _canonical(p) not in lines]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} not listed in {path}")
    return [lines[_canonical(p)] for p in packages if not _satisfied(lines[_canonical(p)])]


def ensure(packages, purpose: str, path=REQUIREMENTS_FILE) -> list:
    """Make ``packages`` importable before ``purpose`` runs; returns the requirement lines installed.

    Nothing is installed without the user's consent; declining, a failed install or running headless
    with a package missing raises ``IGRTInputError`` before any work starts.
    """
    needed = missing(packages, path)
    if not needed:
        return []
    text = f"{purpose} needs Python packages that Slicer does not bundle: {', '.join(needed)}"
    if not IN_SLICER_APP:
        raise IGRTInputError(f"{text}; install them with: pip install {' '.join(needed)}")
    _install(needed, text)
    importlib.invalidate_caches()
    still = missing(packages, path)
    if still:
        raise IGRTInputError(f"{text}; installing them did not succeed ({', '.join(still)} still missing)")
    logging.info(f"IGRT: installed {', '.join(needed)}")
    return needed


def _install(lines, text) -> None:
    """Ask, then install ``lines`` into Slicer's Python (inside the application only)."""
    try:
        import slicer.pydeps as pydeps  # Slicer ≥ 5.11: its own prompt, progress and restart check
    except ImportError:
        pydeps = None
    if pydeps is not None:
        from packaging.requirements import Requirement

        try:
            pydeps.pip_ensure([Requirement(line) for line in lines], requester="IGRTExtension")
        except RuntimeError as exc:  # the user declined
            raise IGRTInputError(f"{text}; not installed ({exc})") from exc
        return
    if not slicer.util.confirmOkCancelDisplay(
        f"{text}.\n\nInstall them now? (needs an internet connection; may take a few minutes)",
        windowTitle="IGRT: Python packages",
    ):
        raise IGRTInputError(f"{text}; installation declined")
    with slicer.util.WaitCursor():
        slicer.util.pip_install(list(lines))
