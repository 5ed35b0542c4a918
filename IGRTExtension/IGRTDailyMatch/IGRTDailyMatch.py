"""IGRT Daily Match: planning CT ↔ daily image (CBCT/CT) rigid match in Slicer, on the igrt core.

The Logic runs ``igrt.mrml.daily_match`` (which calls ``igrt.registration.match.run_match``), keeps the
result table live while the match transform is moved by hand, and sets up the comparison views. The
template plumbing (headless stand-ins, widget lifecycle, errors) is ``IGRTModuleLib``'s.
"""

import contextlib
import dataclasses
import logging
import os
import sys
from typing import Annotated

import slicer
import vtk

try:
    import IGRTModuleLib  # noqa: F401  (installed next to this file, with the igrt core)
except ImportError:  # source tree: the shared base and the igrt core are in IGRTExtension/
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from IGRTModuleLib import base, logic, nodes, requirements
from IGRTModuleLib.choices import ComparisonMode, MatchMethod, isocenterSources
from IGRTModuleLib.widget import IGRTModuleWidget

from igrt.errors import IGRTInputError
from igrt.mrml import comparison, daily_match, tables, transforms, volumes
from igrt.registration.match import MatchOptions

IN_SLICER_APP = base.IN_SLICER_APP  # read by CI and the tests

HELP_TEXT = """
Daily match of image-guided radiotherapy: aligns the daily image (CBCT or CT) to the planning CT at the
treatment isocenter, then runs an automatic rigid 6-DOF match (bone inside a clip box around the
isocenter, then soft tissue), shows fusion / checkerboard / difference / flicker, and reports the
displacement and the IEC 61217 couch correction.
<br><br>Conventions: millimetres and degrees. The result matrix is in DICOM LPS of the planning frame
and maps the planned anatomy to where it is in the daily image ("patient is displaced").
The output transform is applied to the daily volume and brings it onto the planning volume; it refers
to the daily (moving) and planning (fixed) volumes so SlicerRT can export it as DICOM REG.
Couch numbers say "couch moves". Adjust the transform by hand with its interaction handles: the result
table (displacement and couch rows) and IGRT Couch Shift follow while it moves; "Update comparison from
transform" also recomputes the checkerboard and difference images.
"""


#
# IGRTDailyMatch
#


class IGRTDailyMatch(base.IGRTModule):
    """Module description shown in Slicer's module selector and help panel."""

    TITLE = "IGRT Daily Match"
    HELP_TEXT = HELP_TEXT
    ACKNOWLEDGEMENT = (
        "Built on 3D Slicer and SlicerRT. Uses SimpleITK for registration and the igrt core library."
    )


#
# IGRTDailyMatchParameterNode
#

IsocenterSource = isocenterSources("plan", "markups", "imageCenter")


@base.parameterNodeWrapper
class IGRTDailyMatchParameterNode:
    """Everything the user chooses, saved with the scene.

    planningVolume, dailyVolume - the planning CT and the daily image.
    planNode - optional SlicerRT plan (vtkMRMLRTPlanNode): source of the planning isocenter.
    planningStructures - optional planning segmentation (SlicerRT's RTSTRUCT import): the "contours"
      comparison outlines these instead of the planning image's HU body/bone outlines.
    isocenterSource - plan, a markups point (typed or placed: the explicit way), or the image center.
    isocenterMarkups - planning isocenter point; dailyIsocenterMarkups - daily treatment isocenter
      (optional: same coordinates in a shared frame, else the daily image center).
    method - auto / bone / soft. clipBoxSize* - clip box edge lengths (mm) around the isocenter.
    outputTransform, resultTable - outputs. comparisonMode, fusionOpacity, flickerIntervalMs - display.
    """

    planningVolume: slicer.vtkMRMLScalarVolumeNode
    dailyVolume: slicer.vtkMRMLScalarVolumeNode
    planNode: slicer.vtkMRMLNode
    planningStructures: slicer.vtkMRMLSegmentationNode
    isocenterSource: IsocenterSource = IsocenterSource.PLAN
    isocenterMarkups: slicer.vtkMRMLMarkupsFiducialNode
    dailyIsocenterMarkups: slicer.vtkMRMLMarkupsFiducialNode
    method: MatchMethod = MatchMethod.AUTO
    clipBoxSizeLR: Annotated[float, base.WithinRange(20.0, 500.0)] = 180.0
    clipBoxSizeAP: Annotated[float, base.WithinRange(20.0, 500.0)] = 160.0
    clipBoxSizeSI: Annotated[float, base.WithinRange(20.0, 500.0)] = 140.0
    outputTransform: slicer.vtkMRMLLinearTransformNode
    resultTable: slicer.vtkMRMLTableNode
    comparisonMode: ComparisonMode = ComparisonMode.FUSION
    fusionOpacity: Annotated[float, base.WithinRange(0.0, 1.0)] = 0.5
    flickerIntervalMs: Annotated[int, base.WithinRange(100, 3000)] = 500


