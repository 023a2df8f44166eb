"""The Sweep tab's work: open a sweep file, run it as `studio sweep` in a process of its own (the
window stays free, and a trial stops as Ctrl-C stops it), and read its study off the GUI thread
while the tab is shown or the sweep runs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from studio.core.paths import studio_command
from studio.gui.document import ProjectDocument
from studio.gui.tasks import TaskRunner
from studio.gui.views.sweep_view import SweepView

STOP_SECONDS = 30  # closing the window waits this long for a stopped sweep to end


class SweepActions(QObject):
    error = Signal(str, str)  # title, message: shown as a message box
    message = Signal(str, int)  # status-bar text, milliseconds

    def __init__(
        self,
        document: ProjectDocument,
        view: SweepView,
        tasks: TaskRunner,
        show_tab,
        parent: QWidget,
    ):
        super().__init__(parent)
        self.document, self.view, self.tasks = document, view, tasks
        self.show_tab, self.parent_widget = show_tab, parent
        self.process: QProcess | None = None
        view.browseRequested.connect(self.choose_sweep)
        view.refreshRequested.connect(self.read_study)
        view.runRequested.connect(self.run)
        view.stopRequested.connect(self.stop)

    # ---------------------------------------------------------------- the sweep file

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
        from studio.core.runs.study import default_storage
        from studio.core.runs.sweep import load_sweep

        try:
            sweep = load_sweep(path)
        except StudioError as exc:
            self.error.emit("Cannot open the sweep", str(exc))
            return False
        runs_dir = default_runs_dir(sweep.project_file)
        self.view.load(sweep, default_storage(sweep, runs_dir), runs_dir)
        self.show_tab(self.view)
        return True

    def read_study(self) -> None:
        from studio.core.runs.study import study_summary

        view = self.view
        if view.sweep is None or self.tasks.busy("read sweep"):
            return
        sweep, storage = view.sweep, view.storage

        def done(summary) -> None:
            if view.sweep is sweep:
                view.show_study(summary)

        self.tasks.run(
            "read sweep",
            lambda _task: study_summary(sweep, storage),
            done=done,
            failed=lambda why: self.message.emit(f"Cannot read the sweep: {why}", 5000),
        )

    # ---------------------------------------------------------------- running it

    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def run(self) -> None:
        """`studio sweep` in a process of its own; the tab follows its study."""
        view = self.view
        if view.sweep is None or self.running():
            return
        if self.process is not None:
            self.process.deleteLater()  # the last sweep's, ended
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        program, arguments = studio_command()
        self.process.start(
            program,
            [
                *arguments, "sweep", str(view.sweep.file), "--storage", view.storage,
                "--runs-dir", str(view.runs_dir), "--stop-on-eof",
            ],
        )  # fmt: skip
        view.set_running(True)

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:  # no `finished` follows
            self.view.set_running(False)
            self.view.status.setText(f"the sweep could not start: {self.process.errorString()}")

    def stop(self) -> None:
        """As Ctrl-C: the trial running stops after its batch, the study keeps what finished.
        The process stops when its standard input closes, which works on every system."""
        if self.running():
            self.process.closeWriteChannel()

    def _finished(self, code: int, _status) -> None:
        output = bytes(self.process.readAll()).decode(errors="replace").strip().splitlines()
        self.view.set_running(False)
        self.read_study()
        if code not in (0, 130):
            self.view.status.setText(f"the sweep failed: {output[-1] if output else code}")

    def shutdown(self) -> None:
        """The window closes: a running sweep is stopped as Ctrl-C would, and waited for."""
        if self.running():
            self.stop()
            self.process.finished.disconnect(self._finished)  # nothing more to show
            if not self.process.waitForFinished(STOP_SECONDS * 1000):
                self.process.kill()
                self.process.waitForFinished(5000)
