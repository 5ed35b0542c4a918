"""IGRT Fiducials: implanted gold markers in Slicer markups, detection, correction and the marker match.

The Logic detects markers (``igrt.markers.detect``, scipy installed on first use), pairs and matches
them (``igrt.mrml.fiducials``) into the same kind of match transform IGRT Couch Shift reads.
Template plumbing: ``IGRTModuleLib``.
"""

import logging
import os
import sys
from typing import Annotated

import slicer

try:
    import IGRTModuleLib  # noqa: F401  (installed next to this file, with the igrt core)
except ImportError:  # source tree: the shared base and the igrt core are in IGRTExtension/
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from IGRTModuleLib import base, logic, nodes, requirements
from IGRTModuleLib.choices import isocenterSources
from IGRTModuleLib.widget import IGRTModuleWidget

from igrt.errors import IGRTInputError
from igrt.mrml import fiducials as markernodes

IN_SLICER_APP = base.IN_SLICER_APP  # read by CI and the tests

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


class IGRTFiducials(base.IGRTModule):
    """Module description shown in Slicer's module selector and help panel."""

    TITLE = "Fiducials"
    HELP_TEXT = HELP_TEXT


#
# IGRTFiducialsParameterNode
#

IsocenterSource = isocenterSources("plan", "markups", "markers")


@base.parameterNodeWrapper
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

    planningVolume: slicer.vtkMRMLScalarVolumeNode
    dailyVolume: slicer.vtkMRMLScalarVolumeNode
    searchRegion: slicer.vtkMRMLMarkupsROINode
    thresholdHU: Annotated[float, base.WithinRange(0.0, 30000.0)] = 0.0
    planningMarkers: slicer.vtkMRMLMarkupsFiducialNode
    dailyMarkers: slicer.vtkMRMLMarkupsFiducialNode
    isocenterSource: IsocenterSource = IsocenterSource.PLAN
    planNode: slicer.vtkMRMLNode
    isocenterMarkups: slicer.vtkMRMLMarkupsFiducialNode
    dailyIsocenterMarkups: slicer.vtkMRMLMarkupsFiducialNode
    outputTransform: slicer.vtkMRMLLinearTransformNode
    resultTable: slicer.vtkMRMLTableNode


#
# IGRTFiducialsWidget
#


class IGRTFiducialsWidget(IGRTModuleWidget):
    """Thin GUI: detect / collect / exclude / lock / match buttons."""

    def setupWidgets(self) -> None:
        self.ui.detectPlanningButton.connect("clicked(bool)", lambda: self.onDetect("planning"))
        self.ui.detectDailyButton.connect("clicked(bool)", lambda: self.onDetect("daily"))
        self.ui.collectRtStructButton.connect("clicked(bool)", self.onCollectRtStruct)
        self.ui.excludePlanningButton.connect("clicked(bool)", lambda: self.onToggleExcluded("planning"))
        self.ui.excludeDailyButton.connect("clicked(bool)", lambda: self.onToggleExcluded("daily"))
        self.ui.lockPlanningCheckBox.connect("toggled(bool)", lambda on: self.onLock("planning", on))
        self.ui.lockDailyCheckBox.connect("toggled(bool)", lambda on: self.onLock("daily", on))
        self.ui.matchButton.connect("clicked(bool)", self.onMatchButton)

    def onParameterNodeModified(self, caller=None, event=None) -> None:
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

    def onDetect(self, role: str) -> None:
        p = self._parameterNode
        volume, markers, _ = self._role(role)
        node = self.guarded(
            self.logic.detect,
            volume,
            role,
            markupsNode=markers,
            roiNode=p.searchRegion,
            thresholdHu=p.thresholdHU or None,
        )
        if node is None:
            return
        if role == "planning":
            p.planningMarkers = node
        else:
            p.dailyMarkers = node
        self.ui.statusLabel.text = f"{node.GetNumberOfControlPoints()} marker(s) found in {volume.GetName()}"

    def onCollectRtStruct(self) -> None:
        node = self.guarded(self.logic.collectRtStructPoints, slicer.mrmlScene)
        if node is None:
            return
        self._parameterNode.planningMarkers = node
        self.ui.statusLabel.text = f"{node.GetNumberOfControlPoints()} RTSTRUCT point(s) in {node.GetName()}"

    def onToggleExcluded(self, role: str) -> None:
        _, markers, editor = self._role(role)
        row = editor.tableWidget().currentRow() if markers is not None else -1
        if row < 0:
            slicer.util.errorDisplay("select a point in the list first", windowTitle=self.title())
            return
        excluded = self.logic.toggleExcluded(markers, row)
        label = markers.GetNthControlPointLabel(row)
        self.ui.statusLabel.text = f"{label} {'excluded from' if excluded else 'included in'} the match"

    def onLock(self, role: str, locked: bool) -> None:
        _, markers, _ = self._role(role)
        if markers is not None:
            markers.SetLocked(bool(locked))

    def onMatchButton(self) -> None:
        outputs = self.guarded(self.logic.processParameterNode, self._parameterNode)
        if outputs is None:
            return
        self._parameterNode.outputTransform = outputs.transform_node
        self._parameterNode.resultTable = outputs.table_node
        self.ui.resultTableView.setMRMLTableNode(outputs.table_node)
        self.ui.summaryLabel.text = IGRTFiducialsLogic.summary(outputs)
        self.ui.messagesLabel.text = "<br>".join(outputs.messages)


#
# IGRTFiducialsLogic
#


class IGRTFiducialsLogic(logic.IGRTModuleLogic):
    """Marker detection and the marker match on MRML nodes, without the GUI (console, batch, tests).

    Work is delegated to ``igrt.mrml.fiducials`` (adapters), ``igrt.markers.detect.detect_markers`` and
    ``igrt.markers.match.marker_result_from_points`` (core).
    """

    LIST_NAMES = {"planning": "Planning markers", "daily": "Daily markers"}

    PARAMETER_NODE_CLASS = IGRTFiducialsParameterNode  # outputs: igrt.mrml.fiducials.FiducialMatchOutputs

    def detect(
        self, volumeNode, role="planning", markupsNode=None, roiNode=None, segment="", thresholdHu=None
    ):
        """Search a volume for markers and put them in a point list (created, or refilled)."""
        if role not in self.LIST_NAMES:
            raise IGRTInputError(f"marker list role must be planning or daily, not {role!r}")
        requirements.ensure(["scipy"], "Marker detection")  # scipy.ndimage; not bundled with Slicer
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
        return self.process(
            p.planningMarkers,
            p.dailyMarkers,
            p.planningVolume,
            p.dailyVolume,
            planningIsocenterLps=self.planningIsocenterLps(
                p.isocenterSource.value, p.planNode, p.isocenterMarkups, p.planningVolume
            ),
            dailyIsocenterLps=nodes.dailyIsocenterLps(p.dailyIsocenterMarkups, p.dailyVolume),
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


class IGRTFiducialsTest(base.ScriptedLoadableModuleTest):
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
