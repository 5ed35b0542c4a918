"""Every IGRT scripted module: the .ui file, the widget code and the parameter node agree (no Slicer needed).

parameterNodeWrapper's connectGui maps widgets by their "SlicerParameterName" dynamic property; a
property naming no parameter, or a parameter without its widget, only fails inside Slicer. These
checks catch that (and `self.ui.X` typos, files CMake would not install, a module CI does not
self-test) on a plain Python, for each module.
"""

import ast
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: module → (title in the module selector, the .ui file's collapsible sections)
MODULES = {
    "IGRTDailyMatch": ("IGRT Daily Match", {"Inputs", "Match", "Comparison", "Result"}),
    "IGRTCouchShift": ("Couch Shift", {"Inputs", "Couch", "Result"}),
    "IGRTFiducials": ("Fiducials", {"Inputs", "Markers", "Match", "Result"}),
    "IGRTDoseImpact": ("Dose Impact", {"Inputs", "Correction", "Result"}),
    "IGRTReview": ("Review", {"Study", "Protocols", "Charts", "Fraction", "Result"}),
}

#: Widget classes parameterNodeWrapper can connect, by the kind of parameter (Slicer guiConnectors.py;
#: "choice" is a str/int/float with a Choice annotation; qMRMLSegmentSelectorWidget needs the module's
#: own connector, checked below).
CONNECTABLE = {
    "node": {"qMRMLNodeComboBox"},
    "enum": {"QComboBox", "ctkComboBox"},
    "choice": {"QComboBox"},
    "float": {"QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSpinBox", "qMRMLSpinBox"},
    "int": {"QSpinBox", "QSlider", "QDoubleSpinBox", "ctkSliderWidget"},
    "bool": {"QCheckBox", "ctkCheckBox", "QPushButton"},
    "str": {"QLineEdit", "QLabel", "QTextEdit", "qMRMLSegmentSelectorWidget"},
    "pathlib.Path": {"ctkPathLineEdit"},
}
#: Parameters annotated with a base class on purpose, with the node types the widget lists instead.
NODE_TYPE_EXCEPTIONS = {"planNode": "vtkMRMLRTPlanNode"}  # vtkMRMLNode: loads without SlicerRT
#: Widgets that show MRML nodes and need the scene from the module widget's mrmlSceneChanged signal.
NEEDS_SCENE = {
    "qMRMLNodeComboBox",
    "qMRMLTableView",
    "qMRMLSegmentSelectorWidget",
    "qSlicerSimpleMarkupsWidget",
}


@pytest.fixture(scope="module", params=sorted(MODULES))
def module(request):
    return request.param


@pytest.fixture(scope="module")
def module_dir(module):
    return REPO / "IGRTExtension" / module


@pytest.fixture(scope="module")
def ui_root(module, module_dir):
    return ET.parse(module_dir / "Resources" / "UI" / f"{module}.ui").getroot()


@pytest.fixture(scope="module")
def ui_widgets(ui_root):
    widgets = {}
    for w in ui_root.iter("widget"):
        props = {}
        for p in w.findall("property"):
            value = p.find("./*")
            if value.tag == "stringlist":
                props[p.get("name")] = [s.text for s in value.findall("string")]
            else:
                props[p.get("name")] = value.text
        widgets[w.get("name")] = (w.get("class"), props)
    return widgets


@pytest.fixture(scope="module")
def source(module, module_dir):
    return (module_dir / f"{module}.py").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def parameters(module, source):
    """name → annotation source of the @parameterNodeWrapper class fields."""
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == f"{module}ParameterNode")
    assert any(ast.unparse(d) == "base.parameterNodeWrapper" for d in cls.decorator_list)
    return {n.target.id: ast.unparse(n.annotation) for n in cls.body if isinstance(n, ast.AnnAssign)}


def _node_class(annotation: str) -> str:
    """The MRML class a node parameter names ("slicer.vtkMRMLScalarVolumeNode" → "vtkMRMLScalarVolumeNode")."""
    return annotation.removeprefix("slicer.")


#: The enums of IGRTModuleLib.choices a module may import (built from the core's constants).
SHARED_ENUMS = {"MatchMethod", "ComparisonMode", "CouchModel", "PatientOrientation"}


