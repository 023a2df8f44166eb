"""The main window: assembles the views, menus and workers; computes nothing itself.

It appears before torch is imported: the frame shows at once, the core loads in a thread, and
the panels are built when it is ready.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from studio.gui.core_loader import CoreLoader
from studio.gui.document import ProjectDocument, autosave_path

AUTOSAVE_MS = 15000
FIRST_PAINT_MS = 50
MAX_RECENT = 8


def settings() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, "torch-studio", "torch-studio"
    )


class MainWindow(QMainWindow):
    coreReady = Signal()
    coreFailed = Signal(str)

    def __init__(self, project_path: str | Path | None = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)  # image / CSV files: predict; a project file: open
        self.setWindowTitle("Torch Studio")
        self.resize(1440, 900)
        self.document: ProjectDocument | None = None
        self.worker = self.thread = self.data_worker = self.data_thread = None
        self.dataset = None
        self.last_error = ""
        self._loader_thread: QThread | None = None
        self._load_after_paint = False
        self._closing = False
        self._project_path = Path(project_path) if project_path else None
        placeholder = QLabel("<h2>Torch Studio</h2><p>Loading PyTorch…</p>")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        placeholder.setObjectName("loadingLabel")
        self.setCentralWidget(placeholder)
        self.statusBar().showMessage("Loading PyTorch…")
        state = settings()
        geometry = state.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)

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

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._load_after_paint and self._loader_thread is None:
            # torch's import holds the interpreter for seconds: let the first frame paint first
            QTimer.singleShot(FIRST_PAINT_MS, self._start_loader)

    def _start_loader(self) -> None:
        if self._loader_thread is not None or self.document is not None or self._closing:
            return
        loader = CoreLoader(self._project_path)
        loader.ready.connect(self._core_ready)
        loader.failed.connect(self._core_failed)
        self._loader = loader
        self._loader_thread = QThread(self)
        loader.moveToThread(self._loader_thread)
        self._loader_thread.started.connect(loader.run)
        loader.finished.connect(self._loader_thread.quit, Qt.ConnectionType.DirectConnection)
        self._loader_thread.start()

    def is_ready(self) -> bool:
        return self.document is not None

    @Slot(object, object, object, str)
    def _core_ready(self, project, path, devices, error: str) -> None:
        from studio.gui.assembly import build_views

        self.document = ProjectDocument(project, path, self)
        build_views(self, devices)
        self.document.changed.connect(self.refresh)
        self.document.pathChanged.connect(self._update_title)
        self.document.rejected.connect(
            lambda why: self.statusBar().showMessage(f"Not applied: {why}", 6000)
        )
        self.refresh()
        self._update_title()
        self.statusBar().showMessage("Ready", 3000)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave)
        self._autosave_timer.start(AUTOSAVE_MS)
        if error:
            self.show_error("Cannot open the project", error)
        self.load_dataset()
        QTimer.singleShot(0, self.offer_recovery)
        self.coreReady.emit()

    @Slot(str)
    def _core_failed(self, message: str) -> None:
        label = self.centralWidget()
        if isinstance(label, QLabel):
            label.setText("<h2>Torch Studio</h2><p>PyTorch could not be loaded.</p>")
        self.statusBar().showMessage("PyTorch could not be loaded")
        self.show_error(
            "Torch Studio cannot start",
            f"PyTorch or one of its libraries could not be loaded:\n\n"
            f"{message}\n\nReinstall Torch Studio (or its environment) and try again.",
        )
        self.coreFailed.emit(message)

    # ---------------------------------------------------------------- views

    def refresh(self) -> None:
        """Re-infer shapes and repaint every view from the document (after any edit)."""
        from studio.core.errors import ProjectError
        from studio.core.shapes import infer_shapes

        project = self.document.project
        try:
            self.report = infer_shapes(project.model)
        except ProjectError as exc:
            self.report = None
            self.statusBar().showMessage(str(exc), 5000)
            return
        self.stack.show_model(
            project.model, self.report, project.data.batch_size, self.layer_actions.selected
        )
        self._show_form()
        self.data_panel.show_project()
        self.training_panel.show_project()
        self._update_title()

    def _show_form(self) -> None:
        from studio.core.edits import get

        selected = self.layer_actions.selected
        try:
            layer = get(self.document.project.model, selected) if selected is not None else None
        except (KeyError, IndexError):
            layer, selected = None, None
            self.layer_actions.selected = None
        rows = self.report.rows if self.report is not None else []
        inferred = next((r.inferred for r in rows if r.path == selected), {})
        self.form.show_layer(selected, layer, inferred)

    def select_layer(self, path: str | None) -> None:
        self.layer_actions.selected = path
        self._show_form()

    def _update_title(self) -> None:
        if self.document is not None:
            self.setWindowTitle(self.document.title())

    # ---------------------------------------------------------------- files

    def new_from_template(self, template: Path) -> None:
        from studio.core.validation import load_project

        if self.confirm_discard():
            self.document.replace(load_project(template), None)
            self.layer_actions.selected = None
            self.load_dataset()

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", str(self.document.base_dir), "Projects (*.json)"
        )
        if path:
            self.open_project(Path(path))

    def open_project(self, path: Path) -> bool:
        from studio.core.errors import StudioError
        from studio.core.validation import load_project

        if not self.confirm_discard():
            return False
        try:
            project = load_project(path)
        except StudioError as exc:
            self.show_error("Cannot open the project", str(exc))
            return False
        self.document.replace(project, Path(path))
        self.layer_actions.selected = None
        self._remember_recent(Path(path))
        self.load_dataset()
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        self.document.save()
        self._remember_recent(self.document.path)
        self.clear_autosave()
        self.statusBar().showMessage(f"Saved {self.document.path}", 3000)
        return True

    def save_as(self) -> bool:
        start = str(self.document.path or Path.cwd() / f"{self.document.project.name}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", start, "Projects (*.json)")
        if not path:
            return False
        self.document.save(Path(path))
        self._remember_recent(Path(path))
        self.clear_autosave()
        return True

    def recent_files(self) -> list[str]:
        value = settings().value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember_recent(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        settings().setValue("recent", recent[:MAX_RECENT])
        if hasattr(self, "recent_menu"):
            self.fill_recent_menu()

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for entry in self.recent_files():
            action = QAction(entry, self.recent_menu)
            action.triggered.connect(lambda _=False, p=entry: self.open_project(Path(p)))
            self.recent_menu.addAction(action)
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def confirm_discard(self) -> bool:
        """True when there is nothing unsaved, or the user saved or chose to discard it."""
        if self.document is None or not self.document.dirty:
            return True
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Unsaved changes",
            f"Save the changes to {self.document.project.name}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("unsavedBox")
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # ---------------------------------------------------------------- crash recovery

    def autosave(self) -> None:
        if self.document is not None and self.document.dirty:
            from studio.core.files import atomic_write_text

            path = self.document.path
            payload = {
                "path": str(path) if path else None,
                "project": self.document.project.to_dict(),
            }
            atomic_write_text(autosave_path(), json.dumps(payload))

    def clear_autosave(self) -> None:
        autosave_path().unlink(missing_ok=True)

    def offer_recovery(self) -> bool:
        """Offer the autosave a crash left behind; True when it was restored."""
        from studio.core.errors import StudioError
        from studio.core.validation import parse_project

        path = autosave_path()
        if not path.exists():
            return False
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            project = parse_project(payload["project"])
        except (OSError, ValueError, KeyError, StudioError):
            self.clear_autosave()
            return False
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Recover unsaved work",
            f"Torch Studio did not close normally. Recover the unsaved changes to {project.name}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setObjectName("recoverBox")
        if box.exec() != QMessageBox.StandardButton.Yes:
            self.clear_autosave()
            return False
        original = Path(payload["path"]) if payload.get("path") else None
        self.document.replace(self.document.project, original)
        self.document.edit(
            "Recover autosave", lambda draft: draft.__dict__.update(project.copy().__dict__)
        )
        self.refresh()
        return True

    # ---------------------------------------------------------------- data and training

    def load_dataset(self) -> None:
        from studio.core.data import SOURCES
        from studio.gui.worker import DatasetWorker, start_in_thread

        if self.data_thread is not None or self._closing:
            return
        spec = self.document.project.data
        if (
            not SOURCES[spec.source].offline
            and not SOURCES[spec.source].downloaded(spec.options, self.document.base_dir)
            and not spec.options.get("download")
        ):
            self.data_panel.status.setText(
                "The files are not downloaded yet: set download and press Load preview."
            )
            return
        self.data_panel.loading(True)
        self.data_worker = DatasetWorker(
            spec, self.document.project.training.seed, self.document.base_dir
        )
        self.data_worker.progress.connect(self.data_panel.report_progress)
        self.data_worker.loaded.connect(self._dataset_loaded)
        self.data_worker.failed.connect(self.data_panel.show_error)
        self.data_thread = start_in_thread(self.data_worker, self)
        self.data_thread.finished.connect(self._data_thread_done)

    @Slot()
    def _data_thread_done(self) -> None:
        self.data_thread, self.data_worker = None, None

    def cancel_dataset(self) -> None:
        if self.data_worker is not None:
            self.data_worker.cancel()

    @Slot(object)
    def _dataset_loaded(self, dataset) -> None:
        self.dataset = dataset
        self.data_panel.show_dataset(dataset)
        if self.document.project.model.input_shape != dataset.input_shape:
            shape = list(dataset.input_shape)
            self.document.edit(
                "Use the dataset's input shape", lambda p: setattr(p.model, "input_shape", shape)
            )

    def train(self) -> None:
        from studio.core.runs import default_runs_dir
        from studio.gui.worker import TrainingWorker, start_in_thread

        if self.thread is not None or self._closing:
            return
        if self.report is not None and self.report.error is not None:
            self.show_error("The model cannot train yet", str(self.report.error))
            return
        self.plots.clear()
        self.training_panel.log.clear()
        self.worker = TrainingWorker(
            self.document.project.copy(),
            default_runs_dir(self.document.path),
            self.document.base_dir,
        )
        self.worker.eventsReady.connect(self._drain_events)
        self.worker.done.connect(self._training_done)
        self.worker.failed.connect(self._training_failed)
        self.thread = start_in_thread(self.worker, self)
        self.thread.finished.connect(self._training_thread_done)
        self.training_panel.set_running(True)
        self.statusBar().showMessage("Training…")

    @Slot()
    def _drain_events(self) -> None:
        if self.worker is None:
            return
        for event in self.worker.take_events():
            self.plots.add_event(event)
            self.training_panel.add_event(event)

    @Slot(dict)
    def _training_done(self, result: dict) -> None:
        self._drain_events()
        self.plots.flush()
        complete = result["reason"] in ("completed", "early_stopping")
        self.training_panel.finish(f"{result['reason']}: {result['message']}", complete)
        self.model_actions.refresh_runs()
        where = f" — run saved in {result['run_dir']}" if result.get("run_dir") else ""
        self.statusBar().showMessage(
            f"{result['reason'].replace('_', ' ')}: {result['message']}{where}"
        )

    @Slot(str)
    def _training_failed(self, message: str) -> None:
        self._drain_events()
        self.plots.flush()
        self.training_panel.finish("failed", False)
        self.training_panel.log.appendPlainText(f"Error: {message}")
        self.show_error("Training stopped", message)

    @Slot()
    def _training_thread_done(self) -> None:
        self.thread, self.worker = None, None
        self.training_panel.set_running(False)

    def toggle_pause(self) -> None:
        if self.worker is None:
            return
        control = self.worker.control
        control.resume() if control.paused else control.pause()
        self.training_panel.set_running(True, paused=control.paused)

    def stop_training(self, wait: bool = False) -> None:
        if self.worker is not None:
            self.worker.control.stop()
        if wait and self.thread is not None:
            self.thread.wait()

    def show_error(self, title: str, message: str) -> None:
        self.last_error = message
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ---------------------------------------------------------------- closing

    def closeEvent(self, event) -> None:
        if not self.confirm_discard():
            event.ignore()
            return
        self._closing = True
        self.stop_training(wait=True)
        self.cancel_dataset()
        if self.document is not None:
            self.model_actions.tasks.wait_all()
        for thread in (self.data_thread, self._loader_thread):
            if thread is not None:
                thread.quit()
                thread.wait()
        state = settings()
        state.setValue("geometry", self.saveGeometry())
        state.setValue("windowState", self.saveState())
        self.clear_autosave()
        event.accept()

    def dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def central(self, top: QWidget, tabs: list[tuple[QWidget, str]]) -> None:
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setObjectName("bottomTabs")
        for widget, title in tabs:
            self.bottom_tabs.addTab(widget, title)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.bottom_tabs)
        splitter.setSizes([520, 340])
        self.setCentralWidget(splitter)

    def show_tab(self, widget: QWidget) -> None:
        self.bottom_tabs.setCurrentWidget(widget)

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
            self.open_project(Path(projects[0]))
        else:
            self.model_actions.predict_files(paths)

    def shortcut(self, text: str, keys, slot) -> QAction:
        action = QAction(text, self)
        if keys is not None:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        return action
