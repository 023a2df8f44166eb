"""Runs "Check" and "Find learning rate" on a copy of the open project, off the GUI thread, and
applies "Use this rate" as an undoable edit."""

from __future__ import annotations

from PySide6.QtCore import QObject

from studio.gui.document import ProjectDocument
from studio.gui.tasks import TaskRunner
from studio.gui.views.diagnostics_panel import DiagnosticsPanel


class DiagnoseActions(QObject):
    def __init__(
        self, document: ProjectDocument, panel: DiagnosticsPanel, tasks: TaskRunner, parent: QObject
    ):
        super().__init__(parent)
        self.document, self.panel, self.tasks = document, panel, tasks
        panel.checkRequested.connect(self.check)
        panel.lrFindRequested.connect(self.find_lr)
        panel.useRate.connect(self.use_rate)

    def check(self) -> None:
        project, base = self.document.project.copy(), self.document.base_dir

        def work(_task):
            from studio.core.train.preflight import run_checks

            return [c.to_dict() for c in run_checks(project, base)]

        self._start("Checking: a few hundred steps on one batch…", work, self.panel.show_checks)

    def find_lr(self) -> None:
        project, base = self.document.project.copy(), self.document.base_dir

        def work(_task):
            from studio.core.train.lr_find import lr_find

            return lr_find(project, base).to_dict()

        self._start("Finding a learning rate: 100 steps…", work, self.panel.show_lr_find)

    def use_rate(self, lr: float) -> None:
        rate = float(f"{lr:.3g}")
        self.document.edit(
            "Use the suggested learning rate",
            lambda project: project.training.optimizer.args.__setitem__("lr", rate),
        )

    @property
    def running(self) -> bool:
        return self.tasks.busy("diagnose")

    def _start(self, said: str, work, done) -> None:
        if self.running:
            return
        self.panel.busy(said)
        self.tasks.run("diagnose", work, done=done, failed=self.panel.failed)
