"""IGRT Review: a study table's population statistics, offline protocols, a patient's shift history and the
population scatter as table and plot chart nodes; one fraction's images and match loaded from the study.

The numbers are the core review workflow's (``igrt.review.workflow.review``, the one ``igrt review``
and ``igrt study run`` call); the nodes are made by ``igrt.mrml.review``. Template plumbing:
``IGRTModuleLib``.
"""

import logging
import os
import pathlib
import sys
from typing import Annotated

import slicer

try:
    import IGRTModuleLib  # noqa: F401  (installed next to this file, with the igrt core)
except ImportError:  # source tree: the shared base and the igrt core are in IGRTExtension/
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from IGRTModuleLib import base, logic
from IGRTModuleLib.choices import choiceEnum
from IGRTModuleLib.widget import IGRTModuleWidget

from igrt.errors import IGRTInputError
from igrt.mrml import review as reviewnodes
from igrt.review.table import TRANSLATION_COLUMNS, read_shift_table
from igrt.review.workflow import review

IN_SLICER_APP = base.IN_SLICER_APP  # read by CI and the tests

HELP_TEXT = """
Review of a study: load a <code>study.csv</code> (from <code>igrt study run</code>) or any CSV with
<code>patient, fraction, lateral_mm, longitudinal_mm, vertical_mm</code> (couch corrections, IEC 61217
table top, couch moves). Shown: the population statistics per axis (group mean M, systematic Σ,
random σ, van Herk and Stroom margins), the offline protocols (none, NAL, eNAL, SAL, online) simulated
on the same fractions, a patient's set-up error per fraction and the population scatter. Every
plotted number is the set-up error, <b>patient is displaced</b> (= − the couch correction).
Rows whose status is not ok are left out and counted.
<br><br>Selecting a fraction of a study folder loads its planning and daily images and its match
transform (<code>fractions/&lt;patient&gt;/&lt;fraction&gt;/result.json</code>, next to the table).
"""

ScatterAxis = choiceEnum(
    "ScatterAxis", reviewnodes.AXES, labels={a: a.capitalize() for a in reviewnodes.AXES}
)


#
# IGRTReview
#


class IGRTReview(base.IGRTModule):
    """Module description shown in Slicer's module selector and help panel."""

    TITLE = "Review"
    HELP_TEXT = HELP_TEXT


#
# IGRTReviewParameterNode
#


@base.parameterNodeWrapper
class IGRTReviewParameterNode:
    """Everything the user chooses, saved with the scene.

    studyTable - the study.csv; nalFractions, enalPeriod, salAlphaMm, salNmax - protocol parameters
    (igrt.review.protocols); scatterX, scatterY - the axes of the population scatter.
    """

    studyTable: pathlib.Path
    nalFractions: Annotated[int, base.WithinRange(1, 40)] = 3
    enalPeriod: Annotated[int, base.WithinRange(1, 40)] = 5
    salAlphaMm: Annotated[float, base.WithinRange(0.1, 100.0)] = 9.0
    salNmax: Annotated[int, base.WithinRange(1, 40)] = 2
    scatterX: ScatterAxis = ScatterAxis.LATERAL
    scatterY: ScatterAxis = ScatterAxis.VERTICAL


#
# IGRTReviewWidget
#


class IGRTReviewWidget(IGRTModuleWidget):
    """Thin GUI: load the table, pick a patient (history chart) and a fraction (images and match)."""

    TITLE = "IGRT Review"

    def createLogic(self):
        return IGRTReviewLogic()

    def setupWidgets(self) -> None:
        self.ui.loadButton.connect("clicked(bool)", self.onLoadButton)
        self.ui.patientComboBox.connect("currentTextChanged(QString)", self.onPatientChanged)
        self.ui.loadFractionButton.connect("clicked(bool)", self.onLoadFractionButton)

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        p = self._parameterNode
        if not p:
            return
        self.ui.loadButton.enabled = pathlib.Path(p.studyTable).is_file()
        self.ui.loadFractionButton.enabled = bool(self.logic.outputs and self.ui.fractionComboBox.currentText)
        outputs = self.logic.outputs
        if outputs and outputs["scatterAxes"] != (p.scatterX.value, p.scatterY.value):
            self.guarded(self.logic.showScatter, p.scatterX.value, p.scatterY.value)

    def onLoadButton(self) -> None:
        outputs = self.guarded(self.logic.processParameterNode, self._parameterNode, slicer.mrmlScene)
        if outputs is None:
            return
        self.ui.statisticsTableView.setMRMLTableNode(outputs["statistics"])
        self.ui.protocolsTableView.setMRMLTableNode(outputs["protocols"])
        self.ui.summaryLabel.text = IGRTReviewLogic.summary(outputs)
        slicer.modules.plots.logic().ShowChartInLayout(outputs["scatter"]["chart"])
        self.ui.patientComboBox.clear()
        self.ui.patientComboBox.addItems(self.logic.patients())  # shows the first patient's history
        self.onParameterNodeModified()

    def onPatientChanged(self, patient) -> None:
        if not patient or not self.logic.outputs:
            return
        history = self.guarded(self.logic.showPatient, patient)
        if history is None:
            return
        self.ui.fractionComboBox.clear()
        self.ui.fractionComboBox.addItems(self.logic.fractions(patient))
        slicer.modules.plots.logic().ShowChartInLayout(history["chart"])
        self.onParameterNodeModified()

    def onLoadFractionButton(self) -> None:
        patient, fraction = self.ui.patientComboBox.currentText, self.ui.fractionComboBox.currentText
        loaded = self.guarded(self.logic.loadFraction, patient, fraction)
        if loaded is None:
            return
        slicer.util.setSliceViewerLayers(
            background=loaded["daily"], foreground=loaded["planning"], foregroundOpacity=0.5, fit=True
        )
        self.ui.fractionLabel.text = IGRTReviewLogic.fractionSummary(patient, fraction, loaded)


