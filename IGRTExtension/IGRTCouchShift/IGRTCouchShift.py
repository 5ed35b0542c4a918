"""IGRT Couch Shift: the daily match turned into the IEC 61217 couch correction, with verdict and export.

The Logic reads the match transform (``igrt.mrml.couch``), computes the couch correction with the
verdict (``igrt.couch``) and recomputes it whenever the transform moves. Template plumbing: ``IGRTModuleLib``.
"""

import logging
import os
import sys
import typing
from dataclasses import dataclass
from typing import Annotated

import slicer
import vtk

try:
    import IGRTModuleLib  # noqa: F401  (installed next to this file, with the igrt core)
except ImportError:  # source tree: the shared base and the igrt core are in IGRTExtension/
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from IGRTCouchShiftLib import shiftreport
from IGRTModuleLib import base, logic, nodes
from IGRTModuleLib.choices import (
    DISPLAY_PROFILES,
    FROM_RESULT,
    TOLERANCE_PROFILES,
    CouchModel,
    PatientOrientation,
    choiceEnum,
)
from IGRTModuleLib.widget import IGRTModuleWidget

from igrt import patient_position
from igrt.errors import IGRTInputError
from igrt.mrml import couch as couchnodes

IN_SLICER_APP = base.IN_SLICER_APP  # read by CI and the tests

HELP_TEXT = """
Couch shift of image-guided radiotherapy: turns the daily match (the transform made by IGRT Daily Match)
into the couch correction in IEC 61217 table-top coordinates, for the patient orientation and the couch
that exists (6, 4 or 3 degrees of freedom, rotation limits), with the residual error at the isocenter,
at a target point (a segment's centroid or the plan isocenter) and the largest over the target
structure, and a verdict from the tolerance and action levels.
<br><br>Conventions: millimetres and degrees. Couch translations are the motion of the point at the
isocenter; every row says in words whether a number is "couch moves" or "patient is displaced".
Display profiles only relabel or negate; they never change the computed motion.
Exports: DICOM Spatial Registration (REG) and a report (HTML, or JSON when the name ends in .json).
"""


#
# IGRTCouchShift
#


class IGRTCouchShift(base.IGRTModule):
    """Module description shown in Slicer's module selector and help panel."""

    TITLE = "Couch Shift"
    HELP_TEXT = HELP_TEXT


#
# IGRTCouchShiftParameterNode
#

TargetSource = choiceEnum(
    "TargetSource",
    ("isocenter", "segment", "plan"),
    labels={
        "isocenter": "Isocenter of the match",
        "segment": "Centroid of a segment",
        "plan": "RT plan isocenter",
    },
)


@base.parameterNodeWrapper
class IGRTCouchShiftParameterNode:
    """Everything the user chooses, saved with the scene.

    matchTransform - the IGRT match transform (IGRT Daily Match output; hand edits included).
    orientation - patient position; "auto" reads it from the planning image (HFS when not recorded).
    couchModel, limitRotation, maxRotationDeg - the couch that exists.
    targetSource - where the error is made zero: the match isocenter, a segment centroid, the plan isocenter.
    planNode - SlicerRT plan (its isocenter). targetSegmentation, targetSegmentID - planning segmentation and
      segment: its centroid (target "segment") and the largest residual over it (whenever one is selected).
    toleranceProfile, displayProfile - verdict levels and how the numbers are labelled.
    outputTable - the shift table.
    """

    matchTransform: slicer.vtkMRMLLinearTransformNode
    orientation: PatientOrientation = PatientOrientation.FROM_RESULT
    couchModel: CouchModel = CouchModel.SIX_DOF
    limitRotation: bool = False
    maxRotationDeg: Annotated[float, base.WithinRange(0.0, 180.0)] = 3.0
    targetSource: TargetSource = TargetSource.ISOCENTER
    planNode: slicer.vtkMRMLNode
    targetSegmentation: slicer.vtkMRMLSegmentationNode
    targetSegmentID: str = ""
    toleranceProfile: Annotated[str, base.Choice(TOLERANCE_PROFILES)] = TOLERANCE_PROFILES[0]
    displayProfile: Annotated[str, base.Choice(DISPLAY_PROFILES)] = DISPLAY_PROFILES[0]
    outputTable: slicer.vtkMRMLTableNode


