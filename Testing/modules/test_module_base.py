"""IGRTModuleLib, the modules' shared base, under slicer-core: enums, refusals, requirements, reload."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (real MRML) is not installed")

from IGRTModuleLib import base, choices, errors, nodes, requirements  # noqa: E402

from conftest import import_module_file  # noqa: E402
from igrt import geometry  # noqa: E402
from igrt.couch.correction import COUCH_MODELS, ORIENTATIONS  # noqa: E402
from igrt.errors import IGRTInputError  # noqa: E402
from igrt.mrml import comparison  # noqa: E402
from igrt.registration.match import METHODS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_headless_switch_uses_the_stand_ins():
    assert base.IN_SLICER_APP is False and base.qt is None
    assert base.ScriptedLoadableModule.__module__ == "IGRTModuleLib.headless"
    assert base.VTKObservationMixin.__module__ == "slicer.util"  # real in both


def test_enums_follow_the_core_constants():
    assert [m.value for m in choices.MatchMethod] == list(METHODS)
    assert [m.value for m in choices.CouchModel] == list(COUCH_MODELS)
    assert [m.value for m in choices.PatientOrientation] == ["auto", *ORIENTATIONS]
    assert [m.value for m in choices.ComparisonMode] == list(comparison.MODES)
    # Member names stay what scenes stored; labels are what the combo boxes show.
    assert choices.CouchModel.THREE_DOF.value == "3dof"
    assert choices.CouchModel("4dof").label() == "4 DOF (translations and couch rotation)"
    assert choices.PatientOrientation.FROM_RESULT.value == "auto"
    assert choices.PatientOrientation.FFDL.label() == "FFDL"  # no label: its own name
    assert choices.MatchMethod.SOFT.label() == "Soft tissue"


def test_a_value_the_core_adds_appears_with_its_own_name():
    extended = choices.choiceEnum("MatchMethod", (*METHODS, "markerGuided"), labels={"auto": "Auto"})
    assert extended.MARKER_GUIDED.value == "markerGuided" and extended.MARKER_GUIDED.label() == "markerGuided"
    assert choices.memberName("6dof") == "_6DOF" and choices.memberName("imageCenter") == "IMAGE_CENTER"


def test_isocenter_sources_are_a_checked_subset():
    source = choices.isocenterSources("plan", "markers")
    assert [m.value for m in source] == ["plan", "markers"]
    assert source.MARKERS.label() == "Centroid of the planning markers"
    with pytest.raises(ValueError, match="imageCentre"):
        choices.isocenterSources("imageCentre")


def test_refusals_are_raised_headless_and_bugs_propagate(caplog):
    def refuse():
        raise IGRTInputError("select both the planning and the daily volume")

    with pytest.raises(IGRTInputError, match="select both"):
        errors.guarded("IGRT Daily Match", refuse)
    assert "IGRT Daily Match: select both the planning and the daily volume" in caplog.text
    assert errors.guarded("IGRT Daily Match", lambda x: x * 2, 21) == 42
    with pytest.raises(ZeroDivisionError):  # not a refusal: never shown as one
        errors.guarded("IGRT Daily Match", lambda: 1 / 0)


def test_requirements_file_is_read_and_checked(tmp_path):
    assert requirements.requirementLines() == {"scipy": "scipy>=1.11", "itk-rtk": "itk-rtk>=2.5"}
    assert requirements.missing(["scipy", "itk-rtk"]) == []  # the test environment has both
    too_new = tmp_path / "requirements.txt"
    too_new.write_text("# comment\nscipy>=999  # far future\nnot-installed-igrt-package==1.0\n")
    assert requirements.missing(["scipy"], too_new) == ["scipy>=999"]
    assert requirements.missing(["not_installed.igrt-package"], too_new) == [
        "not-installed-igrt-package==1.0"
    ]
    with pytest.raises(
        IGRTInputError, match=r"^Marker detection needs .*: scipy>=999; install them with: pip"
    ):
        requirements.ensure(["scipy"], "Marker detection", too_new)
    with pytest.raises(ValueError, match="pandas not listed"):
        requirements.missing(["pandas"], too_new)
    assert requirements.ensure(["scipy"], "Marker detection") == []


def test_isocenter_from_markups_plan_or_default():
    scene = slicer.vtkMRMLScene()
    markups = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "iso")
    markups.AddControlPoint(*geometry.lps_to_ras_point((12.5, -30.0, 101.0)))
    np.testing.assert_allclose(
        nodes.planningIsocenterLps("markups", markupsNode=markups), (12.5, -30.0, 101.0)
    )
    assert nodes.planningIsocenterLps("imageCenter") is None
    with pytest.raises(IGRTInputError, match="isocenter from the plan: select an RT plan"):
        nodes.planningIsocenterLps("plan")
    empty = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "daily iso")
    assert nodes.dailyIsocenterLps(empty) is None and nodes.dailyIsocenterLps(None) is None
    assert nodes.dicomIdentity(scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")) == {}  # no database


RELOAD_CHILD = """
import importlib.util, sys
sys.path.insert(0, {module_dir!r})
import IGRTCouchShift
old = {{name: sys.modules[name] for name in ("igrt.geometry", "igrt.mrml.couch", "IGRTModuleLib.base", "IGRTCouchShiftLib")}}
from IGRTModuleLib import reload
dropped = reload.dropCoreModules(extra=("IGRTCouchShiftLib",))
assert set(old) <= set(dropped), sorted(set(old) - set(dropped))
assert not any(n.split(".")[0] in ("igrt", "IGRTModuleLib", "IGRTCouchShiftLib") for n in sys.modules)
# What slicer.util.reloadScriptedModule does with the module file:
spec = importlib.util.spec_from_file_location("IGRTCouchShift", IGRTCouchShift.__file__)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for name, previous in old.items():
    assert sys.modules[name] is not previous, name
assert module.couchnodes is sys.modules["igrt.mrml.couch"] and module.couchnodes is not old["igrt.mrml.couch"]
print("reloaded", len(dropped))
"""


def test_reload_rereads_the_core_with_the_module():
    code = RELOAD_CHILD.format(module_dir=str(REPO / "IGRTExtension" / "IGRTCouchShift"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("reloaded ")


@pytest.mark.parametrize(
    "name, title",
    [
        ("IGRTDailyMatch", "IGRT Daily Match"),
        ("IGRTCouchShift", "Couch Shift"),
        ("IGRTFiducials", "Fiducials"),
    ],
)
def test_widget_base_finds_the_module_logic_and_title(name, title):
    module = import_module_file(name)
    widget = getattr(module, f"{name}Widget")()  # the headless stand-in parent: no GUI is built
    assert widget.moduleName == name
    assert type(widget.createLogic()) is getattr(module, f"{name}Logic")
    assert widget.title() == title == getattr(module, name).TITLE