#
# IGRTDailyMatchWidget
#


class IGRTDailyMatchWidget(IGRTModuleWidget):
    """Thin GUI: Apply, progress, live result label, comparison choices and the flicker timer."""

    def __init__(self, parent=None) -> None:
        IGRTModuleWidget.__init__(self, parent)
        self._flickerTimer = None
        self._flickerPhase = False
        self._shownComparison = None  # (mode, opacity, interval) last applied to the views

    def setupWidgets(self) -> None:
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.updateFromTransformButton.connect("clicked(bool)", self.onUpdateFromTransform)
        self.ui.adjustHandlesCheckBox.connect("toggled(bool)", self.onAdjustHandles)
        self._flickerTimer = base.qt.QTimer()
        self._flickerTimer.connect("timeout()", self.onFlickerTimeout)
        # Checkerboard/difference are volumes computed from the result: remade once the hand edit pauses.
        self._comparisonTimer = base.qt.QTimer()
        self._comparisonTimer.setSingleShot(True)
        self._comparisonTimer.setInterval(400)
        self._comparisonTimer.connect("timeout()", self.onComparisonTimeout)
        self.ui.progressBar.hide()
        self.logic.resultChanged = self._onLiveResult

    def cleanup(self) -> None:
        self._stopFlicker()
        self._comparisonTimer.stop()
        IGRTModuleWidget.cleanup(self)

    def exit(self) -> None:
        self._stopFlicker()
        self._shownComparison = None  # re-applied (flicker restarted) when the module is entered again
        IGRTModuleWidget.exit(self)

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        """Enable buttons, and follow comparison choices once a result exists.

        Comparison widgets are not connected directly: the parameter node is updated by the same Qt
        signal, and only this observer is guaranteed to see the new value.
        """
        self._syncComparison()
        p = self._parameterNode
        ready = bool(p and p.planningVolume and p.dailyVolume and p.planningVolume != p.dailyVolume)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = "Run the match" if ready else "Select two different volumes"
        self.ui.updateFromTransformButton.enabled = self.logic.outputs is not None

    def _progress(self, message: str) -> None:
        self.ui.progressBar.setFormat(message)
        slicer.app.processEvents()

    def onApplyButton(self) -> None:
        self._stopFlicker()
        self.ui.progressBar.show()
        self.ui.progressBar.setRange(0, 0)  # busy: the number of iterations is not known in advance
        try:
            outputs = self.guarded(
                self.logic.processParameterNode, self._parameterNode, progress=self._progress
            )
        finally:
            self.ui.progressBar.hide()
        if outputs is not None:
            self._showResult(outputs)

    def onUpdateFromTransform(self) -> None:
        outputs = self.guarded(self.logic.updateFromTransform)
        if outputs is not None:
            self._showResult(outputs)

    def onAdjustHandles(self, visible: bool) -> None:
        self.logic.setInteractionHandles(self._parameterNode.outputTransform, visible)

    def _onLiveResult(self, outputs, problem) -> None:
        """The transform was moved by hand: the table already holds the new numbers; the label follows."""
        self.ui.resultLabel.text = problem or IGRTDailyMatchLogic.summary(outputs.result)
        p = self._parameterNode
        if not problem and p and p.comparisonMode.value in IGRTDailyMatchLogic.COMPUTED_MODES:
            self._comparisonTimer.start()  # restarted by every further change

    def onComparisonTimeout(self) -> None:
        p = self._parameterNode
        if p and self.logic.comparisonStale:
            self.guarded(self.logic.showComparison, p.comparisonMode.value, p.fusionOpacity)

    def _showResult(self, outputs) -> None:
        self._parameterNode.outputTransform = outputs.transform_node
        self._parameterNode.resultTable = outputs.table_node
        self.ui.resultTableView.setMRMLTableNode(outputs.table_node)
        self.ui.resultLabel.text = IGRTDailyMatchLogic.summary(outputs.result)
        self._shownComparison = None
        self.onParameterNodeModified()

    def _syncComparison(self) -> None:
        p = self._parameterNode
        if self.logic.outputs is None or not p:
            return
        wanted = (p.comparisonMode, p.fusionOpacity, p.flickerIntervalMs)
        if wanted == self._shownComparison:
            return
        self._shownComparison = wanted
        self._stopFlicker()
        self.logic.showComparison(p.comparisonMode.value, p.fusionOpacity)
        if p.comparisonMode == ComparisonMode.FLICKER:
            self._flickerTimer.start(int(p.flickerIntervalMs))

    def onFlickerTimeout(self) -> None:
        self._flickerPhase = not self._flickerPhase
        comparison.set_flicker_phase(slicer.mrmlScene, self._flickerPhase)

    def _stopFlicker(self) -> None:
        if self._flickerTimer is not None and self._flickerTimer.isActive():
            self._flickerTimer.stop()


