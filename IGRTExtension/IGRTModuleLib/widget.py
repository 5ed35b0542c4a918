"""``IGRTModuleWidget``: the scripted-module template's widget plumbing, shared by the IGRT modules.

Loads ``Resources/UI/<module>.ui``, connects the parameter node to the widgets (their
"SlicerParameterName" properties), follows scene close, shows refusals as dialogs (:mod:`.errors`) and
reloads the ``igrt`` core with the module (:mod:`.reload`). A module widget adds its buttons in
``setupWidgets`` and reacts to its parameters in ``onParameterNodeModified``.
"""

import sys

import slicer
import vtk

from IGRTModuleLib import errors, reload
from IGRTModuleLib.base import PLAN_NODE_CLASS, ScriptedLoadableModuleWidget, VTKObservationMixin


class IGRTModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Thin GUI base: the module's Logic (``<module>Logic`` of the module file) does the work.

    Dialogs are titled with the module's title (``IGRTModule.TITLE``) unless ``TITLE`` says otherwise.
    """

    TITLE = ""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath(f"UI/{self.moduleName}.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = self.createLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.setupWidgets()
        self.initializeParameterNode()

    def _moduleFile(self):
        return sys.modules[type(self).__module__]

    def createLogic(self):
        """The module's Logic: the class ``<module>Logic`` defined next to this widget."""
        return getattr(self._moduleFile(), f"{self.moduleName}Logic")()

    def title(self) -> str:
        """Title of the module's dialogs: ``TITLE``, else the module's own title."""
        return self.TITLE or getattr(self._moduleFile(), self.moduleName).TITLE

    def setupWidgets(self) -> None:
        """Connect the module's own buttons (called once the .ui and the Logic exist)."""

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        """The parameter node changed (or was just connected): enable buttons, follow choices."""

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self._disconnectParameterNode()

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def _disconnectParameterNode(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified
            )

    def setParameterNode(self, inputParameterNode) -> None:
        self._disconnectParameterNode()
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            if hasattr(self.ui, "planSelector"):
                # connectGui sets nodeTypes from the annotation (vtkMRMLNode, so that the module loads
                # without SlicerRT's classes); list only SlicerRT plans again.
                self.ui.planSelector.nodeTypes = [PLAN_NODE_CLASS]
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
            self.onParameterNodeModified()

    def guarded(self, function, *args, **kwargs):
        """Run a Logic call; a refusal is shown in a dialog titled with the module and gives None."""

        def busy():
            with slicer.util.WaitCursor():  # restored before any dialog opens
                return function(*args, **kwargs)

        return errors.guarded(self.title(), busy)

    def onReload(self) -> None:
        """Developer reload: re-read the ``igrt`` core and this library too, then the module file."""
        reload.dropCoreModules(extra=(f"{self.moduleName}Lib",))
        ScriptedLoadableModuleWidget.onReload(self)