if base.IN_SLICER_APP:

    @base.parameterNodeGuiConnector
    class SegmentSelectorToSegmentIDConnector(base.GuiConnector):
        """qMRMLSegmentSelectorWidget ↔ str parameter (the segment ID); Slicer has no such connector."""

        @staticmethod
        def canRepresent(widget, datatype) -> bool:
            base = typing.get_args(datatype)[0] if typing.get_origin(datatype) is Annotated else datatype
            return type(widget) == slicer.qMRMLSegmentSelectorWidget and base is str  # noqa: E721

        @staticmethod
        def create(widget, datatype):
            if SegmentSelectorToSegmentIDConnector.canRepresent(widget, datatype):
                return SegmentSelectorToSegmentIDConnector(widget)
            return None

        def __init__(self, widget):
            super().__init__()
            self._widget = widget

        def _connect(self):
            self._widget.connect("currentSegmentChanged(QString)", self.changed)

        def _disconnect(self):
            self._widget.disconnect("currentSegmentChanged(QString)", self.changed)

        def widget(self):
            return self._widget

        def read(self) -> str:
            return self._widget.currentSegmentID() or ""

        def write(self, value: str) -> None:
            self._widget.setCurrentSegmentID(value or "")


#
# IGRTCouchShiftWidget
#


class IGRTCouchShiftWidget(IGRTModuleWidget):
    """Thin GUI: Apply, verdict label (live while the match transform moves), export buttons."""

    VERDICT_COLORS = {"within tolerance": "#1b7f1b", "apply shift": "#b36b00", "escalate": "#b00020"}

    def setupWidgets(self) -> None:
        self.ui.targetSegmentSelector.setSegmentationNodeSelectorVisible(False)  # the combo box above
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.exportRegButton.connect("clicked(bool)", self.onExportReg)
        self.ui.exportReportButton.connect("clicked(bool)", self.onExportReport)
        self.logic.resultChanged = self._onLiveResult

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        p = self._parameterNode
        if not p:
            return
        if self.ui.targetSegmentSelector.currentNode() != p.targetSegmentation:
            self.ui.targetSegmentSelector.setCurrentNode(p.targetSegmentation)
        self.ui.maxRotationSpinBox.enabled = p.limitRotation and p.couchModel != CouchModel.THREE_DOF
        ready = p.matchTransform is not None
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = (
            "Compute the couch shift" if ready else "Select the IGRT match transform"
        )
        self.ui.exportRegButton.enabled = self.logic.outputs is not None
        self.ui.exportReportButton.enabled = self.logic.outputs is not None

    def onApplyButton(self) -> None:
        outputs = self.guarded(self.logic.processParameterNode, self._parameterNode)
        if outputs is None:
            return
        self._parameterNode.outputTable = outputs.table_node
        self.ui.shiftTableView.setMRMLTableNode(outputs.table_node)
        self._showVerdict(outputs)
        self.onParameterNodeModified()

    def _onLiveResult(self, outputs, problem) -> None:
        """The match transform moved: the table already holds the new shift; verdict and summary follow."""
        if problem:
            self.ui.verdictLabel.text = "no shift"
            self.ui.verdictLabel.styleSheet = "font-size: 20pt; font-weight: bold; color: #b00020;"
            self.ui.summaryLabel.text = problem
        else:
            self._showVerdict(outputs)
        self.onParameterNodeModified()  # exports follow: none while the numbers are withdrawn

    def _showVerdict(self, outputs) -> None:
        verdict = outputs.shift["verdict"]
        color = next((c for key, c in self.VERDICT_COLORS.items() if verdict.lower().startswith(key)), "#444")
        self.ui.verdictLabel.text = verdict
        self.ui.verdictLabel.styleSheet = f"font-size: 20pt; font-weight: bold; color: {color};"
        self.ui.summaryLabel.text = IGRTCouchShiftLogic.summary(outputs)

    def _askPath(self, title, fileFilter, suffix) -> str:
        path = base.qt.QFileDialog.getSaveFileName(
            slicer.util.mainWindow(), title, f"couch_shift{suffix}", fileFilter
        )
        return path or ""

    def onExportReg(self) -> None:
        path = self._askPath("Export DICOM REG", "DICOM (*.dcm)", ".dcm")
        if path:
            self._export(self.logic.exportReg, path)

    def onExportReport(self) -> None:
        path = self._askPath("Export report", "HTML (*.html);;JSON (*.json)", ".html")
        if path:
            self._export(self.logic.exportReport, path)

    def _export(self, function, path) -> None:
        written = self.guarded(function, path)
        if written is not None:
            slicer.util.showStatusMessage(f"Written {written}", 5000)


