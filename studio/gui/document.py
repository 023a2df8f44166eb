"""The open project as the window edits it: one Project, its file, an undo stack, and the
crash-recovery copy of unsaved work.

Every edit is a snapshot command (the project's JSON before and after), so undo and redo give
back exactly what was there, and the views only ever re-read the project.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QUndoCommand, QUndoStack

from studio.core.errors import ProjectError, StudioError
from studio.core.files import atomic_write_text
from studio.core.project.reading import parse_project
from studio.core.project.spec import Project, save_project


class _Snapshot(QUndoCommand):
    def __init__(self, document: ProjectDocument, text: str, before: str, after: str):
        super().__init__(text)
        self._document, self._before, self._after = document, before, after

    def redo(self) -> None:
        self._document._apply(self._after)

    def undo(self) -> None:
        self._document._apply(self._before)


class ProjectDocument(QObject):
    """The project being edited; `changed` fires after every edit, undo, redo or load."""

    changed = Signal()
    pathChanged = Signal()
    rejected = Signal(str)  # an edit that would make the project invalid: why, for the status bar

    def __init__(self, project: Project, path: Path | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.path = path
        self.undo_stack = QUndoStack(self)
        # a slot of this object, not a lambda: Qt drops the connection when either side is deleted
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    @Slot(bool)
    def _clean_changed(self, _clean: bool) -> None:
        self.pathChanged.emit()

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def text(self) -> str:
        return self.project.to_json()

    def edit(self, description: str, change) -> bool:
        """Apply `change(project_copy)` as one undoable step; a no-op change records nothing.

        An edit whose result is not a valid project is refused whole (`rejected` says why), so
        the undo stack only ever holds projects that load.
        """
        before = self.text()
        draft = self.project.copy()
        try:
            change(draft)
            after = draft.to_json()
            parse_project(json.loads(after))
        except (ProjectError, KeyError, IndexError, ValueError) as exc:
            self.rejected.emit(f"{description}: {exc}")
            return False
        if after != before:
            self.undo_stack.push(_Snapshot(self, description, before, after))
        return True

    def _apply(self, text: str) -> None:
        self.project = parse_project(json.loads(text))
        self.changed.emit()

    def replace(self, project: Project, path: Path | None) -> None:
        """A newly opened project: a fresh history, nothing to save."""
        self.project, self.path = project, path
        self.undo_stack.clear()
        self.changed.emit()
        self.pathChanged.emit()

    def save(self, path: Path | None = None) -> Path:
        target = Path(path or self.path)
        save_project(self.project, target)
        self.path = target
        self.undo_stack.setClean()
        self.pathChanged.emit()
        return target

    # ---------------------------------------------------------------- crash recovery

    def autosave(self) -> None:
        """Keep a copy of unsaved work where a crash cannot take it (autosave_path())."""
        if self.dirty:
            payload = {
                "path": str(self.path) if self.path else None,
                "project": self.project.to_dict(),
            }
            atomic_write_text(autosave_path(), json.dumps(payload))

    @staticmethod
    def clear_autosave() -> None:
        autosave_path().unlink(missing_ok=True)

    @staticmethod
    def read_autosave() -> tuple[Project, Path | None] | None:
        """The unsaved work a crash left behind, with the file it belonged to; None if there is
        none (an unreadable copy is removed)."""
        path = autosave_path()
        if not path.exists():
            return None
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            project = parse_project(payload["project"])
            original = Path(payload["path"]) if payload.get("path") else None
        except (OSError, ValueError, KeyError, TypeError, StudioError):
            ProjectDocument.clear_autosave()
            return None
        return project, original

    def recover(self, project: Project, path: Path | None) -> None:
        """Put recovered work back as an undoable edit of the file it belonged to: unsaved."""
        self.replace(self.project, path)
        self.edit("Recover autosave", lambda draft: draft.__dict__.update(project.copy().__dict__))

    def title(self) -> str:
        name = self.project.name
        where = f" — {self.path.name}" if self.path else ""
        return f"{'*' if self.dirty else ''}{name}{where} — Torch Studio"


def autosave_path() -> Path:
    """Where crash-recovery copies go: $STUDIO_AUTOSAVE, else $STUDIO_CONFIG_DIR, else the
    user's application-data folder."""
    from PySide6.QtCore import QStandardPaths

    from studio.gui.settings import config_dir

    explicit = os.environ.get("STUDIO_AUTOSAVE")
    if explicit:
        return Path(explicit)
    if config_dir() is not None:
        return config_dir() / "autosave.json"
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".torch-studio") / "autosave.json"