def _kind(annotation: str, source: str) -> str:
    if re.match(r"^Annotated\[\w+, base\.Choice\(", annotation):
        return "choice"
    base = re.sub(r"^Annotated\[(\w+),.*\]$", r"\1", annotation)
    if base.startswith("slicer.vtkMRML"):
        return "node"
    if base in SHARED_ENUMS or re.search(rf"^{base} = (choiceEnum|isocenterSources)\(", source, re.M):
        return "enum"
    return base


def test_ui_is_a_qt_designer_file_with_the_template_sections(module, ui_root, ui_widgets):
    assert ui_root.tag == "ui" and ui_root.find("class").text == module
    assert ui_root.find("widget").get("class") == "qMRMLWidget"
    titles = {props.get("text") for cls, props in ui_widgets.values() if cls == "ctkCollapsibleButton"}
    assert titles == MODULES[module][1]
    declared = {c.find("class").text for c in ui_root.iter("customwidget")}
    used = {cls for cls, _ in ui_widgets.values() if not cls.startswith("Q")}
    assert used <= declared, f"custom widgets used but not declared: {used - declared}"


def test_every_ui_name_the_code_uses_exists(ui_widgets, source):
    used = set(re.findall(r"self\.ui\.(\w+)", source))
    assert used, "the widget code should use self.ui"
    missing = used - set(ui_widgets)
    assert not missing, f"self.ui names missing from the .ui file: {sorted(missing)}"


def test_parameters_and_widgets_map_one_to_one(ui_widgets, parameters, source):
    mapped = {
        props["SlicerParameterName"]: (name, cls)
        for name, (cls, props) in ui_widgets.items()
        if "SlicerParameterName" in props
    }
    assert set(mapped) == set(parameters), (
        f"parameters without widget: {sorted(set(parameters) - set(mapped))}; "
        f"widgets naming no parameter: {sorted(set(mapped) - set(parameters))}"
    )
    for param, annotation in parameters.items():
        name, cls = mapped[param]
        kind = _kind(annotation, source)
        assert cls in CONNECTABLE[kind], f"{param} ({kind}) cannot be connected to {name} ({cls})"
        if kind == "node":
            node_types = ui_widgets[name][1].get("nodeTypes")
            assert node_types == [NODE_TYPE_EXCEPTIONS.get(param, _node_class(annotation))], (
                param,
                node_types,
            )
        if cls == "qMRMLSegmentSelectorWidget":  # needs the module's connector
            assert "class SegmentSelectorToSegmentIDConnector(base.GuiConnector)" in source


def test_node_selectors_get_the_scene(module, ui_root, ui_widgets):
    connections = [
        (c.find("sender").text, c.find("receiver").text)
        for c in ui_root.iter("connection")
        if c.find("signal").text == "mrmlSceneChanged(vtkMRMLScene*)"
    ]
    assert all(sender == module for sender, _ in connections)
    needs_scene = {n for n, (cls, _) in ui_widgets.items() if cls in NEEDS_SCENE}
    assert needs_scene == {receiver for _, receiver in connections}


