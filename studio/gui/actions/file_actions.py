"""The File menu's commands: new from a template, open, open recent, save, save as; the question
about unsaved changes, and the offer to recover work a crash left behind.

A project saved into another folder takes its `model.weights` file along (the name is relative
to the project's folder): copied beside the new file, or under `NAME-2...` when another file
has its name there."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from studio.gui import settings as preferences
from studio.gui.document import ProjectDocument


class FileActions(QObject):
    opened = Signal()  # another project replaced the open one
    saved = Signal(str)  # what to say in the status bar
    error = Signal(str, str)  # title, message

    def __init__(self, document: ProjectDocument, window: QWidget):
        super().__init__(window)
        self.document, self.window = document, window  # the window: the dialogs' parent
        self.recent_menu = QMenu("Open &Recent", window)
        self.fill_recent_menu()

    def new_from_template(self, template: Path) -> None:
        from studio.core.project.reading import load_project

        if self.confirm_discard():
            self.document.replace(load_project(template), None)
            self.opened.emit()

    def open_dialog(self) -> None:
        start = str(self.document.base_dir)
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open project", start, "Projects (*.json)"
        )
        if path:
            self.open_project(Path(path))

    def open_project(self, path: Path) -> bool:
        from studio.core.errors import StudioError
        from studio.core.project.reading import load_project

        if not self.confirm_discard():
            return False
        try:
            project = load_project(path)
        except StudioError as exc:
            self.error.emit("Cannot open the project", str(exc))
            return False
        self.document.replace(project, Path(path))
        self._remember(Path(path))
        self.opened.emit()
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        self.document.save()
        self._remember(self.document.path)
        self.document.clear_autosave()
        self.saved.emit(f"Saved {self.document.path}")
        return True

    def save_as(self) -> bool:
        path = self.ask_save_path()
        return path is not None and self.save_to(path)

    def ask_save_path(self, title: str = "Save project as") -> Path | None:
        """Where the user wants the project saved (a save dialog); None when they cancel."""
        start = str(self.document.path or Path.cwd() / f"{self.document.project.name}.json")
        path, _ = QFileDialog.getSaveFileName(self.window, title, start, "Projects (*.json)")
        return Path(path) if path else None

    def save_to(self, path: Path) -> bool:
        """Save at PATH, the weights file taken along into a new folder (`carry_weights`)."""
        path = Path(path)
        try:
            carried = self.carry_weights(path.parent)
        except OSError as exc:
            self.error.emit(
                "Cannot save the project", f"Copying its weights to {path.parent}: {exc}"
            )
            return False
        self.document.save(path)
        self._remember(path)
        self.document.clear_autosave()
        self.saved.emit(f"Saved {path}" + (f" ({carried})" if carried else ""))
        return True

    def carry_weights(self, folder: Path) -> str:
        """A project with a file, saved into another FOLDER: its `model.weights` file copied
        there, and `model.weights` renamed (one edit, before the save) when another file had its
        name; what was done, in words ("" for nothing: no weights file, or the same folder)."""
        weights, old = self.document.project.model.weights, self.document.path
        if not weights or old is None or Path(weights).is_absolute():
            return ""
        source = old.parent / weights
        if not source.is_file() or folder.resolve() == old.parent.resolve():
            return ""
        target, copied = _weights_copy(source, folder)
        if target.name != weights:
            self.document.edit(
                f"Weights copied as {target.name}",
                lambda draft: setattr(draft.model, "weights", target.name),
            )
        return f"weights {'copied as' if copied else 'already there as'} {target.name}"

    def _remember(self, path: Path) -> None:
        preferences.remember_recent(path)
        self.fill_recent_menu()

    def fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for entry in preferences.recent_files():
            action = QAction(entry, menu)
            action.triggered.connect(lambda _=False, p=entry: self.open_project(Path(p)))
            menu.addAction(action)
        menu.setEnabled(bool(menu.actions()))

    def confirm_discard(self) -> bool:
        """True when there is nothing unsaved, or the user saved or chose to discard it."""
        if not self.document.dirty:
            return True
        buttons = QMessageBox.StandardButton
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Unsaved changes",
            f"Save the changes to {self.document.project.name}?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            self.window,
        )
        box.setObjectName("unsavedBox")
        answer = box.exec()
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    def offer_recovery(self) -> bool:
        """Offer the unsaved work a crash left behind; True when it was restored."""
        found = self.document.read_autosave()
        if found is None:
            return False
        project, original = found
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Recover unsaved work",
            f"Torch Studio did not close normally. Recover the unsaved changes to {project.name}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self.window,
        )
        box.setObjectName("recoverBox")
        if box.exec() != QMessageBox.StandardButton.Yes:
            self.document.clear_autosave()
            return False
        self.document.recover(project, original)
        return True


def _weights_copy(source: Path, folder: Path) -> tuple[Path, bool]:
    """The file in FOLDER holding SOURCE's weights, and whether it was copied now: a file of its
    name with the same bytes, else a copy under its name, or `NAME-2...` (`NAME-3...`, ...) when
    another file has that name."""
    first, dot, rest = source.name.partition(".")
    target, count = folder / source.name, 1
    while target.exists():
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            return target, False
        count += 1
        target = folder / f"{first}-{count}{dot}{rest}"
    partial = target.with_name(f".{target.name}.part")  # whole or not there, even if cut short
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target, True
