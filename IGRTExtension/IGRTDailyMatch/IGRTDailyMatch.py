"""IGRT Daily Match: planning CT ↔ daily image (CBCT/CT) rigid match in Slicer, on the igrt core.

Template structure of Slicer's scripted modules (module, parameter node, widget, logic, test). The
widget is thin; the Logic is thin over ``igrt.mrml`` (MRML adapters) and ``igrt.registration.match.run_match``, and
runs without the GUI. Under the ``slicer-core`` wheel (MRML without Qt) the GUI base classes are
replaced by stand-ins so that the Logic can still be imported and tested.
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
    vtkMRMLNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLTableNode,
)

from igrt.errors import IGRTInputError
from igrt.mrml import comparison, daily_match, transforms, volumes
from igrt.registration.match import MatchFailedError, MatchOptions

#: SlicerRT's plan node class (Beams module); the plan selector lists only these.
PLAN_NODE_CLASS = "vtkMRMLRTPlanNode"

HELP_TEXT = """
Daily match of image-guided radiotherapy: aligns the daily image (CBCT or CT) to the planning CT at the
treatment isocenter, then runs an automatic rigid 6-DOF match (bone inside a clip box around the
isocenter, then soft tissue), shows fusion / checkerboard / difference / flicker, and reports the
displacement and the IEC 61217 couch correction.
<br><br>Conventions: millimetres and degrees. The result matrix is in DICOM LPS of the planning frame
and maps the planned anatomy to where it is in the daily image ("patient is displaced").
The output transform is applied to the daily volume and brings it onto the planning volume; it refers
to the daily (moving) and planning (fixed) volumes so SlicerRT can export it as DICOM REG.
Couch numbers say "couch moves". Adjust the transform by hand with its interaction handles and press
"Update result from transform" to re-derive the numbers.
"""


#
# IGRTDailyMatch
#


class IGRTDailyMatch(ScriptedLoadableModule):
    """Module description shown in Slicer's module selector and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "IGRT Daily Match"
        self.parent.categories = ["IGRT"]
        self.parent.dependencies = []  # SlicerRT is an extension dependency; plan nodes are optional.
        self.parent.contributors = ["IGRTExtension developers"]
        self.parent.helpText = HELP_TEXT
        self.parent.acknowledgementText = (
            "Built on 3D Slicer and SlicerRT. Uses SimpleITK for registration and the igrt core library."
        )


#
# IGRTDailyMatchParameterNode
#


class MatchMethod(enum.Enum):
    AUTO = "auto"
    BONE = "bone"
    SOFT = "soft"

    def label(self):
        return {"auto": "Auto (bone, then soft tissue)", "bone": "Bone", "soft": "Soft tissue"}[self.value]


class IsocenterSource(enum.Enum):
    PLAN = "plan"
    MARKUPS = "markups"
    IMAGE_CENTER = "imageCenter"

    def label(self):
        return {"plan": "RT plan", "markups": "Markups point", "imageCenter": "Planning image center"}[
            self.value
        ]


class ComparisonMode(enum.Enum):
    FUSION = "fusion"
    CHECKERBOARD = "checkerboard"
    DIFFERENCE = "difference"
    FLICKER = "flicker"

    def label(self):
        return self.value.capitalize()


@parameterNodeWrapper
class IGRTDailyMatchParameterNode:
    """Everything the user chooses, saved with the scene.

    planningVolume, dailyVolume - the planning CT and the daily image.
    planNode - optional SlicerRT plan (vtkMRMLRTPlanNode): source of the planning isocenter.
    isocenterSource - plan, a markups point (typed or placed: the explicit way), or the image center.
    isocenterMarkups - planning isocenter point; dailyIsocenterMarkups - daily treatment isocenter
      (optional: same coordinates in a shared frame, else the daily image center).
    method - auto / bone / soft. clipBoxSize* - clip box edge lengths (mm) around the isocenter.
    outputTransform, resultTable - outputs. comparisonMode, fusionOpacity, flickerIntervalMs - display.
    """

    planningVolume: vtkMRMLScalarVolumeNode
    dailyVolume: vtkMRMLScalarVolumeNode
    planNode: vtkMRMLNode
    isocenterSource: IsocenterSource = IsocenterSource.PLAN
    isocenterMarkups: vtkMRMLMarkupsFiducialNode
    dailyIsocenterMarkups: vtkMRMLMarkupsFiducialNode
    method: MatchMethod = MatchMethod.AUTO
    clipBoxSizeLR: Annotated[float, WithinRange(20.0, 500.0)] = 180.0
    clipBoxSizeAP: Annotated[float, WithinRange(20.0, 500.0)] = 160.0
    clipBoxSizeSI: Annotated[float, WithinRange(20.0, 500.0)] = 140.0
    outputTransform: vtkMRMLLinearTransformNode
    resultTable: vtkMRMLTableNode
    comparisonMode: ComparisonMode = ComparisonMode.FUSION
    fusionOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    flickerIntervalMs: Annotated[int, WithinRange(100, 3000)] = 500


