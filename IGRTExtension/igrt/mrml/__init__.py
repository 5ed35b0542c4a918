"""MRML adapters (docs/ARCHITECTURE.md, layer 2): core objects ↔ MRML nodes.

These modules import only MRML and VTK classes (``import slicer``, ``import vtk``), never Qt, so they
run inside the Slicer application and under the ``slicer-core`` wheel (real MRML without the GUI).
Import the submodules explicitly (``from igrt.mrml import volumes``): importing this package does not
import ``slicer``, so the core stays importable without MRML.
"""
