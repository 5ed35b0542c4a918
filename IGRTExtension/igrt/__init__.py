"""IGRTExtension core: image-guided radiation therapy algorithms without Slicer or Qt.

Layers (docs/ARCHITECTURE.md): this package is the core (numpy, SimpleITK, pydicom, scipy). MRML adapters live
in ``igrt.mrml`` and import MRML classes only; the Slicer modules sit on top.
"""

__version__ = "0.1.0"