#
# IGRTDailyMatchLogic
#


class IGRTDailyMatchLogic(logic.IGRTModuleLogic):
    """The daily match on MRML nodes, without the GUI (Python console, batch scripts, tests).

    Work is delegated to ``igrt.mrml.daily_match`` (adapters) and ``igrt.registration.match.run_match``
    (core). After a match the Logic observes the output transform: moving it by hand (interaction
    handles, Transforms module) re-derives the result table, couch rows included, at every change.
    """

    #: Comparison volumes computed from the result; they go stale when the transform is moved by hand.
    COMPUTED_MODES = ("checkerboard", "difference")

    PARAMETER_NODE_CLASS = IGRTDailyMatchParameterNode

    def __init__(self) -> None:
        logic.IGRTModuleLogic.__init__(self)
        self.automaticResult = None  # MatchResult of the last automatic match: hand edits are against it
        self.comparisonStale = False  # checkerboard/difference volumes older than the transform
        self._inputs = (None, None)
        self._publishing = False  # the Logic itself writes the transform: not a hand edit

    def process(
        self,
        planningVolume,
        dailyVolume,
        method: str = "auto",
        planningIsocenterLps=None,
        dailyIsocenterLps=None,
        clipBoxMm=(180.0, 160.0, 140.0),
        outputTransform=None,
        resultTable=None,
        progress=None,
        planNode=None,
        planningStructures=None,
    ):
        """Run the match and write the transform (applied to the daily volume), table and comparison.

        ``planNode`` (a SlicerRT plan) gives the planning isocenter and goes through the workflow's plan
        check, as ``igrt match --plan`` does; it excludes ``planningIsocenterLps``. ``planningStructures``
        (a segmentation, e.g. SlicerRT's RTSTRUCT import) are outlined in the "contours" comparison, checked
        to belong to the planning image as ``igrt match --structures`` does.
        """
        if planningVolume is None or dailyVolume is None:
            raise IGRTInputError("select both the planning and the daily volume")
        options = MatchOptions(
            method=method,
            planning_isocenter_lps=planningIsocenterLps,
            daily_isocenter_lps=dailyIsocenterLps,
            clip_box_mm=tuple(float(v) for v in clipBoxMm),
        )
        scene = planningVolume.GetScene()
        identities = {
            "planning_identity": self.dicomIdentity(planningVolume),
            "daily_identity": self.dicomIdentity(dailyVolume),
        }
        reuse = self.outputs if self._inputs == (planningVolume, dailyVolume) else None
        with self._writingTransform():
            outputs = daily_match.run(
                scene,
                planningVolume,
                dailyVolume,
                options,
                transform_node=outputTransform,
                table_node=resultTable,
                comparison_nodes=reuse.comparison_nodes if reuse else None,
                progress=progress,
                plan_node=planNode,
                structures_node=planningStructures,
                **identities,
            )
        self._inputs = (planningVolume, dailyVolume)
        self._track(outputs, outputs.result)
        logging.info(f"IGRT daily match: {self.summary(self.outputs.result)}")
        return self.outputs

    def processParameterNode(self, p, progress=None):
        """``process`` with the choices stored in a parameter node (an isocenter from the plan: the plan)."""
        fromPlan = p.isocenterSource == IsocenterSource.PLAN
        if fromPlan and p.planNode is None:
            raise IGRTInputError("isocenter from the plan: select an RT plan (or choose another source)")
        return self.process(
            p.planningVolume,
            p.dailyVolume,
            method=p.method.value,
            planNode=p.planNode if fromPlan else None,
            planningIsocenterLps=None
            if fromPlan
            else self.planningIsocenterLps(
                p.isocenterSource.value, None, p.isocenterMarkups, p.planningVolume
            ),
            dailyIsocenterLps=nodes.dailyIsocenterLps(p.dailyIsocenterMarkups, p.dailyVolume),
            clipBoxMm=(p.clipBoxSizeLR, p.clipBoxSizeAP, p.clipBoxSizeSI),
            outputTransform=p.outputTransform,
            resultTable=p.resultTable,
            progress=progress,
            planningStructures=p.planningStructures,
        )

    # Live numbers while the transform is moved by hand

    @contextlib.contextmanager
    def _writingTransform(self):
        """Context in which the Logic writes the transform itself (its events are not hand edits)."""
        self._publishing = True
        try:
            yield
        finally:
            self._publishing = False

    def _track(self, outputs, automaticResult) -> None:
        """Keep ``outputs`` and follow its transform node: hand edits re-derive the numbers."""
        self.outputs, self.automaticResult, self.comparisonStale = outputs, automaticResult, False
        self.followTransform(outputs.transform_node)

    def onTransformModified(self, caller=None, event=None) -> None:
        """Observer of the output transform: a hand edit re-derives the numbers at once."""
        if not self._publishing and self.outputs is not None:
            self.updateNumbersFromTransform()

    def updateNumbersFromTransform(self):
        """Result and table (displacement and couch rows) from the transform as it is now; fast.

        The checkerboard and difference volumes are left for :meth:`updateFromTransform` or the next
        :meth:`showComparison` (``comparisonStale``). A transform that is no longer rigid withdraws the
        numbers (``IGRTModuleLib.logic.withdrawTable``) instead of showing stale ones.
        """
        if self.outputs is None:
            raise IGRTInputError("run the match first")
        table = self.outputs.table_node
        try:
            result = transforms.edited_result(self.automaticResult, self.outputs.transform_node)
        except IGRTInputError as exc:
            logic.withdrawTable(table, str(exc))
            self.notifyResultChanged(str(exc))
            return self.outputs
        table.RemoveAttribute(logic.ATTR_PROBLEM)
        tables.update_table_node(table, result.to_dict())
        self.outputs = dataclasses.replace(self.outputs, result=result)
        self.comparisonStale = True
        self.notifyResultChanged()
        return self.outputs

    def updateFromTransform(self):
        """Re-derive everything after the transform was moved by hand, comparison volumes included."""
        if self.outputs is None:
            raise IGRTInputError("run the match first")
        planningVolume, dailyVolume = self._inputs
        automatic = dataclasses.replace(self.outputs, result=self.automaticResult)
        with self._writingTransform():
            outputs = daily_match.refresh_from_transform(
                planningVolume.GetScene(), automatic, planningVolume, dailyVolume
            )
        self._track(outputs, self.automaticResult)
        return self.outputs

    def showComparison(self, mode: str, opacity: float = 0.5) -> int:
        """Set the slice views to a comparison mode; returns the number of views set (0 without any)."""
        if self.outputs is None:
            raise IGRTInputError("run the match first")
        planningVolume, dailyVolume = self._inputs
        if self.comparisonStale and mode in self.COMPUTED_MODES:
            self.updateFromTransform()
        return comparison.show(
            planningVolume.GetScene(),
            mode,
            planningVolume,
            dailyVolume,
            self.outputs.comparison_nodes,
            opacity,
        )

    @staticmethod
    def setInteractionHandles(transformNode, visible: bool) -> None:
        """Show rigid (no scaling) interaction handles on the result transform."""
        if transformNode is None:
            return
        if transformNode.GetDisplayNode() is None:
            transformNode.CreateDefaultDisplayNodes()
        display = transformNode.GetDisplayNode()
        if hasattr(display, "SetEditorScalingEnabled"):
            display.SetEditorScalingEnabled(False)
        display.SetEditorVisibility(bool(visible))

    @staticmethod
    def summary(result) -> str:
        """One line for the result label, with the sense in words."""
        from igrt.result import escalation

        t, r = result.translation_mm, result.rotation_deg
        flagged = escalation({"quality": result.quality})
        return (
            (f"{flagged['text']} ({'; '.join(flagged['reasons'])}) — " if flagged["escalate"] else "")
            + f"Patient is displaced (LPS, at the isocenter): x {t[0]:+.1f} mm (+ left), y {t[1]:+.1f} mm "
            f"(+ posterior), z {t[2]:+.1f} mm (+ superior); rotation {r[0]:+.1f}°, {r[1]:+.1f}°, {r[2]:+.1f}°"
        )