#
# IGRTReviewLogic
#


class IGRTReviewLogic(logic.IGRTModuleLogic):
    """The study review on MRML nodes, without the GUI (console, batch, tests).

    ``outputs`` after :meth:`loadStudy`: ``path``, ``table`` (the ShiftTable), ``stats`` (STATS.json
    document), ``statistics`` and ``protocols`` (table nodes), ``scatter`` and ``history`` (node dicts
    of ``igrt.mrml.review``), ``scatterAxes``, ``scene``; ``fraction`` after :meth:`loadFraction`.
    """

    PARAMETER_NODE_CLASS = IGRTReviewParameterNode

    def loadStudy(
        self,
        tablePath,
        scene=None,
        nalFractions=3,
        enalPeriod=5,
        salAlphaMm=9.0,
        salNmax=2,
        scatterAxes=("lateral", "vertical"),
    ) -> dict:
        """Statistics, protocols and the population scatter of a study table (nodes reused on a reload).

        Parameters
        ----------
        tablePath : str or Path
            ``study.csv`` or any per-fraction couch-correction CSV (couch moves).
        scene : vtkMRMLScene, optional
            Where the nodes go (default ``slicer.mrmlScene``).
        nalFractions, enalPeriod, salAlphaMm, salNmax
            Protocol parameters (``igrt.review.protocols``; SAL α in mm).
        scatterAxes : (str, str)
            IEC axes of the population scatter (x, y).

        Returns
        -------
        dict
            ``self.outputs`` (see the class docstring).
        """
        path = pathlib.Path(tablePath) if tablePath is not None else None
        if path is None or not path.is_file():
            raise IGRTInputError(f"select a study table (study.csv): {path} is not a file")
        stats = review(
            path,
            nal_fractions=nalFractions,
            enal_period=enalPeriod,
            sal_alpha_mm=salAlphaMm,
            sal_nmax=salNmax,
        )
        table = read_shift_table(path)
        scene = scene if scene is not None else slicer.mrmlScene
        previous = self.outputs if self.outputs and self.outputs["scene"] is scene else {}
        self.outputs = {
            "path": path,
            "scene": scene,
            "table": table,
            "stats": stats,
            "statistics": reviewnodes.statistics_table_node(scene, stats, previous.get("statistics")),
            "protocols": reviewnodes.protocols_table_node(scene, stats, previous.get("protocols")),
            "scatter": previous.get("scatter"),
            "history": previous.get("history"),
            "historyPatient": None,
        }
        self.showScatter(*scatterAxes)
        logging.info(f"IGRT review: {self.summary(self.outputs)}")
        return self.outputs

    def processParameterNode(self, p, scene=None) -> dict:
        """``loadStudy`` with the choices stored in a parameter node."""
        return self.loadStudy(
            p.studyTable,
            scene,
            p.nalFractions,
            p.enalPeriod,
            p.salAlphaMm,
            p.salNmax,
            (p.scatterX.value, p.scatterY.value),
        )

    def _loaded(self) -> dict:
        if not self.outputs:
            raise IGRTInputError("load a study table first")
        return self.outputs

    def showScatter(self, x="lateral", y="vertical") -> dict:
        """Population scatter, ``x`` against ``y`` (IEC axes, mm, patient is displaced)."""
        out = self._loaded()
        if x not in reviewnodes.AXES or y not in reviewnodes.AXES:
            raise IGRTInputError(f"scatter axes {x!r}, {y!r}: choose from {', '.join(reviewnodes.AXES)}")
        out["scatter"] = reviewnodes.population_scatter(out["scene"], out["table"], x, y, out["scatter"])
        out["scatterAxes"] = (x, y)
        return out["scatter"]

    def showPatient(self, patient: str) -> dict:
        """Shift history of ``patient``: its table and chart (one series per IEC axis, mm)."""
        out = self._loaded()
        out["history"] = reviewnodes.shift_history(out["scene"], out["table"], patient, out["history"])
        out["historyPatient"] = patient
        return out["history"]

    def patients(self) -> list:
        """Patient ids of the loaded table, in natural order."""
        return list(self._loaded()["table"].patients)

    def fractions(self, patient: str) -> list:
        """Fraction labels of ``patient`` (status ok), in the order of the ``fraction`` column."""
        table = self._loaded()["table"]
        if patient not in table.patients:
            raise IGRTInputError(f"patient {patient!r} is not in the study table")
        index = table.patients.index(patient)
        return [f for f, g in zip(table.fractions, table.group, strict=True) if g == index]

    def loadFraction(self, patient: str, fraction: str) -> dict:
        """Planning and daily volume nodes and the match transform of one fraction of the study folder.

        The study folder is the table's folder (``igrt study run`` writes ``DIR/study.csv`` next to
        ``DIR/fractions``). Returns ``{"planning", "daily", "transform", "result", "shift"}``.
        """
        out = self._loaded()
        out["fraction"] = reviewnodes.load_fraction(out["scene"], out["path"].parent, patient, fraction)
        return out["fraction"]

    @staticmethod
    def summary(outputs: dict) -> str:
        """One line: patients, fractions, rows left out, and Σ/σ per translation axis (mm)."""
        stats, table = outputs["stats"], outputs["table"]
        axes = ", ".join(
            f"{a} Σ {stats['axes'][a]['Sigma_mm']:.2f} σ {stats['axes'][a]['sigma_mm']:.2f}"
            for a in reviewnodes.AXES
        )
        left = f", {len(table.excluded)} not ok left out" if table.excluded else ""
        return (
            f"{stats['patients']} patients, {stats['fractions']} fractions{left}. Set-up error (mm): {axes}"
        )

    @staticmethod
    def fractionSummary(patient: str, fraction: str, loaded: dict) -> str:
        """One line: the fraction's couch correction (couch moves) and verdict from its shift.json."""
        couch = loaded["shift"]["couch"]
        moves = ", ".join(f"{k.removesuffix('_mm')} {couch[k]:+.1f}" for k in TRANSLATION_COLUMNS)
        return f"{patient} / {fraction}: couch moves {moves} mm; {couch['verdict']}"


