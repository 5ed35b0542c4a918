"""The modules load in a stock Slicer: nothing Slicer does not bundle is imported when a module loads.

The module files are imported in a fresh interpreter (slicer-core) whose import system refuses scipy,
itk and rtk (a meta-path finder that raises ImportError for them), as a Slicer without those packages
would. The packages are installed on first use instead (IGRTModuleLib.requirements): headless, the
action that needs one refuses with one line naming it, before any work.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

REPO = Path(__file__).resolve().parents[2]
#: Every scripted module of the extension: a folder IGRTExtension/IGRT<Name>/ holding IGRT<Name>.py.
MODULES = tuple(
    sorted(p.name for p in (REPO / "IGRTExtension").glob("IGRT*") if (p / f"{p.name}.py").is_file())
)
NOT_BUNDLED = ("scipy", "itk", "rtk")

#: Run in the child: block NOT_BUNDLED, import each module file from its folder, report what loaded,
#: then ask the Fiducials Logic to detect markers (it needs scipy).
CHILD = """
import importlib.abc, json, os, sys

BLOCKED = set({blocked!r})


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not bundled with Slicer (blocked by the test)")
        return None


sys.meta_path.insert(0, Refuse())
# As in a Slicer that loads the modules from the source tree: no installed igrt (an editable install
# puts a checkout's IGRTExtension/ on sys.path); the module files must find it themselves.
sys.path = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "IGRTModuleLib"))]
report = {{}}
for name, folder in {modules!r}:
    sys.path.insert(0, folder)
    module = __import__(name)
    report[name] = {{
        "in_app": module.IN_SLICER_APP,
        "loaded": sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED),
    }}
report["igrt_from"] = sys.modules["igrt"].__file__

import slicer
from igrt.errors import IGRTInputError

volume = slicer.vtkMRMLScene().AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
try:
    sys.modules["IGRTFiducials"].IGRTFiducialsLogic().detect(volume, "planning")
    report["refusal"] = None
except IGRTInputError as exc:
    report["refusal"] = str(exc)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def report():
    modules = [(m, str(REPO / "IGRTExtension" / m)) for m in MODULES]
    code = CHILD.format(blocked=NOT_BUNDLED, modules=modules)
    # No PYTHONPATH: the module files must find IGRTModuleLib and igrt by themselves (IGRTExtension/).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_module_is_checked():
    assert {"IGRTDailyMatch", "IGRTCouchShift", "IGRTFiducials"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_with_scipy_itk_rtk_blocked(report, module):
    assert report[module] == {"in_app": False, "loaded": []}


def test_modules_find_the_core_in_the_source_tree(report):
    # The core of an IGRTExtension source tree (this checkout's, or the one an editable install names).
    found = Path(report["igrt_from"])
    assert found.parts[-3:] == ("IGRTExtension", "igrt", "__init__.py")
    assert all((found.parents[1] / m / f"{m}.py").is_file() for m in MODULES)


def test_marker_detection_without_scipy_is_refused_naming_the_package(report):
    assert report["refusal"] == (
        "Marker detection needs Python packages that Slicer does not bundle: scipy>=1.11; "
        "install them with: pip install scipy>=1.11"
    )
