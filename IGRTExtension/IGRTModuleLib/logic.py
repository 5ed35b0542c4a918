"""``IGRTModuleLogic``: what every IGRT module Logic shares (parameter node, outputs, a followed transform).

A Logic that shows numbers derived from a transform follows it (:meth:`IGRTModuleLogic.followTransform`):
every ``TransformModifiedEvent`` (interaction handles, the Transforms module, a script) calls its
``onTransformModified``, which re-derives the numbers at once and calls ``resultChanged`` so a widget
can follow. Numbers that cannot be derived any more are withdrawn (:func:`withdrawTable`), never left
stale.
"""

import slicer

from IGRTModuleLib import nodes
from IGRTModuleLib.base import ScriptedLoadableModuleLogic, VTKObservationMixin

#: Table node attribute holding why the table's numbers were withdrawn (absent while they are valid).
ATTR_PROBLEM = "IGRT.Problem"


def withdrawTable(tableNode, problem: str) -> None:
    """Empty a result table and record why (no stale number stays on screen)."""
    tableNode.GetTable().Initialize()
    tableNode.SetAttribute(ATTR_PROBLEM, problem)
    tableNode.Modified()


class IGRTModuleLogic(ScriptedLoadableModuleLogic, VTKObservationMixin):
    """Logic base; subclasses set ``PARAMETER_NODE_CLASS`` and override ``onTransformModified``."""

    PARAMETER_NODE_CLASS = None
    dicomIdentity = staticmethod(nodes.dicomIdentity)
    #: Planning isocenter (LPS) from the plan or a markups point; None = the Logic's own default.
    planningIsocenterLps = staticmethod(nodes.planningIsocenterLps)

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        VTKObservationMixin.__init__(self)
        self.outputs = None  # what the last run computed (live while a transform is followed)
        self.resultChanged = None  # callback(outputs, problem or None) after a live update
        self.followedTransform = None

    def getParameterNode(self):
        return self.PARAMETER_NODE_CLASS(super().getParameterNode())

    def followTransform(self, transformNode) -> None:
        """Observe ``transformNode`` (one node at a time; None stops following)."""
        event = slicer.vtkMRMLTransformNode.TransformModifiedEvent
        if self.followedTransform is not None and self.followedTransform is not transformNode:
            self.removeObserver(self.followedTransform, event, self.onTransformModified)
        self.followedTransform = transformNode
        if transformNode is not None and not self.hasObserver(transformNode, event, self.onTransformModified):
            self.addObserver(transformNode, event, self.onTransformModified)

    def onTransformModified(self, caller=None, event=None) -> None:
        """The followed transform changed: re-derive the numbers (subclasses)."""

    def notifyResultChanged(self, problem=None) -> None:
        if self.resultChanged is not None:
            self.resultChanged(self.outputs, problem)
