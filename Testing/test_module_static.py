"""IGRTDailyMatch: the .ui file, the widget code and the parameter node agree (no Slicer needed).

parameterNodeWrapper's connectGui maps widgets by their "SlicerParameterName" dynamic property; a
property naming no parameter, or a parameter without its widget, only fails inside Slicer. These
checks catch that (and `self.ui.X` typos) on a plain Python.
"""

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "IGRTExtension" / "IGRTDailyMatch"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "IGRTDailyMatch.ui"
PY_FILE = MODULE_DIR / "IGRTDailyMatch.py"

#: Widget classes parameterNodeWrapper can connect, by the kind of parameter (Slicer guiConnectors.py).
CONNECTABLE = {
    "node": {"qMRMLNodeComboBox"},
    "enum": {"QComboBox", "ctkComboBox"},
    "float": {"QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSpinBox", "qMRMLSpinBox"},
    "int": {"QSpinBox", "QSlider", "QDoubleSpinBox", "ctkSliderWidget"},
    "bool": {"QCheckBox", "ctkCheckBox", "QPushButton"},
    "str": {"QLineEdit", "QLabel", "QTextEdit"},
}
#: Parameters annotated with a base class on purpose, with the node types the widget lists instead.
NODE_TYPE_EXCEPTIONS = {"planNode": "vtkMRMLRTPlanNode"}  # vtkMRMLNode: loads without SlicerRT


@pytest.fixture(scope="module")
def ui_widgets():
    root = ET.parse(UI_FILE).getroot()
    widgets = {}
    for w in root.iter("widget"):
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
def source():
    return PY_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def parameters(source):
    """name → annotation source of the @parameterNodeWrapper class fields."""
    tree = ast.parse(source)
    cls = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "IGRTDailyMatchParameterNode"
    )
    assert any(ast.unparse(d) == "parameterNodeWrapper" for d in cls.decorator_list)
    return {n.target.id: ast.unparse(n.annotation) for n in cls.body if isinstance(n, ast.AnnAssign)}


def _kind(annotation: str, source: str) -> str:
    base = re.sub(r"^Annotated\[(\w+),.*\]$", r"\1", annotation)
    if base.startswith("vtkMRML"):
        return "node"
    if re.search(rf"class {base}\(enum\.Enum\)", source):
        return "enum"
    return base


def test_ui_is_a_qt_designer_file_with_the_template_sections(ui_widgets):
    root = ET.parse(UI_FILE).getroot()
    assert root.tag == "ui" and root.find("class").text == "IGRTDailyMatch"
    assert root.find("widget").get("class") == "qMRMLWidget"
    titles = {props.get("text") for cls, props in ui_widgets.values() if cls == "ctkCollapsibleButton"}
    assert titles == {"Inputs", "Match", "Comparison", "Result"}
    declared = {c.find("class").text for c in root.iter("customwidget")}
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
            assert node_types == [NODE_TYPE_EXCEPTIONS.get(param, annotation)], (param, node_types)


def test_node_selectors_get_the_scene(ui_widgets):
    root = ET.parse(UI_FILE).getroot()
    receivers = {
        c.find("receiver").text
        for c in root.iter("connection")
        if c.find("signal").text == "mrmlSceneChanged(vtkMRMLScene*)"
    }
    needs_scene = {n for n, (cls, _) in ui_widgets.items() if cls in ("qMRMLNodeComboBox", "qMRMLTableView")}
    assert needs_scene == receivers


def test_module_has_the_template_classes(source):
    names = {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}
    for suffix in ("", "ParameterNode", "Widget", "Logic", "Test"):
        assert f"IGRTDailyMatch{suffix}" in names
    assert '"IGRT"' in source and 'resourcePath("UI/IGRTDailyMatch.ui")' in source


def test_cmake_lists_every_module_file():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text()
    listed_py = {p.relative_to(MODULE_DIR).as_posix() for p in MODULE_DIR.rglob("*.py")}
    for rel in listed_py:
        assert rel.replace("IGRTDailyMatch", "${MODULE_NAME}") in cmake, f"{rel} not installed by CMake"
    for rel in ("Resources/Icons/${MODULE_NAME}.png", "Resources/UI/${MODULE_NAME}.ui"):
        assert rel in cmake and (MODULE_DIR / rel.replace("${MODULE_NAME}", "IGRTDailyMatch")).is_file()
