"""IGRT Fiducials: implanted gold markers in Slicer markups, detection, correction and the marker match.

Template structure of Slicer's scripted modules (module, parameter node, widget, logic, test). The
widget is thin; the Logic is thin over ``igrt.mrml.fiducials`` (MRML adapters), ``igrt.markers.detect``
and ``igrt.markers.match`` (core), and runs without the GUI. Under the ``slicer-core`` wheel (MRML
without Qt) the GUI base classes are replaced by stand-ins so that the Logic can still be imported
and tested.
"""

import enum
import logging
import os
import sys
from typing import Annotated

import slicer
import vtk


def _ensureCorePackage():
    """Make ``igrt`` importable: installed next to the module, or the source tree's ``IGRTExtension/``."""
    try:
        import igrt  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_ensureCorePackage()


try:  # Inside the Slicer application.
    import qt
    from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )
    from slicer.util import VTKObservationMixin

    IN_SLICER_APP = True
except ImportError:  # slicer-core wheel: real MRML, no application; only the Logic is usable.
    qt = None
    from igrt.mrml.headless_module import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
        VTKObservationMixin,
        WithinRange,
        parameterNodeWrapper,
    )

    IN_SLICER_APP = False

from slicer import (
    vtkMRMLLinearTransformNode,
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLMarkupsROINode,
    vtkMRMLNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLTableNode,
)

from igrt.errors import IGRTInputError
from igrt.mrml import daily_match
from igrt.mrml import fiducials as markernodes

#: SlicerRT's plan node class (Beams module); the plan selector lists only these.
PLAN_NODE_CLASS = "vtkMRMLRTPlanNode"

HELP_TEXT = """
Implanted gold markers of image-guided radiotherapy: detects the markers in the planning CT and in the
daily image (CBCT or CT) into markups point lists ("Planning markers", "Daily markers": M1, M2, ...,
the detection confidence in each point's description), lets you add, move, lock and exclude points,
reads markers that SlicerRT loaded from an RTSTRUCT (each point ROI is its own point list: "Collect
RTSTRUCT points" copies them into one list), then pairs the markers without a given order, fits the
rigid transform and reports the FRE, per-marker residuals, leave-one-out errors, the predicted TRE at
the isocenter and suspected migration.
<br><br><b>Which points take part.</b> Every point with a position, detected or placed by hand. A point
is <b>excluded</b> when it is unselected (the selection check box in the Markups module's control point
list, or "Exclude / include point" here), or when its label or description contains the word
"exclude" or "excluded". Excluded planning markers keep their number and are reported as excluded;
excluded daily markers are left out of the pairing. <b>Locked</b> points only protect against moving.
<br><br><b>Frames.</b> Markers are in each image's own coordinates: a daily volume under the match
transform is searched where it was acquired, and the daily list is kept under the same transform.
The output transform is applied to the daily volume, like IGRT Daily Match's, so IGRT Couch Shift and
SlicerRT's REG export read it. Millimetres and degrees; the result matrix is in DICOM LPS of the
planning frame and maps the planned anatomy to where it is in the daily image ("patient is displaced").
"""


#
# IGRTFiducials
#


