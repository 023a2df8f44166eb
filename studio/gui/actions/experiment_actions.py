"""The Runs and Sweep tabs' work: listing the runs folder and reading a sweep's study off the GUI
thread (one at a time each), opening a sweep file, laying runs over the live curves, and a run or
a trial opened as a new project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from studio.gui.document import ProjectDocument
from studio.gui.tasks import BackgroundTasks


class ExperimentActions(QObject):
    message = Signal(str, int)  # status-bar text, milliseconds
    error = Signal(str, str)  # title, message: shown as a message box

    def __init__(self, document: ProjectDocument, views, files, parent: QWidget):
        super().__init__(parent)
        self.document, self.views, self.files, self.parent_widget = document, views, files, parent
        self.tasks = BackgroundTasks(self)
        self._listing = self._reading = False
        views.runs.refreshRequested.connect(self.list_runs)
        views.runs.overlayRequested.connect(self.overlay)
        views.runs.openRequested.connect(self.open_run)
        views.sweep.openRequested.connect(self.open_run)
        views.sweep.browseRequested.connect(self.choose_sweep)
        views.sweep.refreshRequested.connect(self.read_sweep)

    # ---------------------------------------------------------------- runs

    def list_runs(self) -> None:
        from studio.core.runs.compare import list_run_rows
        from studio.core.runs.folder import default_runs_dir

        if self._listing:
            return
        self._listing = True
        folder = default_runs_dir(self.document.path)

        def listed(rows) -> None:
            self._listing = False
            self.views.runs.set_rows(rows)

        def failed(message: str) -> None:
            self._listing = False
            self.message.emit(f"Cannot list the runs: {message}", 5000)

        self.tasks.start(lambda: list_run_rows(folder) if folder.is_dir() else [], listed, failed)

    def overlay(self, folders: list[Path]) -> None:
        from studio.core.runs.folder import RunSummary, read_metrics

        runs = [RunSummary(f, f.name, read_metrics(f)) for f in folders]
        shown = self.views.plots.overlay(runs)
        self.views.show_tab(self.views.plots)
        self.message.emit(f"Overlaid {shown} run(s) behind the live curves", 4000)

    def open_run(self, folder: Path) -> None:
        """A run's (or a trial's) frozen project, as a new unsaved one: the run stays as it is."""
        self.files.new_from_template(Path(folder) / "project.json")

    # ---------------------------------------------------------------- sweeps

    def choose_sweep(self) -> None:
        start = str(self.document.base_dir)
        path, _ = QFileDialog.getOpenFileName(
            self.parent_widget, "Open sweep", start, "Sweeps (*.json)"
        )
        if path:
            self.open_sweep(Path(path))

    def open_sweep(self, path: Path) -> bool:
        """Load a sweep file into the Sweep tab (its study, if it has one, shows at once)."""
        from studio.core.errors import StudioError
        from studio.core.runs.folder import default_runs_dir
        from studio.core.runs.sweep import default_storage, load_sweep

        try:
            sweep = load_sweep(path)
        except StudioError as exc:
            self.error.emit("Cannot open the sweep", str(exc))
            return False
        runs_dir = default_runs_dir(sweep.project_file)
        self.views.sweep.load(sweep, default_storage(sweep, runs_dir), runs_dir)
        self.views.show_tab(self.views.sweep)
        return True

    def read_sweep(self) -> None:
        from studio.core.runs.sweep import study_summary

        view = self.views.sweep
        if view.sweep is None or self._reading:
            return
        self._reading = True
        sweep, storage = view.sweep, view.storage

        def done(summary) -> None:
            self._reading = False
            if view.sweep is sweep:
                view.show_study(summary)

        def failed(message: str) -> None:
            self._reading = False
            self.message.emit(f"Cannot read the sweep: {message}", 5000)

        self.tasks.start(lambda: study_summary(sweep, storage), done, failed)
