"""The main window: it owns the document, the views, the background tasks and the objects that act
on them, wires them together, and computes nothing itself.

It appears before torch is imported: the frame shows at once, the core loads as a background task,
and everything else is built when it is ready (until then the attributes below are None).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox

from studio.core.errors import first_line
from studio.gui.collector import GuiThreadCollector
from studio.gui.document import ProjectDocument
from studio.gui.geometry import place_window
from studio.gui.tasks import TaskRunner

if TYPE_CHECKING:
    from studio.core.model.shapes import ShapeReport
    from studio.gui.actions.diagnose_actions import DiagnoseActions
    from studio.gui.actions.experiment_actions import ExperimentActions
    from studio.gui.actions.file_actions import FileActions
    from studio.gui.actions.import_actions import ImportActions
    from studio.gui.actions.layer_actions import LayerActions
    from studio.gui.actions.model_actions import ModelActions
    from studio.gui.actions.sweep_actions import SweepActions
    from studio.gui.actions.training_actions import TrainingActions
    from studio.gui.layout import Views
    from studio.gui.menus import Menus
    from studio.gui.startup import Core

AUTOSAVE_MS = 15000
FIRST_PAINT_MS = 50


class MainWindow(QMainWindow):
    coreReady = Signal()
    coreFailed = Signal(str)

    def __init__(self, project_path: str | Path | None = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)  # image / CSV files: predict; a project file: open
        self.setWindowTitle("Torch Studio")
        self.tasks = TaskRunner(self)  # every background task; closing waits for them all
        self._collector = GuiThreadCollector(self)  # garbage cycles freed on this thread only
        self.document: ProjectDocument | None = None
        self.views: Views | None = None
        self.menus: Menus | None = None
        self.files: FileActions | None = None
        self.imports: ImportActions | None = None
        self.layer_actions: LayerActions | None = None
        self.model_actions: ModelActions | None = None
        self.training: TrainingActions | None = None
        self.diagnose: DiagnoseActions | None = None
        self.experiments: ExperimentActions | None = None
        self.sweeps: SweepActions | None = None
        self.report: ShapeReport | None = None  # the shapes of the current model
        self.last_error = ""
        self._project_path = Path(project_path) if project_path else None
        self._load_after_paint = False
        self._autosave_timer = QTimer(self)
        placeholder = QLabel("<h2>Torch Studio</h2><p>Loading PyTorch…</p>")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        placeholder.setObjectName("loadingLabel")
        self.setCentralWidget(placeholder)
        self.statusBar().showMessage("Loading PyTorch…")
        self.health_status = QLabel(objectName="healthStatus")  # stays while a run's warnings do
        self.health_status.setStyleSheet("color: #ffb347")
        self.health_status.hide()
        self.statusBar().addPermanentWidget(self.health_status)
        place_window(self)

    # ---------------------------------------------------------------- start-up

    def load_core(self, background: bool = True) -> None:
        """Load torch and the project: now, or as a background task once the window is painted."""
        if background:
            self._load_after_paint = True
            if self.isVisible():
                QTimer.singleShot(FIRST_PAINT_MS, self._start_loading)
            return
        from studio.gui.startup import load_core
        from studio.gui.tasks import guarded

        core, failure = guarded(lambda: load_core(self._project_path))
        self._core_failed(failure) if failure else self._core_ready(core)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._load_after_paint:
            # torch's import holds the interpreter for seconds: let the first frame paint first
            QTimer.singleShot(FIRST_PAINT_MS, self._start_loading)

    def _start_loading(self) -> None:
        from studio.gui.startup import load_core

        if not self._load_after_paint or self.tasks.busy("load core") or self.document:
            return
        self._load_after_paint = False
        path = self._project_path
        self.tasks.run(
            "load core",
            lambda _task: load_core(path),
            done=self._core_ready,
            failed=self._core_failed,
        )

    def _core_ready(self, core: Core) -> None:
        from studio.gui.actions.diagnose_actions import DiagnoseActions
        from studio.gui.actions.experiment_actions import ExperimentActions
        from studio.gui.actions.file_actions import FileActions
        from studio.gui.actions.import_actions import ImportActions
        from studio.gui.actions.layer_actions import LayerActions
        from studio.gui.actions.model_actions import ModelActions
        from studio.gui.actions.sweep_actions import SweepActions
        from studio.gui.actions.training_actions import TrainingActions
        from studio.gui.layout import build_views
        from studio.gui.menus import build_menus

        tasks = self.tasks
        self.document = document = ProjectDocument(core.project, core.path, self)
        self.files = FileActions(document, self)
        self.imports = ImportActions(document, self.files, tasks, self)
        self.views = views = build_views(self, document, core.devices)
        self.layer_actions = LayerActions(document, views.stack, self)
        self.model_actions = ModelActions(document, views.evaluation, tasks, self)
        self.training = TrainingActions(document, tasks, self)
        self.diagnose = DiagnoseActions(document, views.training_panel.diagnostics, tasks, self)
        self.experiments = ExperimentActions(
            document, views, self.files, tasks, self.training, self
        )
        self.sweeps = SweepActions(document, views.sweep, tasks, views.show_tab, self)
        self.menus = build_menus(self, self)
        self._connect()
        self._connect_hosts()
        self.model_actions.refresh_runs()
        self.refresh()
        self.statusBar().showMessage("Ready", 3000)
        self._autosave_timer.timeout.connect(document.autosave)
        self._autosave_timer.start(AUTOSAVE_MS)
        if core.error:
            self.show_error("Cannot open the project", core.error)
        self.training.load_dataset()
        QTimer.singleShot(0, self.files.offer_recovery)
        self.coreReady.emit()

    def _connect(self) -> None:
        views, document, training = self.views, self.document, self.training
        actions, status = self.layer_actions, self.statusBar()
        document.changed.connect(self.refresh)
        document.pathChanged.connect(self._update_title)
        document.rejected.connect(lambda why: status.showMessage(f"Not applied: {why}", 6000))
        self.files.opened.connect(self._project_opened)
        self.files.saved.connect(lambda said: status.showMessage(said, 3000))
        for source in (self.files, self.model_actions, self.sweeps):
            source.error.connect(self.show_error)
        for source in (self.model_actions, self.experiments, self.sweeps, self.imports):
            source.message.connect(status.showMessage)
        self.model_actions.tabRequested.connect(views.show_tab)
        views.palette.layerChosen.connect(actions.add)
        views.stack.selectionChangedTo.connect(self.select_layer)
        views.stack.fixRequested.connect(actions.fix)
        views.stack.dropped.connect(actions.drop)
        views.form.argumentChanged.connect(actions.set_argument)
        views.data_panel.loadRequested.connect(training.load_dataset)
        views.data_panel.cancelRequested.connect(training.cancel_dataset)
        views.training_panel.trainRequested.connect(self.train)
        views.training_panel.pauseToggled.connect(training.toggle_pause)
        views.training_panel.stopRequested.connect(training.stop)
        views.plots.exportRequested.connect(self._export_plots)
        training.datasetLoading.connect(lambda: views.data_panel.loading(True))
        training.datasetProgress.connect(views.data_panel.report_progress)
        training.datasetLoaded.connect(views.data_panel.show_dataset)
        training.datasetLoaded.connect(views.training_panel.show_task)
        training.datasetLoaded.connect(views.plots.show_task)
        training.datasetFailed.connect(views.data_panel.show_error)
        training.datasetNotReady.connect(views.data_panel.status.setText)
        for view in (views.plots, views.health, views.training_panel):
            training.trainingStarted.connect(view.clear)
            training.trainingEvents.connect(view.add_events)
        training.trainingStarted.connect(self._clear_health_status)
        training.trainingDone.connect(self._training_done)
        training.trainingFailed.connect(self._training_failed)
        training.runningChanged.connect(views.training_panel.set_running)
        self.health_status.linkActivated.connect(lambda _: views.show_tab(views.health))
        views.health.warned.connect(self._health_warned)
        views.health.layerSelected.connect(views.stack.select)

    def _connect_hosts(self) -> None:
        """Each host's devices join the selector as it answers (in the background); a run on
        one logs what it sent and cannot pause."""
        panel, training = self.views.training_panel, self.training
        training.hostChecked.connect(
            lambda name, hello: panel.add_host_devices(name, hello["devices"])
        )
        training.hostUnreachable.connect(panel.device.unreached)
        panel.device.hostChosen.connect(training.choose_host)
        training.trainingOn.connect(panel.set_remote)
        training.trainingSaid.connect(panel.log.appendPlainText)
        training.check_hosts()

    def _core_failed(self, message: str) -> None:
        label = self.centralWidget()
        if isinstance(label, QLabel):
            label.setText("<h2>Torch Studio</h2><p>PyTorch could not be loaded.</p>")
        self.statusBar().showMessage("PyTorch could not be loaded")
        self.show_error(
            "Torch Studio cannot start",
            f"PyTorch or one of its libraries could not be loaded:\n\n{message}\n\n"
            "Reinstall Torch Studio (or its environment) and try again.",
        )
        self.coreFailed.emit(message)

    # ---------------------------------------------------------------- views

    def refresh(self) -> None:
        """Re-infer shapes and repaint every view from the document (after any edit)."""
        from studio.core.errors import ProjectError
        from studio.core.model.shapes import infer_shapes

        project, views = self.document.project, self.views
        try:
            self.report = infer_shapes(project.model)
        except ProjectError as exc:
            self.report = None
            self.statusBar().showMessage(str(exc), 5000)
            return
        selected = self.layer_actions.selected
        views.stack.show_model(project.model, self.report, project.data.batch_size, selected)
        self._show_form()
        views.data_panel.show_project()
        views.training_panel.show_project()
        self._update_title()

    def _show_form(self) -> None:
        from studio.core.project.edits import get

        selected = self.layer_actions.selected
        try:
            layer = get(self.document.project.model, selected) if selected is not None else None
        except (KeyError, IndexError):
            layer, selected = None, None
            self.layer_actions.selected = None
        rows = self.report.rows if self.report is not None else []
        inferred = next((r.inferred for r in rows if r.path == selected), {})
        self.views.form.show_layer(selected, layer, inferred)

    def select_layer(self, path: str | None) -> None:
        self.layer_actions.selected = path
        self._show_form()
        self.views.health.select_layer(path)

    def reset_layout(self) -> None:
        from studio.gui.layout import reset_layout

        reset_layout(self, self.views)

    def _health_warned(self, warnings: list) -> None:
        """New layer-health warnings: a badge on their rows, the status line, the log."""
        from studio.core.train.events import warning_line

        health = self.views.health.warnings
        self.views.stack.set_warnings({p: [w["message"] for w in ws] for p, ws in health.items()})
        for warning in warnings:
            self.views.training_panel.log.appendPlainText(warning_line(warning))
        self.statusBar().showMessage(f"Warning: {warnings[0]['message']}", 15000)
        messages = [w["message"] for ws in health.values() for w in ws]
        count = len(messages)
        self.health_status.setText(
            f"<a href='#'>⚠ {count} layer warning{'s' if count > 1 else ''}</a>"
        )
        self.health_status.setToolTip("\n".join(messages))
        self.health_status.show()

    def _clear_health_status(self) -> None:
        self.health_status.hide()
        self.views.stack.set_warnings({})

    def _project_opened(self) -> None:
        self.layer_actions.selected = None
        self.views.plots.clear()  # the last run's curves and layers are not this project's
        self.views.plots.flush()
        self.views.health.clear()
        self.views.training_panel.diagnostics.reset()
        self._clear_health_status()
        self.refresh()
        self.model_actions.refresh_runs()  # the Evaluation list: this project's runs
        self.training.load_dataset()

    def _update_title(self) -> None:
        if self.document is not None:
            self.setWindowTitle(self.document.title())

    # ---------------------------------------------------------------- training

    def train(self) -> None:
        if self.report is not None and self.report.error is not None:
            self.show_error("The model cannot train yet", str(self.report.error))
            return
        if self.training.train():
            self.statusBar().showMessage("Training…")

    def _training_done(self, result: dict) -> None:
        from studio.core.train.events import describe

        self.views.plots.flush()
        complete = result["reason"] in ("completed", "early_stopping")
        said = describe({"event": "stop", **result})  # as the run's stop event says it
        self.views.training_panel.finish(said, complete)
        self.model_actions.refresh_runs()
        where = f" — run saved in {result['run_dir']}" if result.get("run_dir") else ""
        self.statusBar().showMessage(said + where)

    def _training_failed(self, message: str) -> None:
        self.views.plots.flush()
        self.views.training_panel.finish("failed", False)
        self.views.training_panel.log.appendPlainText(f"Error: {message}")
        self.show_error("Training stopped", message)

    def _export_plots(self, kind: str) -> None:
        """Save the curves as a PNG picture or a CSV table (`kind`: png or csv)."""
        plots = self.views.plots
        name, save = (
            ("PNG image", plots.save_png) if kind == "png" else ("CSV table", plots.save_csv)
        )
        start = str(self.document.base_dir / f"training.{kind}")
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", start, f"{name} (*.{kind})")
        if path:
            save(Path(path))

    def predict_dialog(self) -> None:
        from studio.core.data.folder import IMAGE_SUFFIXES

        start = str(self.document.base_dir)
        kinds = " ".join(f"*{suffix}" for suffix in (*IMAGE_SUFFIXES, ".csv", ".tsv", ".txt"))
        files = f"Images, tables or texts ({kinds});;All files (*)"
        paths, _ = QFileDialog.getOpenFileNames(self, "Predict on files", start, files)
        if paths:
            self.model_actions.predict_files(paths)

    def show_error(self, title: str, message: str) -> None:
        self.last_error = message
        self.statusBar().showMessage(first_line(message), 10000)
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ---------------------------------------------------------------- closing

    def closeEvent(self, event) -> None:
        """Unsaved work is asked about; then every background task is stopped and waited for,
        a running sweep stopped as Ctrl-C would, and the layout remembered."""
        from studio.gui.layout import save_layout

        if self.files is not None and not self.files.confirm_discard():
            event.ignore()
            return
        self._load_after_paint = False
        self._autosave_timer.stop()
        if self.sweeps is not None:
            self.sweeps.stop()  # every stop asked for first, then each waited for
        left = self.tasks.shutdown()
        if left:
            sys.stderr.write(f"studio: still running as the window closed: {', '.join(left)}\n")
        if self.sweeps is not None:
            self.sweeps.shutdown()
        if self.views is not None:
            save_layout(self)
        ProjectDocument.clear_autosave()
        self._collector.stop()
        event.accept()

    # ---------------------------------------------------------------- files dropped on the window

    def dragEnterEvent(self, event) -> None:
        if self.document is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        projects = [p for p in paths if p.endswith(".json")]
        if projects:
            self.files.open_project(Path(projects[0]))
        else:
            self.model_actions.predict_files(paths)
