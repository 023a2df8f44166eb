"""What the window does with trained runs: evaluate, export, predict on dropped files.

Each runs as a background task (tasks.py); results come back to the views here, and
what the window should say comes out as signals (`message`, `error`, `tabRequested`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from studio.gui.document import ProjectDocument
from studio.gui.tasks import TaskRunner
from studio.gui.views.evaluation_view import EvaluationView

if TYPE_CHECKING:
    from studio.core.runs.listing import Run


class ModelActions(QObject):
    """Evaluate, export and predict with the open project's trained runs."""

    message = Signal(str, int)  # status-bar text, milliseconds
    error = Signal(str, str)  # title, message: shown as a message box
    tabRequested = Signal(QWidget)  # a view that should come to the front

    def __init__(
        self,
        document: ProjectDocument,
        evaluation: EvaluationView,
        tasks: TaskRunner,
        parent: QWidget,
    ):
        super().__init__(parent)
        self.document, self.evaluation, self.parent_widget = document, evaluation, parent
        self.tasks = tasks
        self.export_dialog = None
        self.prediction_dialog = None
        evaluation.evaluateRequested.connect(self.evaluate)

    def with_runs(self, then: Callable[[list[Run]], None]) -> None:
        """The project's trained runs, newest first, listed off the GUI thread (each run's
        metrics are read, which takes a while when there are many), then `then(runs)` here."""
        from studio.core.runs.folder import default_runs_dir
        from studio.core.runs.listing import list_runs

        folder, name = default_runs_dir(self.document.path), self.document.project.name
        self.tasks.run(
            "list trained runs",
            lambda _task: [run for run in list_runs(folder, name) if run.has_weights],
            done=then,
            failed=lambda why: self.error.emit("Runs", why),
        )

    def refresh_runs(self) -> None:
        self.with_runs(self.evaluation.set_runs)

    # ---------------------------------------------------------------- evaluate

    def evaluate(self, run: str | None = None) -> None:
        """Evaluate `run`, or the newest run of the project (shown in the Evaluation tab)."""
        if self.tasks.busy("evaluate"):  # one at a time: results would land in any order
            return
        if run is None:
            self.tabRequested.emit(self.evaluation)
            self.with_runs(self._evaluate_newest)
            return
        view = self.evaluation

        def work(_task):
            from studio.core.use.evaluate import evaluate
            from studio.core.use.explain import explain_worst
            from studio.core.use.trained import load_trained

            trained = load_trained(run)
            dataset = trained.load_data()
            result = evaluate(trained, dataset)
            explain_worst(trained, dataset, result)  # why it answered what it did
            return result

        view.set_busy(True)
        self.tasks.run("evaluate", work, done=self._evaluated, failed=self._evaluation_failed)

    def _evaluate_newest(self, runs: list[Run]) -> None:
        self.evaluation.set_runs(runs)
        if runs:
            self.evaluate(str(runs[0].path))
        else:
            self.message.emit("No trained run of this project yet: train first", 5000)

    def _evaluated(self, result) -> None:
        self.evaluation.set_busy(False)
        self.evaluation.show_result(result)

    def _evaluation_failed(self, message: str) -> None:
        self.evaluation.set_busy(False)
        self.evaluation.show_error(message)

    # ---------------------------------------------------------------- export

    def open_export_dialog(self) -> None:
        self.with_runs(self._open_export_dialog)

    def _open_export_dialog(self, runs: list[Run]) -> None:
        from studio.gui.views.export_dialog import ExportDialog

        if not runs:
            self.error.emit(
                "Nothing to export yet",
                "Train the project first: an export is made from a trained run.",
            )
            return
        dialog = ExportDialog(runs, self.document.project.name, self.parent_widget)
        dialog.exportRequested.connect(self._export)
        self.export_dialog = dialog
        dialog.open()

    def _export(self, run: str, fmt: str, output: str, quantize: bool) -> None:
        def work(_task):
            from studio.core.use.export import export_model
            from studio.core.use.trained import load_trained

            return export_model(
                load_trained(run), fmt, output, quantize="dynamic" if quantize else None
            )

        self.export_dialog.set_busy(True)
        self.tasks.run("export", work, done=self._exported, failed=self._export_failed)

    def _exported(self, result) -> None:
        if self.export_dialog is not None:
            self.export_dialog.set_busy(False)
            self.export_dialog.show_result(result)
        self.message.emit(f"Exported and verified: {result.path}", 8000)

    def _export_failed(self, message: str) -> None:
        if self.export_dialog is not None:
            self.export_dialog.set_busy(False)
            self.export_dialog.show_error(message)

    # ---------------------------------------------------------------- predict

    def predict_files(self, paths: list[str]) -> None:
        """Predict dropped files with the newest trained run (a dialog shows the answers)."""
        self.with_runs(lambda runs: self._predict_with(runs, paths))

    def _predict_with(self, runs: list[Run], paths: list[str]) -> None:
        if not runs:
            self.error.emit(
                "No trained model yet",
                "Train the project first, then drop files on the window to classify them.",
            )
            return
        run = runs[0].path

        def work(_task):
            from studio.core.use.explain import explain, explainable
            from studio.core.use.predict import open_predictor, predict_samples, read_inputs

            predictor = open_predictor(run)
            names, raw = read_inputs(paths, predictor)
            pre = predictor.preprocessing
            reasons = (
                explain(predictor.model, pre, raw)
                if predictor.model is not None and explainable(pre)
                else [None] * len(names)
            )
            predictions = predict_samples(predictor, names, raw, top=3)
            return run, predictions, _views(pre, raw), reasons, list(pre.classes or [])

        self.message.emit(f"Predicting {len(paths)} file(s) with {run.name}…", 0)
        self.tasks.run(
            "predict",
            work,
            done=self._predicted,
            failed=lambda message: self.error.emit("Cannot predict", message),
        )

    def _predicted(self, outcome) -> None:
        from studio.gui.views.prediction_dialog import PredictionDialog

        run, predictions, views, reasons, classes = outcome
        self.prediction_dialog = PredictionDialog(
            run, predictions, views, reasons, self.parent_widget, classes=classes
        )
        self.prediction_dialog.open()
        self.message.emit(f"Predicted {len(predictions)} input(s) with {run.name}", 5000)


def _views(preprocessing, raw) -> list:
    """Thumbnails for image inputs (uint8 arrays), None otherwise."""
    from studio.core.data.dataset import image_view

    if preprocessing.kind != "image":
        return [None] * len(raw)
    return [image_view(sample, preprocessing.scale) for sample in raw]
