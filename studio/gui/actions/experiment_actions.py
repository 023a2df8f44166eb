"""The Runs tab's work: listing the runs folder off the GUI thread (one listing at a time), laying
runs over the live curves, a run (or a sweep's trial) opened as a new project, and a run going on
a host attached to (followed into the live plots as if Train had started it)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from studio.gui.document import ProjectDocument
from studio.gui.tasks import TaskRunner

EARLIER_RUNS = 4  # "Overlay earlier runs" draws this many of the project's latest


class ExperimentActions(QObject):
    message = Signal(str, int)  # status-bar text, milliseconds

    def __init__(
        self, document: ProjectDocument, views, files, tasks: TaskRunner, training, parent: QWidget
    ):
        super().__init__(parent)
        self.document, self.views, self.files, self.tasks = document, views, files, tasks
        self.training = training  # TrainingActions: attaching follows a run as Train does
        views.runs.refreshRequested.connect(self.list_runs)
        views.runs.overlayRequested.connect(self.overlay)
        views.runs.openRequested.connect(self.open_run)
        views.runs.diffRequested.connect(self.diff)
        views.runs.attachRequested.connect(self.attach)
        views.sweep.openRequested.connect(self.open_run)
        views.plots.overlayRequested.connect(self.overlay_earlier)

    def list_runs(self) -> None:
        from studio.core.runs.folder import default_runs_dir
        from studio.core.runs.listing import list_runs

        if self.tasks.busy("list runs"):
            return
        folder = default_runs_dir(self.document.path)
        self.tasks.run(
            "list runs",
            lambda _task: list_runs(folder) if folder.is_dir() else [],
            done=self.views.runs.set_rows,
            failed=lambda why: self.message.emit(f"Cannot list the runs: {why}", 5000),
        )

    def diff(self, a: Path, b: Path) -> None:
        """What differs between two runs, read off the GUI thread, into the Runs tab."""
        from studio.core.runs.diff import describe_diff, diff_runs

        def work(_task) -> str:
            return "\n".join(describe_diff(a.name, b.name, *diff_runs(a, b)))

        show = self.views.runs.show_diff
        self.tasks.run(
            "diff runs",
            work,
            done=lambda text: show(a, b, text),
            failed=lambda why: show(a, b, why),
        )

    def overlay(self, folders: list[Path]) -> None:
        """The chosen runs' curves behind the live ones (their metrics read in the background)."""
        from studio.core.runs.listing import read_run

        def work(_task):
            return [read_run(folder) for folder in folders]

        def show(runs) -> None:
            shown = self.views.plots.overlay(runs)
            self.views.show_tab(self.views.plots)
            self.message.emit(f"Overlaid {shown} run(s) behind the live curves", 4000)

        self.tasks.run("overlay runs", work, done=show, failed=self._cannot_read)

    def overlay_earlier(self) -> None:
        """The project's latest runs behind the live curves ("Overlay earlier runs")."""
        from studio.core.runs.folder import default_runs_dir
        from studio.core.runs.listing import list_runs

        folder, name = default_runs_dir(self.document.path), self.document.project.name

        def show(runs) -> None:
            shown = self.views.plots.overlay(runs)
            self.message.emit(f"Overlaid {shown} earlier run(s) of {name}", 4000)

        self.tasks.run(
            "overlay runs",
            lambda _task: list_runs(folder, name)[:EARLIER_RUNS],
            done=show,
            failed=self._cannot_read,
        )

    def _cannot_read(self, why: str) -> None:
        self.message.emit(f"Cannot read the runs: {why}", 5000)

    def open_run(self, folder: Path) -> None:
        """A run's (or a trial's) frozen project, as a new unsaved one: the run stays as it is."""
        self.files.new_from_template(Path(folder) / "project.json")

    def attach(self, folder: Path, host: str) -> None:
        """Follow a run going on a host into the live plots, layer health and log."""
        if not self.training.attach(folder, host):
            self.message.emit("A run is training: attach to this one when it has ended", 5000)
            return
        self.views.show_tab(self.views.plots)
        self.message.emit(f"Following {Path(folder).name} on {host}…", 5000)