#
# IGRTCouchShiftLogic
#


@dataclass
class CouchShiftOutputs:
    """What one run computed and left in the scene (the table node is reused by the next run)."""

    result: dict  # registration result read from the transform (igrt.mrml.couch.result_from_transform_node)
    shift: (
        dict  # igrt.couch.correction.couch_correction + verdict, residual over the target, orientation source
    )
    rows: list  # the table rows (axis, value, unit, sense)
    table_node: object


class IGRTCouchShiftLogic(logic.IGRTModuleLogic):
    """The couch shift on MRML nodes, without the GUI (Python console, batch scripts, tests).

    Work is delegated to ``igrt.mrml.couch`` (adapters) and ``igrt.couch.correction.couch_correction`` (core);
    REG export to ``igrt.io.reg.write_reg`` (imported when used).
    """

    PARAMETER_NODE_CLASS = IGRTCouchShiftParameterNode

    def __init__(self) -> None:
        logic.IGRTModuleLogic.__init__(self)
        self._settings = None  # keyword arguments of the last process(), reused while following

    @staticmethod
    def planIsocenterLps(planNode):
        """Isocenter (LPS) of a SlicerRT plan node."""
        return nodes.planIsocenterLps(planNode, "target at the plan isocenter")

    def readResult(self, transformNode, planNode=None) -> dict:
        """The registration result held by the match transform, with DICOM identities where known."""
        planIso = None
        if planNode is not None and transformNode is not None:
            if transformNode.GetAttribute("IGRT.PlanningIsocenterLPS") is None:
                planIso = self.planIsocenterLps(planNode)
        result = couchnodes.result_from_transform_node(transformNode, planning_isocenter_lps=planIso)
        scene = transformNode.GetScene()
        for role in ("planning", "daily"):
            node = scene.GetNodeByID(result[f"{role}_node_id"] or "") if scene is not None else None
            result["inputs"][role].update(self.dicomIdentity(node))
        if not result["orientation"] and result["inputs"]["planning"].get("patient_position"):
            result["orientation"] = result["inputs"]["planning"]["patient_position"].upper()
        return result

    #: How the module says where the orientation came from (the rule itself is the core's,
    #: igrt.patient_position.resolve, applied by the couch shift workflow).
    ORIENTATION_SOURCES = {
        "given": "chosen by the user",
        "result": "from the planning image",
        "assumed": f"assumed {patient_position.DEFAULT}: not recorded on the planning image (as the daily match does)",
    }

    def target(self, source: str, result: dict, planNode=None, segmentationNode=None, segmentID=""):
        """(target point LPS or None, LPS points of the target structure or None, description)."""
        points = None
        if segmentationNode is not None and segmentID:
            points = couchnodes.segment_points_lps(segmentationNode, segmentID)
        if source == TargetSource.SEGMENT.value:
            if segmentationNode is None or not segmentID:
                raise IGRTInputError("target at a segment centroid: select the segmentation and the segment")
            centroid = couchnodes.segment_centroid_lps(segmentationNode, segmentID)
            name = (
                segmentationNode.GetSegmentation()
                .GetSegment(couchnodes.find_segment_id(segmentationNode, segmentID))
                .GetName()
            )
            return centroid, points, f"centroid of segment {name!r}, LPS {_xyz(centroid)} mm"
        if source == TargetSource.PLAN.value:
            iso = self.planIsocenterLps(planNode)
            return iso, points, f"isocenter of plan {planNode.GetName()!r}, LPS {_xyz(iso)} mm"
        return None, points, "the isocenter of the match"

    def process(
        self,
        transformNode,
        couchModel: str = "6dof",
        maxRotationDeg=None,
        orientation: str = "auto",
        targetSource: str = "isocenter",
        planNode=None,
        segmentationNode=None,
        segmentID: str = "",
        toleranceProfile=None,
        displayProfile=None,
        outputTable=None,
    ) -> CouchShiftOutputs:
        """Compute the couch shift of the match transform and write it into the table node."""
        if transformNode is None:
            raise IGRTInputError("select the IGRT match transform")
        result = self.readResult(transformNode, planNode)
        targetLps, points, description = self.target(
            targetSource, result, planNode, segmentationNode, segmentID
        )
        shift = couchnodes.evaluate_shift(
            result,
            None if orientation in (None, "", FROM_RESULT) else orientation,
            couch_model=couchModel,
            max_rotation_deg=maxRotationDeg,
            target_lps=targetLps,
            target_points_lps=points,
            tolerance_profile=toleranceProfile,
        )
        shift["orientation_source"] = self.ORIENTATION_SOURCES[shift["orientation_source"]]
        shift["target_description"] = description
        shift["display_profile"] = displayProfile
        scene = transformNode.GetScene()
        table = couchnodes.shift_table_node(scene, shift, displayProfile, node=outputTable)
        self.outputs = CouchShiftOutputs(result, shift, couchnodes.read_table(table), table)
        logging.info(f"IGRT couch shift: {self.summary(self.outputs)}")
        settings = dict(
            couchModel=couchModel,
            maxRotationDeg=maxRotationDeg,
            orientation=orientation,
            targetSource=targetSource,
            planNode=planNode,
            segmentationNode=segmentationNode,
            segmentID=segmentID,
            toleranceProfile=toleranceProfile,
            displayProfile=displayProfile,
            outputTable=table,
        )
        self._settings = settings
        self.followTransform(transformNode)
        return self.outputs

    def onTransformModified(self, caller=None, event=None) -> None:
        """The match transform moved: the same shift again, with the last settings, at once.

        A transform that can no longer be read (e.g. scaled by hand) withdraws the numbers
        (``IGRTModuleLib.logic.withdrawTable``) and leaves nothing to export.
        """
        table = self._settings["outputTable"]
        try:
            self.process(self.followedTransform, **self._settings)
        except IGRTInputError as exc:
            logic.withdrawTable(table, str(exc))
            self.outputs = None
            self.notifyResultChanged(str(exc))
            return
        table.RemoveAttribute(logic.ATTR_PROBLEM)
        self.notifyResultChanged()

    def processParameterNode(self, p) -> CouchShiftOutputs:
        """``process`` with the choices stored in a parameter node."""
        limited = p.limitRotation and p.couchModel != CouchModel.THREE_DOF
        return self.process(
            p.matchTransform,
            couchModel=p.couchModel.value,
            maxRotationDeg=p.maxRotationDeg if limited else None,
            orientation=p.orientation.value,
            targetSource=p.targetSource.value,
            planNode=p.planNode,
            segmentationNode=p.targetSegmentation,
            segmentID=p.targetSegmentID,
            toleranceProfile=p.toleranceProfile,
            displayProfile=p.displayProfile,
            outputTable=p.outputTable,
        )

    def _last(self, outputs):
        outputs = outputs or self.outputs
        if outputs is None:
            raise IGRTInputError("compute the couch shift first")
        return outputs

    def exportReg(self, path, outputs=None) -> str:
        """Write the registration as DICOM Spatial Registration (``igrt.io.reg.write_reg``)."""
        outputs = self._last(outputs)
        try:
            from igrt.io import reg
        except ImportError as exc:
            raise IGRTInputError(
                "REG export is not available: igrt.io.reg is missing from this build"
            ) from exc
        result = {**outputs.result, "orientation": outputs.shift["orientation"], "couch": outputs.shift}
        reg.write_reg(
            result,
            path,
            planning_identity=outputs.result["inputs"].get("planning") or None,
            daily_identity=outputs.result["inputs"].get("daily") or None,
        )
        return str(path)

    def exportReport(self, path, outputs=None) -> str:
        """Write the shift report: HTML, or JSON when the name ends in .json."""
        outputs = self._last(outputs)
        return str(shiftreport.write_report(path, outputs.result, outputs.shift, outputs.rows))

    @staticmethod
    def summary(outputs) -> str:
        """One line under the verdict: the couch translation and the residual at the target, with sense."""
        s = outputs.shift
        parts = [f"{label} {value:+.1f} {unit}" for label, value, unit, _ in outputs.rows[:3]]
        return (
            (f"{s['escalate_text']} — " if s.get("escalate") else "")
            + f"{s['orientation']} {s['couch']}: "
            + ", ".join(parts)
            + f" ({outputs.rows[0][3]}); "
            f"residual at target {s['residual_at_target_mm']:.1f} mm"
            + (
                f", largest over the structure {s['residual_max_over_target_mm']:.1f} mm"
                if s.get("residual_max_over_target_mm") is not None
                else ""
            )
        )


