"""The main window: it owns the document, the views and the objects that act on them, wires them
together, and computes nothing itself.

It appears before torch is imported: the frame shows at once, the core loads in a thread, and
everything else is built when it is ready (until then the attributes below are None).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSize, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox

from studio.core.errors import first_line
from studio.gui import settings as preferences
from studio.gui.document import ProjectDocument
from studio.gui.startup import CoreLoader

if TYPE_CHECKING:
    from studio.core.model.shapes import ShapeReport
    from studio.gui.actions.diagnose_actions import DiagnoseActions
    from studio.gui.actions.experiment_actions import ExperimentActions
    from studio.gui.actions.file_actions import FileCommands
    from studio.gui.actions.layer_actions import LayerActions
    from studio.gui.actions.model_actions import ModelActions
    from studio.gui.actions.training_actions import TrainingController
    from studio.gui.layout import Views
    from studio.gui.menus import Menus

AUTOSAVE_MS = 15000
PREFERRED_SIZE = QSize(1440, 900)
SCREEN_SHARE = 0.94  # of the available screen a new window takes at most
FIRST_PAINT_MS = 50
PREDICT_FILES = (
    "Images, CSV or text (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.csv *.txt);;All files (*)"
)


class MainWindow(QMainWindow):
    coreReady = Signal()
    coreFailed = Signal(str)

    def __init__(self, project_path: str | Path | None = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)  # image / CSV files: predict; a project file: open
        self.setWindowTitle("Torch Studio")
        self.document: ProjectDocument | None = None
        self.views: Views | None = None
        self.menus: Menus | None = None
        self.files: FileCommands | None = None
        self.layer_actions: LayerActions | None = None
        self.model_actions: ModelActions | None = None
        self.controller: TrainingController | None = None
        self.diagnose: DiagnoseActions | None = None
        self.experiments: ExperimentActions | None = None
        self.report: ShapeReport | None = None  # the shapes of the current model
        self.last_error = ""
        self._project_path = Path(project_path) if project_path else None
        self._loader: CoreLoader | None = None
        self._loader_thread: QThread | None = None
        self._load_after_paint = False
        self._closing = False
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
        geometry = preferences.settings().value("geometry")
        if not isinstance(geometry, QByteArray) or not self.restoreGeometry(geometry):
            self.resize(PREFERRED_SIZE)
        self.fit_to_screen()

    # ---------------------------------------------------------------- start-up

    def load_core(self, background: bool = True) -> None:
        """Load torch and the project: now, or in a thread once the window has been painted."""
        if background:
            self._load_after_paint = True
            if self.isVisible():
                QTimer.singleShot(FIRST_PAINT_MS, self._start_loader)
            return
        loader = CoreLoader(self._project_path)
        loader.ready.connect(self._core_ready)
        loader.failed.connect(self._core_failed)
        loader.run()

    def fit_to_screen(self) -> None:
        """Keep the whole window inside the screen's available area: a size remembered from a
        larger screen, or the preferred size on a small one, shrinks to fit and is moved in."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None or self.isMaximized() or self.isFullScreen():
            return
        area = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        room = area.size() * SCREEN_SHARE if not self.isVisible() else area.size()
        width = min(self.width(), room.width() - extra_w)
        height = min(self.height(), room.height() - extra_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        frame = self.frameGeometry()
        x = min(max(frame.x(), area.x()), area.right() + 1 - frame.width())
        y = min(max(frame.y(), area.y()), area.bottom() + 1 - frame.height())
        if not self.isVisible() and frame.width() < area.width():  # first opened: centred
            x = area.x() + (area.width() - frame.width()) // 2
            y = area.y() + (area.height() - frame.height()) // 2
        self.move(x, y)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._load_after_paint and self._loader_thread is None:
            # torch's import holds the interpreter for seconds: let the first frame paint first
            QTimer.singleShot(FIRST_PAINT_MS, self._start_loader)

    def _start_loader(self) -> None:
        if self._loader_thread is not None or self.document is not None or self._closing:
            return
        self._loader = CoreLoader(self._project_path)
        self._loader.ready.connect(self._core_ready)
        self._loader.failed.connect(self._core_failed)
        self._loader_thread = QThread(self)
        self._loader.moveToThread(self._loader_thread)
        self._loader_thread.started.connect(self._loader.run)
        self._loader.finished.connect(self._loader_thread.quit, Qt.ConnectionType.DirectConnection)
        self._loader_thread.start()

    def is_ready(self) -> bool:
        return self.document is not None

    def threads(self) -> list[QThread]:
        """Every worker thread the window has started (none may outlive it)."""
        found = [self._loader_thread] if self._loader_thread is not None else []
        if self.controller is not None:
            found += [
                t for t in (self.controller.training_thread, self.controller.data_thread) if t
            ]
        if self.model_actions is not None:
            found += self.model_actions.tasks.threads()
        if self.diagnose is not None:
            found += self.diagnose.tasks.threads()
        if self.experiments is not None:
            found += self.experiments.tasks.threads()
        return found

    @Slot(object, object, object, str)
    def _core_ready(self, project, path, devices, error: str) -> None:
        from studio.gui.actions.diagnose_actions import DiagnoseActions
        from studio.gui.actions.experiment_actions import ExperimentActions
        from studio.gui.actions.file_actions import FileCommands
        from studio.gui.actions.layer_actions import LayerActions
        from studio.gui.actions.model_actions import ModelActions
        from studio.gui.actions.training_actions import TrainingController
        from studio.gui.layout import build_views
        from studio.gui.menus import build_menus

        self.document = ProjectDocument(project, path, self)
        self.files = FileCommands(self.document, self)
        self.views = build_views(self, self.document, devices)
        self.layer_actions = LayerActions(self.document, self.views.stack, self)
        self.model_actions = ModelActions(self.document, self.views.evaluation, self)
        self.controller = TrainingController(self.document, self)
        self.diagnose = DiagnoseActions(self.document, self.views.training_panel.diagnostics, self)
        self.experiments = ExperimentActions(self.document, self.views, self.files, self)
        self.menus = build_menus(self)
        self._connect()
        self.model_actions.refresh_runs()
        self.refresh()
        self.statusBar().showMessage("Ready", 3000)
        self._autosave_timer.timeout.connect(self.document.autosave)
        self._autosave_timer.start(AUTOSAVE_MS)
        if error:
            self.show_error("Cannot open the project", error)
        self.controller.load_dataset()
        QTimer.singleShot(0, self.files.offer_recovery)
        self.coreReady.emit()

    def _connect(self) -> None:
        views, document, controller = self.views, self.document, self.controller
        actions, models, status = self.layer_actions, self.model_actions, self.statusBar()
        document.changed.connect(self.refresh)
        document.pathChanged.connect(self._update_title)
        document.rejected.connect(lambda why: status.showMessage(f"Not applied: {why}", 6000))
        self.files.opened.connect(self._project_opened)
        self.files.saved.connect(lambda said: status.showMessage(said, 3000))
        self.files.error.connect(self.show_error)
        views.palette.layerChosen.connect(actions.add)
        views.stack.selectionChangedTo.connect(self.select_layer)
        views.stack.fixRequested.connect(actions.fix)
        views.stack.dropped.connect(actions.drop)
        views.form.argumentChanged.connect(actions.set_argument)
        views.data_panel.loadRequested.connect(controller.load_dataset)
        views.data_panel.cancelRequested.connect(controller.cancel_dataset)
        views.training_panel.trainRequested.connect(self.train)
        views.training_panel.pauseToggled.connect(controller.toggle_pause)
        views.training_panel.stopRequested.connect(controller.stop)
        views.plots.overlayRequested.connect(self._overlay_runs)
        views.plots.exportRequested.connect(self._export_plots)
        controller.datasetLoading.connect(lambda: views.data_panel.loading(True))
        controller.datasetProgress.connect(views.data_panel.report_progress)
        controller.datasetLoaded.connect(views.data_panel.show_dataset)
        controller.datasetFailed.connect(views.data_panel.show_error)
        controller.datasetNotReady.connect(views.data_panel.status.setText)
        controller.trainingStarted.connect(views.plots.clear)
        controller.trainingStarted.connect(views.health.clear)
        controller.trainingStarted.connect(self._clear_health_status)
        self.health_status.linkActivated.connect(lambda _: views.show_tab(views.health))
        controller.trainingEvents.connect(views.health.add_events)
        views.health.warned.connect(self._health_warned)
        views.health.layerSelected.connect(views.stack.select)
        self.experiments.message.connect(status.showMessage)
        self.experiments.error.connect(self.show_error)
        controller.trainingStarted.connect(views.training_panel.start)
        controller.trainingEvents.connect(views.plots.add_events)
        controller.trainingEvents.connect(views.training_panel.add_events)
        controller.trainingDone.connect(self._training_done)
        controller.trainingFailed.connect(self._training_failed)
        controller.runningChanged.connect(views.training_panel.set_running)
        models.message.connect(status.showMessage)
        models.error.connect(self.show_error)
        models.tabRequested.connect(views.show_tab)

    @Slot(str)
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

    @Slot(list)
    def _health_warned(self, warnings: list) -> None:
        """New layer-health warnings: a badge on their rows, the status line, the log."""
        health = self.views.health.warnings
        self.views.stack.set_warnings({p: [w["message"] for w in ws] for p, ws in health.items()})
        for warning in warnings:
            self.views.training_panel.log.appendPlainText(f"Warning: {warning['message']}")
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
        self.controller.load_dataset()

    def _update_title(self) -> None:
        if self.document is not None:
            self.setWindowTitle(self.document.title())

    # ---------------------------------------------------------------- training

    def train(self) -> None:
        if self.report is not None and self.report.error is not None:
            self.show_error("The model cannot train yet", str(self.report.error))
            return
        if self.controller.train():
            self.statusBar().showMessage("Training…")

    @Slot(dict)
    def _training_done(self, result: dict) -> None:
        self.views.plots.flush()
        complete = result["reason"] in ("completed", "early_stopping")
        self.views.training_panel.finish(f"{result['reason']}: {result['message']}", complete)
        self.model_actions.refresh_runs()
        where = f" — run saved in {result['run_dir']}" if result.get("run_dir") else ""
        said = f"{result['reason'].replace('_', ' ')}: {result['message']}{where}"
        self.statusBar().showMessage(said)

    @Slot(str)
    def _training_failed(self, message: str) -> None:
        self.views.plots.flush()
        self.views.training_panel.finish("failed", False)
        self.views.training_panel.log.appendPlainText(f"Error: {message}")
        self.show_error("Training stopped", message)

    def _overlay_runs(self) -> None:
        from studio.core.runs.folder import default_runs_dir, list_runs

        name = self.document.project.name
        runs = list_runs(default_runs_dir(self.document.path), name)
        shown = self.views.plots.overlay(runs[:4])
        self.statusBar().showMessage(f"Overlaid {shown} earlier run(s) of {name}", 4000)

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
        start = str(self.document.base_dir)
        paths, _ = QFileDialog.getOpenFileNames(self, "Predict on files", start, PREDICT_FILES)
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
        if self.files is not None and not self.files.confirm_discard():
            event.ignore()
            return
        self._closing = True
        self._autosave_timer.stop()
        if self.controller is not None:
            self.controller.shutdown()
        if self.model_actions is not None:
            self.model_actions.tasks.shutdown()
        if self.diagnose is not None:
            self.diagnose.tasks.shutdown()
        if self.experiments is not None:
            self.experiments.tasks.shutdown()
        if self.views is not None:
            self.views.sweep.shutdown()
        if self._loader_thread is not None:
            self._loader_thread.quit()
            self._loader_thread.wait()
        state = preferences.settings()
        state.setValue("geometry", self.saveGeometry())
        state.setValue("windowState", self.saveState())
        ProjectDocument.clear_autosave()
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
