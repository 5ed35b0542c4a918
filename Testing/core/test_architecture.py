"""The layering of docs/ARCHITECTURE.md, checked on the source: nothing imports the CLI, no two modules
import each other, the core imports neither Slicer nor Qt, and the MRML adapters no Qt."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "IGRTExtension"


def _imports() -> dict[str, set[str]]:
    modules = {}
    for path in ROOT.glob("igrt/**/*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    edges = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        edges[name] = found
    return edges


EDGES = _imports()


def test_nothing_imports_the_cli():
    assert [
        m
        for m, e in EDGES.items()
        if not m.startswith("igrt.cli") and any(x.startswith("igrt.cli") for x in e)
    ] == []


def test_no_two_modules_import_each_other():
    mutual = [(a, b) for a, e in EDGES.items() for b in e if b in EDGES and a in EDGES[b] and a < b]
    assert mutual == []


def test_core_has_no_slicer_and_adapters_no_qt():
    def top(names):
        return {n.split(".")[0] for n in names}

    core = {m: top(e) for m, e in EDGES.items() if not m.startswith(("igrt.mrml", "igrt.cli"))}
    assert {
        m: t & {"slicer", "qt", "ctk", "vtk"} for m, t in core.items() if t & {"slicer", "qt", "ctk", "vtk"}
    } == {}
    adapters = {m: top(e) for m, e in EDGES.items() if m.startswith("igrt.mrml")}
    assert {m: t & {"qt", "ctk"} for m, t in adapters.items() if t & {"qt", "ctk"}} == {}


def test_every_capability_has_one_workflow_module():
    for package in ("registration", "couch", "markers"):
        assert f"igrt.{package}.workflow" in EDGES