class IGRTFiducials(ScriptedLoadableModule):
    """Module description shown in Slicer's module selector and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Fiducials"
        self.parent.categories = ["IGRT"]
        self.parent.dependencies = []  # SlicerRT is an extension dependency; plan nodes are optional.
        self.parent.contributors = ["IGRTExtension developers"]
        self.parent.helpText = HELP_TEXT
        self.parent.acknowledgementText = "Built on 3D Slicer and SlicerRT, with the igrt core library."


#
# IGRTFiducialsParameterNode
#


class IsocenterSource(enum.Enum):
    PLAN = "plan"
    MARKUPS = "markups"
    MARKERS = "markers"

    def label(self):
        return {
            "plan": "RT plan",
            "markups": "Markups point",
            "markers": "Centroid of the planning markers",
        }[self.value]


@parameterNodeWrapper
class IGRTFiducialsParameterNode:
    """Everything the user chooses, saved with the scene.

    planningVolume, dailyVolume - the planning CT and the daily image (searched for markers).
    searchRegion - optional markups ROI: markers are searched inside it (both images).
    thresholdHU - HU above which a marker core lies; 0 = the detector's default.
    planningMarkers, dailyMarkers - the point lists (detected, RTSTRUCT, or placed by hand).
    isocenterSource, planNode, isocenterMarkups - planning isocenter; dailyIsocenterMarkups - the daily
      treatment isocenter (optional: same point in a shared frame, else the daily image center).
    outputTransform, resultTable - outputs (the match transform is what IGRT Couch Shift reads).
    """

    planningVolume: vtkMRMLScalarVolumeNode
    dailyVolume: vtkMRMLScalarVolumeNode
    searchRegion: vtkMRMLMarkupsROINode
    thresholdHU: Annotated[float, WithinRange(0.0, 30000.0)] = 0.0
    planningMarkers: vtkMRMLMarkupsFiducialNode
    dailyMarkers: vtkMRMLMarkupsFiducialNode
    isocenterSource: IsocenterSource = IsocenterSource.PLAN
    planNode: vtkMRMLNode
    isocenterMarkups: vtkMRMLMarkupsFiducialNode
    dailyIsocenterMarkups: vtkMRMLMarkupsFiducialNode
    outputTransform: vtkMRMLLinearTransformNode
    resultTable: vtkMRMLTableNode


#
# IGRTFiducialsWidget
#


class IGRTFiducialsWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Thin GUI: .ui file, parameter node connection, detect / collect / exclude / lock / match buttons."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IGRTFiducials.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IGRTFiducialsLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.detectPlanningButton.connect("clicked(bool)", lambda: self.onDetect("planning"))
        self.ui.detectDailyButton.connect("clicked(bool)", lambda: self.onDetect("daily"))
        self.ui.collectRtStructButton.connect("clicked(bool)", self.onCollectRtStruct)
        self.ui.excludePlanningButton.connect("clicked(bool)", lambda: self.onToggleExcluded("planning"))
        self.ui.excludeDailyButton.connect("clicked(bool)", lambda: self.onToggleExcluded("daily"))
        self.ui.lockPlanningCheckBox.connect("toggled(bool)", lambda on: self.onLock("planning", on))
        self.ui.lockDailyCheckBox.connect("toggled(bool)", lambda on: self.onLock("daily", on))
        self.ui.matchButton.connect("clicked(bool)", self.onMatchButton)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified
            )

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(
                self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified
            )
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets carry a "SlicerParameterName" dynamic property in the .ui file.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.ui.planSelector.nodeTypes = [
                PLAN_NODE_CLASS
            ]  # annotated vtkMRMLNode: loads without SlicerRT
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        p = self._parameterNode
        if not p:
            return
        # The markups editors follow the selectors (their own node selectors are hidden in the .ui).
        for editor, node in (
            (self.ui.planningMarkupsWidget, p.planningMarkers),
            (self.ui.dailyMarkupsWidget, p.dailyMarkers),
        ):
            if editor.currentNode() != node:
                editor.setCurrentNode(node)
        self.ui.detectPlanningButton.enabled = p.planningVolume is not None
        self.ui.detectDailyButton.enabled = p.dailyVolume is not None
        ready = bool(p.planningMarkers and p.dailyMarkers and p.planningMarkers != p.dailyMarkers)
        self.ui.matchButton.enabled = ready
        self.ui.matchButton.toolTip = (
            "Pair and match the markers" if ready else "Select two different marker lists"
        )
        self.ui.lockPlanningCheckBox.enabled = p.planningMarkers is not None
        self.ui.lockDailyCheckBox.enabled = p.dailyMarkers is not None

    def _role(self, role):
        p = self._parameterNode
        if role == "planning":
            return p.planningVolume, p.planningMarkers, self.ui.planningMarkupsWidget
        return p.dailyVolume, p.dailyMarkers, self.ui.dailyMarkupsWidget

    def _error(self, exc) -> None:
        slicer.util.errorDisplay(str(exc), windowTitle="IGRT Fiducials")

    def onDetect(self, role: str) -> None:
        p = self._parameterNode
        volume, markers, _ = self._role(role)
        try:
            with slicer.util.WaitCursor():
                node = self.logic.detect(
                    volume,
                    role,
                    markupsNode=markers,
                    roiNode=p.searchRegion,
                    thresholdHu=p.thresholdHU or None,
                )
        except IGRTInputError as exc:
            self._error(exc)
            return
        if role == "planning":
            p.planningMarkers = node
        else:
            p.dailyMarkers = node
        self.ui.statusLabel.text = f"{node.GetNumberOfControlPoints()} marker(s) found in {volume.GetName()}"

    def onCollectRtStruct(self) -> None:
        try:
            node = self.logic.collectRtStructPoints(slicer.mrmlScene)
        except IGRTInputError as exc:
            self._error(exc)
            return
        self._parameterNode.planningMarkers = node
        self.ui.statusLabel.text = f"{node.GetNumberOfControlPoints()} RTSTRUCT point(s) in {node.GetName()}"

    def onToggleExcluded(self, role: str) -> None:
        _, markers, editor = self._role(role)
        row = editor.tableWidget().currentRow() if markers is not None else -1
        if row < 0:
            self._error("select a point in the list first")
            return
        excluded = self.logic.toggleExcluded(markers, row)
        label = markers.GetNthControlPointLabel(row)
        self.ui.statusLabel.text = f"{label} {'excluded from' if excluded else 'included in'} the match"

    def onLock(self, role: str, locked: bool) -> None:
        _, markers, _ = self._role(role)
        if markers is not None:
            markers.SetLocked(bool(locked))

    def onMatchButton(self) -> None:
        try:
            with slicer.util.WaitCursor():
                outputs = self.logic.processParameterNode(self._parameterNode)
        except IGRTInputError as exc:
            self._error(exc)
            return
        self._parameterNode.outputTransform = outputs.transform_node
        self._parameterNode.resultTable = outputs.table_node
        self.ui.resultTableView.setMRMLTableNode(outputs.table_node)
        self.ui.summaryLabel.text = IGRTFiducialsLogic.summary(outputs)
        self.ui.messagesLabel.text = "<br>".join(outputs.messages)


#
# IGRTFiducialsLogic
#


class IGRTFiducialsLogic(ScriptedLoadableModuleLogic):
    """Marker detection and the marker match on MRML nodes, without the GUI (console, batch, tests).

    Work is delegated to ``igrt.mrml.fiducials`` (adapters), ``igrt.markers.detect.detect_markers`` and
    ``igrt.markers.match.marker_result_from_points`` (core).
    """

    LIST_NAMES = {"planning": "Planning markers", "daily": "Daily markers"}

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.outputs = None  # igrt.mrml.fiducials.FiducialMatchOutputs of the last match

    def getParameterNode(self):
        return IGRTFiducialsParameterNode(super().getParameterNode())

    def detect(
        self, volumeNode, role="planning", markupsNode=None, roiNode=None, segment="", thresholdHu=None
    ):
        """Search a volume for markers and put them in a point list (created, or refilled)."""
        if role not in self.LIST_NAMES:
            raise IGRTInputError(f"marker list role must be planning or daily, not {role!r}")
        found = markernodes.detect(volumeNode, roiNode, segment, thresholdHu)
        if not found:
            raise IGRTInputError(
                f"no markers found in {volumeNode.GetName()!r}"
                + (" inside the search region" if roiNode is not None else "")
                + "; lower the threshold or place them by hand"
            )
        scene = volumeNode.GetScene()
        node = markernodes.markers_to_node(
            scene, found, volumeNode, node=markupsNode, name=self.LIST_NAMES[role], role=role
        )
        logging.info(f"IGRT fiducials: {len(found)} marker(s) in {volumeNode.GetName()}")
        return node

    @staticmethod
    def collectRtStructPoints(scene, node=None):
        """One point list from the RTSTRUCT point ROIs SlicerRT loaded (one node per ROI)."""
        nodes = markernodes.rtstruct_point_nodes(scene)
        if not nodes:
            raise IGRTInputError(
                "no RTSTRUCT point ROIs in the scene (load the RTSTRUCT with SlicerRT's DICOM import)"
            )
        return markernodes.merge_point_nodes(scene, nodes, node=node)

    @staticmethod
    def toggleExcluded(markupsNode, index: int) -> bool:
        """Exclude an included point, include an excluded one; returns the new state (True = excluded)."""
        excluded = not markernodes.is_excluded(markupsNode, index)
        markernodes.set_excluded(markupsNode, index, excluded)
        return excluded

    @staticmethod
    def planningIsocenterLps(source: str, planNode=None, markupsNode=None, planningVolume=None):
        """Planning isocenter (LPS) from the plan or a markups point; None = centroid of the markers."""
        if source == IsocenterSource.PLAN.value:
            if planNode is None:
                raise IGRTInputError("isocenter from the plan: select an RT plan (or choose another source)")
            return daily_match.isocenter_lps_from_plan(planNode)
        if source == IsocenterSource.MARKUPS.value:
            return daily_match.point_lps_from_markups(markupsNode, volume_node=planningVolume)
        return None

    def process(
        self,
        planningMarkers,
        dailyMarkers,
        planningVolume=None,
        dailyVolume=None,
        planningIsocenterLps=None,
        dailyIsocenterLps=None,
        orientation=None,
        outputTransform=None,
        resultTable=None,
    ):
        """Pair and match the markers; write the match transform (on the daily volume) and the table."""
        if planningMarkers is None or dailyMarkers is None:
            raise IGRTInputError("select the planning and the daily marker lists")
        some = planningMarkers[0] if isinstance(planningMarkers, list | tuple) else planningMarkers
        scene = some.GetScene() if some is not None else None
        self.outputs = markernodes.match(
            scene,
            planningMarkers,
            dailyMarkers,
            planningVolume,
            dailyVolume,
            planning_isocenter_lps=planningIsocenterLps,
            daily_isocenter_lps=dailyIsocenterLps,
            orientation=orientation,
            transform_node=outputTransform,
            table_node=resultTable,
        )
        logging.info(f"IGRT fiducials: {self.summary(self.outputs)}")
        return self.outputs

    def processParameterNode(self, p):
        """``process`` with the choices stored in a parameter node."""
        planningIso = self.planningIsocenterLps(
            p.isocenterSource.value, p.planNode, p.isocenterMarkups, p.planningVolume
        )
        dailyIso = None
        if p.dailyIsocenterMarkups is not None and p.dailyIsocenterMarkups.GetNumberOfControlPoints():
            dailyIso = daily_match.point_lps_from_markups(p.dailyIsocenterMarkups, volume_node=p.dailyVolume)
        return self.process(
            p.planningMarkers,
            p.dailyMarkers,
            p.planningVolume,
            p.dailyVolume,
            planningIsocenterLps=planningIso,
            dailyIsocenterLps=dailyIso,
            outputTransform=p.outputTransform,
            resultTable=p.resultTable,
        )

    @staticmethod
    def summary(outputs) -> str:
        """One line for the result label, with the sense in words."""
        t, r = outputs.result["translation_mm"], outputs.result["rotation_deg"]
        return (
            f"Patient is displaced (LPS, at the isocenter): x {t[0]:+.1f} mm (+ left), y {t[1]:+.1f} mm "
            f"(+ posterior), z {t[2]:+.1f} mm (+ superior); rotation {r[0]:+.1f}°, {r[1]:+.1f}°, {r[2]:+.1f}°; "
            f"FRE {outputs.result['quality']['fre_mm']:.2f} mm"
        )


#
# IGRTFiducialsTest
#


class IGRTFiducialsTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: detect and match four gold markers of a known rigid displacement."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_KnownDisplacement()
        self.setUp()
        self.test_BadInputIsRefused()

    def test_KnownDisplacement(self):
        import numpy as np
        from IGRTFiducialsLib import syntheticcase

        from igrt import geometry
        from igrt.mrml import couch, volumes

        image, centers = syntheticcase.planning_image()
        iso = centers.mean(axis=0)
        # Patient displaced by 2.5 mm left, 1.5 mm anterior, 3 mm superior and turned (1.5°, −1°, 2°) about
        # the isocenter: the displacement at the isocenter is exactly (2.5, −1.5, 3) mm.
        matrix = geometry.rigid_about_point(geometry.rotation_xyz_deg(1.5, -1.0, 2.0), iso, (2.5, -1.5, 3.0))
        planning = volumes.node_from_image(slicer.mrmlScene, image, "planning CT")
        daily = volumes.node_from_image(
            slicer.mrmlScene, syntheticcase.move_patient(image, matrix), "daily CT"
        )
        logic = IGRTFiducialsLogic()
        planningMarkers = logic.detect(planning, "planning")
        dailyMarkers = logic.detect(daily, "daily")
        self.assertEqual(planningMarkers.GetNumberOfControlPoints(), 4)
        self.assertEqual(dailyMarkers.GetNumberOfControlPoints(), 4)
        out = logic.process(planningMarkers, dailyMarkers, planning, daily, planningIsocenterLps=iso)
        error = np.asarray(out.result["translation_mm"]) - (2.5, -1.5, 3.0)
        self.assertLess(float(np.max(np.abs(error))), 0.5, f"translation {out.result['translation_mm']}")
        self.assertLess(out.result["quality"]["fre_mm"], 0.5)
        self.assertEqual(daily.GetTransformNodeID(), out.transform_node.GetID())
        read = couch.result_from_transform_node(out.transform_node)  # what IGRT Couch Shift reads
        self.assertLess(float(np.max(np.abs(np.asarray(read["translation_mm"]) - (2.5, -1.5, 3.0)))), 0.5)
        self.delayDisplay("Four markers, known displacement: translation within 0.5 mm")

    def test_BadInputIsRefused(self):
        logic = IGRTFiducialsLogic()
        with self.assertRaises(IGRTInputError):
            logic.process(None, None)
        with self.assertRaises(IGRTInputError):
            logic.detect(None)
        with self.assertRaises(IGRTInputError):
            logic.collectRtStructPoints(slicer.mrmlScene)  # nothing loaded
        self.delayDisplay("Bad input refused")
