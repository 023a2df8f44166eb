"""File > Import model…: a model's code, ONNX file or torch.export program brought in as the open
project's stack.

The import (which runs the user's code, traces it and checks the stack against it) is a
background task; so is writing the weights. *Use this model* writes the weights beside the
project file (asking where to save a project that has none) and replaces the model's layers,
input shape and weights in one undoable edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from studio.gui.document import ProjectDocument
from studio.gui.tasks import TaskRunner

if TYPE_CHECKING:
    from studio.gui.actions.file_actions import FileActions
    from studio.gui.views.import_dialog import ImportDialog
    from studio.gui.views.import_fields import ImportRequest

IMPORT_TASK = "import model"
SAVE_TASK = "save imported weights"


@dataclass
class Outcome:
    """What an import came to, for the GUI thread: the import, or the one-line reason; and the
    report's lines either way (none when it failed before there was a report)."""

    imported: Any = None  # studio.core.imports.importing.Imported
    error: str = ""
    lines: list[str] = field(default_factory=list)


def run_import(request: ImportRequest) -> Outcome:
    """In the task's thread: `import_model`, its failure kept with its report."""
    from studio.core.imports.importing import import_model
    from studio.core.imports.sources import ImportFailed

    try:
        imported = import_model(request.source, request.input_shape, request.weights, request.args)
    except ImportFailed as exc:
        return Outcome(error=str(exc), lines=exc.report.lines() if exc.report else [])
    return Outcome(imported, lines=imported.report.lines())


def weights_path(folder: Path, name: str) -> Path:
    """`NAME.weights.safetensors` in the project's folder, or NAME-2... when a file has that name
    (another project, or an earlier state of this one, may use it)."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "model"
    path, count = folder / f"{stem}.weights.safetensors", 1
    while path.exists():
        count += 1
        path = folder / f"{stem}-{count}.weights.safetensors"
    return path


class ImportActions(QObject):
    """The Import model dialog and what its buttons do."""

    message = Signal(str, int)  # status-bar text, milliseconds

    def __init__(
        self, document: ProjectDocument, files: FileActions, tasks: TaskRunner, parent: QWidget
    ):
        super().__init__(parent)
        self.document, self.files, self.tasks = document, files, tasks
        self.parent_widget = parent
        self.dialog: ImportDialog | None = None
        self.imported = None  # the last import that worked, until it is used

    def open_dialog(self) -> None:
        """One dialog a window, kept with what was typed and the last report."""
        from studio.gui.views.import_dialog import ImportDialog

        if self.dialog is None:
            self.dialog = ImportDialog(self.document.base_dir, self.parent_widget)
            self.dialog.importRequested.connect(self.start_import)
            self.dialog.applyRequested.connect(self.apply)
        self.dialog.reopened(self.document.base_dir)
        self.dialog.open()
        self.dialog.raise_()

    def start_import(self, request: ImportRequest) -> None:
        if self.tasks.busy(IMPORT_TASK) or self.tasks.busy(SAVE_TASK):
            return
        self.imported = None
        self.dialog.importing(request)
        self.tasks.run(
            IMPORT_TASK,
            lambda _task: run_import(request),
            done=self._imported,
            failed=lambda message: self._imported(Outcome(error=message)),
        )

    def _imported(self, outcome: Outcome) -> None:
        if outcome.imported is None:
            self.dialog.show_failed(outcome.error, outcome.lines)
            return
        self.imported = imported = outcome.imported
        report = imported.report
        self.dialog.show_imported(outcome.lines, report.layers, report.difference or 0.0)
        self.message.emit(f"Imported {imported.project.name}: {report.layers} layers", 5000)

    # ---------------------------------------------------------------- use this model

    def apply(self) -> None:
        """The weights beside the project file (a project without one is saved first, where the
        user says), then the model replaced as one edit."""
        from studio.core.imports.importing import save_weights

        imported = self.imported
        if imported is None or self.dialog.stale or self.tasks.busy(SAVE_TASK):
            return  # nothing imported, or the fields changed since: not what they say
        project_file, save = self.document.path, False
        if project_file is None:
            project_file = self.files.ask_save_path("Save the project (its weights go beside it)")
            if project_file is None:
                return
            save = True
        target = weights_path(project_file.parent, imported.project.name)
        self.dialog.applying(f"Writing the weights to {target.name}…")
        self.tasks.run(
            SAVE_TASK,
            lambda _task: save_weights(imported, target),
            done=lambda written: self._use(imported, project_file if save else None, written),
            failed=self.dialog.show_not_applied,
        )

    def _use(self, imported, save_to: Path | None, weights: Path) -> None:
        """The imported stack as the project's model, in one undo step; saved at `save_to`
        when the project had no file."""
        model = imported.project.copy().model

        def change(draft) -> None:
            draft.model.layers = model.layers
            draft.model.input_shape = model.input_shape
            draft.model.weights = weights.name

        refused: list[str] = []

        def note(why: str) -> None:
            refused.append(why)

        self.document.rejected.connect(note)  # said synchronously, by the edit below
        try:
            used = self.document.edit(f"Import {imported.project.name}", change)
        finally:
            self.document.rejected.disconnect(note)
        if not used:
            self.dialog.show_not_applied(refused[0] if refused else "the project refused it")
            return
        if save_to is not None:
            self.files.save_to(save_to)
        self.imported = None
        said = (
            f"Using {imported.project.name}: {imported.report.layers} layers, weights in "
            f"{weights.name} (Undo brings back the previous model)"
        )
        self.dialog.show_applied(said)
        self.message.emit(said, 8000)
        self.dialog.accept()
