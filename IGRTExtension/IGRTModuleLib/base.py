"""Slicer's scripted-module template classes inside the application, or their stand-ins under slicer-core.

The one core-path/headless switch of the IGRT modules: inside Slicer, ``qt``, the
``ScriptedLoadableModule*`` classes and ``parameterNodeWrapper`` are Slicer's; under the ``slicer-core``
wheel (real MRML, no Qt) they are the stand-ins of :mod:`IGRTModuleLib.headless`, so the module files
import and their Logic classes run on a real scene. ``IN_SLICER_APP`` says which.
"""

from slicer.util import VTKObservationMixin  # real in both: slicer-core ships slicer.util

try:  # Inside the Slicer application.
    import qt
    from slicer.parameterNodeWrapper import (
        Choice,
        GuiConnector,
        WithinRange,
        parameterNodeGuiConnector,
        parameterNodeWrapper,
    )
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )

    IN_SLICER_APP = True
except ImportError:  # slicer-core wheel: real MRML, no application; only the Logic is usable.
    qt = None
    GuiConnector = parameterNodeGuiConnector = None  # custom widget connectors exist only with Qt
    from IGRTModuleLib.headless import (
        Choice,
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
        WithinRange,
        parameterNodeWrapper,
    )

    IN_SLICER_APP = False

__all__ = [
    "IN_SLICER_APP",
    "PLAN_NODE_CLASS",
    "Choice",
    "GuiConnector",
    "IGRTModule",
    "ScriptedLoadableModule",
    "ScriptedLoadableModuleLogic",
    "ScriptedLoadableModuleTest",
    "ScriptedLoadableModuleWidget",
    "VTKObservationMixin",
    "WithinRange",
    "parameterNodeGuiConnector",
    "parameterNodeWrapper",
    "qt",
]

#: SlicerRT's plan node class (Beams module); plan selectors list only these.
PLAN_NODE_CLASS = "vtkMRMLRTPlanNode"


class IGRTModule(ScriptedLoadableModule):
    """Module description shown in Slicer's module selector and help panel; subclasses set the texts.

    ``TITLE``, ``HELP_TEXT`` and ``ACKNOWLEDGEMENT`` per module; category "IGRT" for all. SlicerRT is an
    extension dependency (plan nodes are optional), so no module dependency is declared.
    """

    TITLE = ""
    HELP_TEXT = ""
    ACKNOWLEDGEMENT = "Built on 3D Slicer and SlicerRT, with the igrt core library."

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = self.TITLE
        self.parent.categories = ["IGRT"]
        self.parent.dependencies = []
        self.parent.contributors = ["IGRTExtension developers"]
        self.parent.helpText = self.HELP_TEXT
        self.parent.acknowledgementText = self.ACKNOWLEDGEMENT