#
# IGRTReviewTest
#


class IGRTReviewTest(base.ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the hand-worked study of IGRTReviewLib.samplestudy and one real fraction."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_StatisticsChartsAndFraction()
        self.setUp()
        self.test_BadInputIsRefused()

    def test_StatisticsChartsAndFraction(self):
        import tempfile

        from IGRTModuleLib import requirements
        from IGRTReviewLib import samplestudy

        requirements.ensure(["scipy", "itk-rtk"], "The self-test's known-transform generator")
        folder = pathlib.Path(tempfile.mkdtemp(prefix="IGRTReview-"))
        table = samplestudy.write_study_table(folder)
        row = samplestudy.run_real_fraction(folder)
        self.assertEqual(row["status"], "ok")
        logic = IGRTReviewLogic()
        out = logic.loadStudy(table, slicer.mrmlScene)
        sigma = out["statistics"].GetTable().GetColumnByName("Sigma").GetValue(0)
        self.assertAlmostEqual(sigma, samplestudy.LATERAL_SIGMA_MM, delta=1e-4)
        self.assertEqual(logic.showPatient("P3")["chart"].GetNumberOfPlotSeriesNodes(), 3)
        loaded = logic.loadFraction("P1", "1")
        couch = loaded["shift"]["couch"]  # the fraction's own run, as its study.csv row has it
        for axis in TRANSLATION_COLUMNS:
            self.assertAlmostEqual(couch[axis], row[axis], delta=1e-4)
        self.delayDisplay(f"Lateral Σ {sigma:.4f} mm = sqrt(28/3); fraction P1/1 loaded")

    def test_BadInputIsRefused(self):
        logic = IGRTReviewLogic()
        with self.assertRaises(IGRTInputError):
            logic.showPatient("P1")
        with self.assertRaises(IGRTInputError):
            logic.loadStudy("/nonexistent/study.csv")
        self.delayDisplay("Bad input refused")