#
# IGRTDailyMatchTest
#


class IGRTDailyMatchTest(base.ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the Logic on the generator's tiny known-transform case."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_KnownTransformCase()
        self.setUp()
        self.test_BadInputIsRefused()

    def _ensureGeneratorPackages(self):
        """The known-transform generator needs packages Slicer does not bundle (scipy, itk-rtk)."""
        requirements.ensure(["scipy", "itk-rtk"], "The self-test's known-transform generator")

    def _loadVolume(self, path, name):
        from igrt.io.volumes import read_volume

        if os.path.isfile(str(path)):  # through Slicer's own reader: checks our LPS/RAS boundary too
            return slicer.util.loadVolume(str(path), {"name": name, "show": False})
        return volumes.node_from_volume(slicer.mrmlScene, read_volume(str(path)), name)

    def test_KnownTransformCase(self):
        import numpy as np

        from igrt import geometry
        from igrt.synth.cases import tiny_case

        self._ensureGeneratorPackages()
        self.delayDisplay("Generating the tiny known-transform case")
        case = tiny_case()
        planning = self._loadVolume(case.planning_path, "planning")
        daily = self._loadVolume(case.daily_path, "daily")
        logic = IGRTDailyMatchLogic()
        outputs = logic.process(
            planning,
            daily,
            method="auto",
            planningIsocenterLps=case.planning_isocenter_lps,
            dailyIsocenterLps=case.daily_isocenter_lps,
        )
        expected = geometry.displacement_at(case.matrix_lps, case.planning_isocenter_lps)
        got = outputs.result.translation_mm
        self.assertLess(float(np.max(np.abs(got - expected))), 1.0, f"translation {got} vs truth {expected}")
        rotErr = outputs.result.matrix_lps[:3, :3].T @ np.asarray(case.matrix_lps)[:3, :3]
        self.assertLess(float(np.max(np.abs(geometry.angles_xyz_deg(rotErr)))), 0.5)
        self.assertEqual(daily.GetTransformNodeID(), outputs.transform_node.GetID())
        self.assertEqual(outputs.transform_node.GetNodeReferenceID(transforms.moving_role()), daily.GetID())
        self.assertEqual(outputs.transform_node.GetNodeReferenceID(transforms.fixed_role()), planning.GetID())
        self.assertGreater(outputs.table_node.GetNumberOfRows(), 5)
        self.assertGreaterEqual(logic.showComparison("checkerboard"), 1)
        self.delayDisplay("Known-transform case passed")
        # Moved by hand (what the interaction handles do: a new to-parent matrix, here 10 mm further
        # right in RAS): the result and its table follow without a button (hand-worked numbers: the
        # headless test Testing/modules/test_live_numbers.py).
        before = float(outputs.result.translation_mm[0])
        moved = vtk.vtkMatrix4x4()
        outputs.transform_node.GetMatrixTransformToParent(moved)
        moved.SetElement(0, 3, moved.GetElement(0, 3) + 10.0)
        outputs.transform_node.SetMatrixTransformToParent(moved)
        after = float(logic.outputs.result.translation_mm[0])
        self.assertGreater(abs(after - before), 5.0)
        table = logic.outputs.table_node.GetTable()
        shown = {
            table.GetValue(i, 0).ToString(): table.GetValue(i, 1).ToDouble()
            for i in range(table.GetNumberOfRows())
        }
        self.assertAlmostEqual(shown["translation x (+ = towards patient left)"], round(after, 2), places=6)
        self.delayDisplay("Hand-moved transform: the table follows")

    def test_BadInputIsRefused(self):
        logic = IGRTDailyMatchLogic()
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
        with self.assertRaises(IGRTInputError):
            logic.process(node, None)
        with self.assertRaises(IGRTInputError):
            logic.process(node, node)
        self.delayDisplay("Bad input refused")