#
# IGRTDailyMatchWidget
#


class IGRTDailyMatchWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Thin GUI: .ui file, parameter node connection, Apply, progress, errors, flicker timer."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._flickerTimer = None
        self._flickerPhase = False
        self._shownComparison = None  # (mode, opacity, interval) last applied to the views

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IGRTDailyMatch.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IGRTDailyMatchLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.updateFromTransformButton.connect("clicked(bool)", self.onUpdateFromTransform)
        self.ui.adjustHandlesCheckBox.connect("toggled(bool)", self.onAdjustHandles)
        self._flickerTimer = qt.QTimer()
        self._flickerTimer.connect("timeout()", self.onFlickerTimeout)
        self.ui.progressBar.hide()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self._stopFlicker()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self._stopFlicker()
        self._shownComparison = None  # re-applied (flicker restarted) when the module is entered again
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets carry a "SlicerParameterName" dynamic property in the .ui file.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            # connectGui sets nodeTypes from the annotation (vtkMRMLNode, so that the module loads
            # without SlicerRT's classes); show only SlicerRT plans again.
            self.ui.planSelector.nodeTypes = [PLAN_NODE_CLASS]
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        """Parameter node modified: enable buttons, and follow comparison choices once a result exists.

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
            with slicer.util.WaitCursor():
                outputs = self.logic.processParameterNode(self._parameterNode, progress=self._progress)
        except (IGRTInputError, MatchFailedError) as exc:
            slicer.util.errorDisplay(str(exc), windowTitle="IGRT Daily Match")
            return
        finally:
            self.ui.progressBar.hide()
        self._showResult(outputs)

    def onUpdateFromTransform(self) -> None:
        try:
            outputs = self.logic.updateFromTransform()
        except IGRTInputError as exc:
            slicer.util.errorDisplay(str(exc), windowTitle="IGRT Daily Match")
            return
        self._showResult(outputs)

    def onAdjustHandles(self, visible: bool) -> None:
        self.logic.setInteractionHandles(self._parameterNode.outputTransform, visible)

    def _showResult(self, outputs) -> None:
        self._parameterNode.outputTransform = outputs.transform_node
        self._parameterNode.resultTable = outputs.table_node
        self.ui.resultTableView.setMRMLTableNode(outputs.table_node)
        self.ui.resultLabel.text = IGRTDailyMatchLogic.summary(outputs.result)
        self._shownComparison = None
        self._checkCanApply()

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


class IGRTDailyMatchLogic(ScriptedLoadableModuleLogic):
    """The daily match on MRML nodes, without the GUI (Python console, batch scripts, tests).

    Work is delegated to ``igrt.mrml.daily_match`` (adapters) and ``igrt.registration.match.run_match`` (core).
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.outputs = None  # igrt.mrml.daily_match.DailyMatchOutputs of the last run
        self._inputs = (None, None)

    def getParameterNode(self):
        return IGRTDailyMatchParameterNode(super().getParameterNode())

    #: Volume identity fields and their DICOM tags (PS3.3: Patient, General Series, Frame of Reference).
    DICOM_IDENTITY_TAGS = {
        "patient_id": "0010,0020",
        "modality": "0008,0060",
        "study_uid": "0020,000D",
        "series_uid": "0020,000E",
        "frame_of_reference_uid": "0020,0052",
        "patient_position": "0018,5100",
    }

    @classmethod
    def dicomIdentity(cls, volumeNode) -> dict:
        """Identity of a volume loaded from Slicer's DICOM database (empty otherwise, e.g. slicer-core)."""
        uids = volumeNode.GetAttribute("DICOM.instanceUIDs") if volumeNode is not None else None
        database = getattr(slicer, "dicomDatabase", None)
        if not uids or database is None:
            return {}
        fileName = database.fileForInstance(uids.split()[0])
        if not fileName:
            return {}
        values = {key: database.fileValue(fileName, tag) for key, tag in cls.DICOM_IDENTITY_TAGS.items()}
        return {key: value.strip() for key, value in values.items() if value and value.strip()}

    @staticmethod
    def planningIsocenterLps(source: str, planNode=None, markupsNode=None, planningVolume=None):
        """Planning isocenter (LPS) from the plan or a markups point; None = planning image center."""
        if source == IsocenterSource.PLAN.value:
            if planNode is None:
                raise IGRTInputError("isocenter from the plan: select an RT plan (or choose another source)")
            return daily_match.isocenter_lps_from_plan(planNode)
        if source == IsocenterSource.MARKUPS.value:
            return daily_match.point_lps_from_markups(markupsNode, volume_node=planningVolume)
        return None

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
    ):
        """Run the match and write the transform (applied to the daily volume), table and comparison."""
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
        self.outputs = daily_match.run(
            scene,
            planningVolume,
            dailyVolume,
            options,
            transform_node=outputTransform,
            table_node=resultTable,
            comparison_nodes=reuse.comparison_nodes if reuse else None,
            progress=progress,
            **identities,
        )
        self._inputs = (planningVolume, dailyVolume)
        logging.info(f"IGRT daily match: {self.summary(self.outputs.result)}")
        return self.outputs

    def processParameterNode(self, p, progress=None):
        """``process`` with the choices stored in a parameter node."""
        planningIso = self.planningIsocenterLps(
            p.isocenterSource.value, p.planNode, p.isocenterMarkups, p.planningVolume
        )
        dailyIso = None
        if p.dailyIsocenterMarkups is not None and p.dailyIsocenterMarkups.GetNumberOfControlPoints():
            dailyIso = daily_match.point_lps_from_markups(p.dailyIsocenterMarkups, volume_node=p.dailyVolume)
        return self.process(
            p.planningVolume,
            p.dailyVolume,
            method=p.method.value,
            planningIsocenterLps=planningIso,
            dailyIsocenterLps=dailyIso,
            clipBoxMm=(p.clipBoxSizeLR, p.clipBoxSizeAP, p.clipBoxSizeSI),
            outputTransform=p.outputTransform,
            resultTable=p.resultTable,
            progress=progress,
        )

    def updateFromTransform(self):
        """Re-derive the result after the transform was moved by hand (interaction handles)."""
        if self.outputs is None:
            raise IGRTInputError("run the match first")
        planningVolume, dailyVolume = self._inputs
        scene = planningVolume.GetScene()
        self.outputs = daily_match.refresh_from_transform(scene, self.outputs, planningVolume, dailyVolume)
        return self.outputs

    def showComparison(self, mode: str, opacity: float = 0.5) -> int:
        """Set the slice views to a comparison mode; returns the number of views (0 without the app)."""
        if self.outputs is None:
            raise IGRTInputError("run the match first")
        planningVolume, dailyVolume = self._inputs
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
        t, r = result.translation_mm, result.rotation_deg
        return (
            f"Patient is displaced (LPS, at the isocenter): x {t[0]:+.1f} mm (+ left), y {t[1]:+.1f} mm "
            f"(+ posterior), z {t[2]:+.1f} mm (+ superior); rotation {r[0]:+.1f}°, {r[1]:+.1f}°, {r[2]:+.1f}°"
        )


#
# IGRTDailyMatchTest
#


class IGRTDailyMatchTest(ScriptedLoadableModuleTest):
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
        try:
            import itk  # noqa: F401
            import scipy  # noqa: F401
        except ImportError:
            requirements = os.path.join(
                os.path.dirname(os.path.abspath(__file__)), "Resources", "IGRTDailyMatch-requirements.txt"
            )
            slicer.util.pip_install(["-r", requirements])

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

    def test_BadInputIsRefused(self):
        logic = IGRTDailyMatchLogic()
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
        with self.assertRaises(IGRTInputError):
            logic.process(node, None)
        with self.assertRaises(IGRTInputError):
            logic.process(node, node)
        self.delayDisplay("Bad input refused")
