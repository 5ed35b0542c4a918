"""Reloading the ``igrt`` core with a module: Slicer's Reload re-reads only the module file.

``slicer.util.reloadScriptedModule`` executes the module file again, but ``import igrt...`` inside it
would return the modules already in ``sys.modules``, so an edit to the core would not be seen. Dropping
them first makes the module's imports read the current files.
"""

import importlib
import sys

#: Top-level packages re-read on reload: the core and this shared base.
CORE_PACKAGES = ("igrt", "IGRTModuleLib")


def dropCoreModules(extra=()) -> list:
    """Remove the core, this library and ``extra`` packages (e.g. ``IGRTCouchShiftLib``) from ``sys.modules``.

    Returns the names removed (sorted). The next ``import`` of any of them reads the file again.
    """
    packages = set(CORE_PACKAGES) | set(extra)
    names = sorted(name for name in sys.modules if name.split(".")[0] in packages)
    for name in names:
        del sys.modules[name]
    importlib.invalidate_caches()
    return names