def _xyz(point) -> str:
    return "(" + ", ".join(f"{float(v):.1f}" for v in point) + ")"


#
# IGRTCouchShiftTest
#


class IGRTCouchShiftTest(base.ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the Logic on hand-worked displacements (no images needed)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_PatientLeftIsCouchRight()
        self.setUp()
        self.test_LimitedCouchWithSegmentTarget()
        self.setUp()
        self.test_BadInputIsRefused()

    def _matchTransform(self, matrixLps, isocenterLps, orientation="HFS"):
        from igrt.mrml import transforms

        planning = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "planning")
        daily = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "daily")
        planning.SetAttribute("IGRT.PatientPosition", orientation)
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "IGRT match")
        transforms.update_transform_node(node, matrixLps, planning, daily, isocenterLps, isocenterLps)
        return node

    def test_PatientLeftIsCouchRight(self):
        import numpy as np

        # The patient lies 5 mm to their left (LPS +x). HFS: IEC lateral Xt = patient left, so the couch
        # moves 5 mm towards the patient's right: lateral −5 mm, "couch moves".
        node = self._matchTransform(
            np.array([[1, 0, 0, 5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]), (0, 0, 0)
        )
        out = IGRTCouchShiftLogic().process(node)
        self.assertEqual(out.rows[0][0], "lateral")
        self.assertAlmostEqual(out.rows[0][1], -5.0, places=6)
        self.assertEqual(out.rows[0][3], "couch moves")
        self.assertEqual(out.shift["orientation"], "HFS")
        self.delayDisplay("Patient 5 mm left, HFS: couch lateral -5 mm")

    def test_LimitedCouchWithSegmentTarget(self):

        from igrt import geometry

        # Rotation of 90° about LPS z at the isocenter (0,0,0); 3-DOF couch; target LPS (10, 0, 0).
        # The target went to (0, 10, 0): the couch translates by (10, −10, 0) LPS, the error at the target is
        # zero and at the isocenter |(10, −10, 0)| = 14.14 mm. HFS: lateral +10, vertical = −y = +10.
        matrix = geometry.rigid_matrix(geometry.rotation_xyz_deg(0, 0, 90))
        node = self._matchTransform(matrix, (0, 0, 0))
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "planning structures")
        segmentation.GetSegmentation().SetSourceRepresentationName("Closed surface")
        sphere = vtk.vtkSphereSource()
        sphere.SetCenter(-10, 0, 0)  # RAS of LPS (10, 0, 0)
        sphere.SetRadius(3)
        sphere.SetThetaResolution(32)
        sphere.SetPhiResolution(33)  # 32 intervals: a ring of vertices on the equator
        sphere.Update()
        segmentation.AddSegmentFromClosedSurfaceRepresentation(sphere.GetOutput(), "PTV", [1, 0, 0])
        out = IGRTCouchShiftLogic().process(
            node, couchModel="3dof", targetSource="segment", segmentationNode=segmentation, segmentID="PTV"
        )
        self.assertAlmostEqual(out.shift["lateral_mm"], 10.0, places=3)
        self.assertAlmostEqual(out.shift["vertical_mm"], 10.0, places=3)
        self.assertAlmostEqual(out.shift["residual_at_isocenter_mm"], 200**0.5, places=3)
        self.assertLess(out.shift["residual_at_target_mm"], 1e-3)
        # A 3 mm sphere about the target turned by 90°: the largest residual is 3·√2 = 4.24 mm.
        self.assertAlmostEqual(out.shift["residual_max_over_target_mm"], 3 * 2**0.5, places=2)
        self.delayDisplay("3-DOF couch, segment target: residuals as worked by hand")

    def test_BadInputIsRefused(self):
        logic = IGRTCouchShiftLogic()
        with self.assertRaises(IGRTInputError):
            logic.process(None)
        bare = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
        with self.assertRaises(IGRTInputError):
            logic.process(bare)  # no isocenter recorded and no plan
        with self.assertRaises(IGRTInputError):
            logic.exportReport("never.html")  # nothing computed yet
        self.delayDisplay("Bad input refused")