def test_module_has_the_template_classes(module, source):
    names = {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
    for suffix in ("", "ParameterNode", "Widget", "Logic", "Test"):
        assert f"{module}{suffix}" in names
    # The shared base sets the category, loads Resources/UI/<module>.ui and switches to the headless
    # stand-ins under slicer-core; the module names its class after it and gives its title.
    assert re.search(
        rf"^class {module}\(base\.IGRTModule\):\n(?:.*\n){{1,3}}    TITLE = \"{MODULES[module][0]}\"",
        source,
        re.M,
    )
    assert re.search(rf"^class {module}Widget\(IGRTModuleWidget\):", source, re.M)
    assert "from IGRTModuleLib import base," in source  # the one core-path/headless switch
    base = (REPO / "IGRTExtension" / "IGRTModuleLib" / "base.py").read_text()
    assert 'self.parent.categories = ["IGRT"]' in base and "from IGRTModuleLib.headless import" in base
    widget = (REPO / "IGRTExtension" / "IGRTModuleLib" / "widget.py").read_text()
    assert 'self.resourcePath(f"UI/{self.moduleName}.ui")' in widget


def test_cmake_lists_every_module_file(module, module_dir):
    cmake = (module_dir / "CMakeLists.txt").read_text()
    assert f"set(MODULE_NAME {module})" in cmake
    assert "igrt_add_scripted_module(NAME ${MODULE_NAME})" in cmake
    # The shared function installs the module file, its Lib package, icon and .ui.
    function = (REPO / "CMake" / "IGRTMacroBuildScriptedModule.cmake").read_text()
    for rel in ("${IGRT_NAME}.py", "Resources/Icons/${IGRT_NAME}.png", "Resources/UI/${IGRT_NAME}.ui"):
        assert rel in function
    assert "${CMAKE_CURRENT_SOURCE_DIR}/${IGRT_NAME}Lib/*.py" in function
    for rel in (f"{module}.py", f"Resources/Icons/{module}.png", f"Resources/UI/{module}.ui"):
        assert (module_dir / rel).is_file(), rel
    for p in module_dir.rglob("*.py"):
        rel = p.relative_to(module_dir).as_posix()
        installed = rel == f"{module}.py" or (rel.startswith(f"{module}Lib/") and rel.count("/") == 1)
        assert installed, f"{rel} is not installed by CMake (only {module}.py and {module}Lib/*.py are)"
    for rel in ("Testing/CMakeLists.txt", "Testing/Python/CMakeLists.txt"):
        assert (module_dir / rel).is_file(), rel
    top = (REPO / "CMakeLists.txt").read_text()
    assert f"add_subdirectory(IGRTExtension/{module})" in top
    assert top.index("include(IGRTMacroBuildScriptedModule)") < top.index(
        f"add_subdirectory(IGRTExtension/{module})"
    )
    assert top.index(f"add_subdirectory(IGRTExtension/{module})") < top.index("## NEXT_MODULE")


def test_cmake_installs_the_shared_base_with_the_core():
    core = (REPO / "IGRTExtension" / "IGRTCore" / "CMakeLists.txt").read_text()
    assert "${IGRT_CORE_SOURCE_DIR}/IGRTModuleLib/*.py" in core
    assert "${IGRT_CORE_SOURCE_DIR}/IGRTModuleLib/Resources/*.txt" in core
    assert (REPO / "IGRTExtension" / "IGRTModuleLib" / "Resources" / "requirements.txt").is_file()


def test_ci_installs_the_modules_requirements_file():
    ci = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    assert '-r "$GITHUB_WORKSPACE/IGRTExtension/IGRTModuleLib/Resources/requirements.txt"' in ci
    assert "-requirements.txt" not in ci


def test_icon_is_a_128_png(module, module_dir):
    data = (module_dir / "Resources" / "Icons" / f"{module}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (128, 128)


def test_ci_runs_the_module_self_test(module):
    ci = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    assert f"$GITHUB_WORKSPACE/IGRTExtension/{module}" in ci, "module path not given to Slicer"
    assert f"hasattr(slicer.modules, '{module.lower()}')" in ci, "CI does not check the module loaded"
    assert f"{module}.{module}Test()" in ci, "CI does not run the module's self-test"


# Module-specific parts of the .ui files.


def test_couch_result_section_has_table_verdict_and_exports():
    widgets = {
        w.get("name"): w
        for w in ET.parse(REPO / "IGRTExtension/IGRTCouchShift/Resources/UI/IGRTCouchShift.ui").iter("widget")
    }

    def prop(name, key):
        p = widgets[name].find(f"property[@name='{key}']")
        return p.find("./*").text

    assert widgets["shiftTableView"].get("class") == "qMRMLTableView"
    assert widgets["verdictLabel"].get("class") == "QLabel" and "font-size" in prop(
        "verdictLabel", "styleSheet"
    )
    assert prop("exportRegButton", "text") == "Export REG"
    assert prop("exportReportButton", "text") == "Export report"


def test_fiducial_markup_editors_follow_the_module_selectors():
    root = ET.parse(REPO / "IGRTExtension/IGRTFiducials/Resources/UI/IGRTFiducials.ui").getroot()
    editors = {
        w.get("name"): w for w in root.iter("widget") if w.get("class") == "qSlicerSimpleMarkupsWidget"
    }
    assert set(editors) == {"planningMarkupsWidget", "dailyMarkupsWidget"}
    for editor in editors.values():  # the widget code drives them from the parameter node's selectors
        props = {p.get("name"): p.find("./*").text for p in editor.findall("property")}
        assert props["nodeSelectorVisible"] == "false" and props["enterPlaceModeOnNodeChange"] == "false"
