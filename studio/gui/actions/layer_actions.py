"""The Edit menu's layer commands: add, delete, move, duplicate, cut, copy, paste, fix.

Each is one undoable document edit through studio.core.project.edits; selection follows the layer.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence

from studio.core.errors import ProjectError
from studio.core.project import edits
from studio.gui.document import ProjectDocument
from studio.gui.views.stack_view import LayerStackView

CLIPBOARD_PREFIX = "torch-studio-layer:"


class LayerActions(QObject):
    """The layer commands as QActions (the stack's context keys and the Edit menu) and the
    selected layer's path, which every command starts from."""

    def __init__(self, document: ProjectDocument, stack: LayerStackView, parent: QObject):
        super().__init__(parent)
        self.document, self.stack = document, stack
        self.selected: str | None = None
        self.actions: dict[str, QAction] = {}
        specs = [
            ("delete", "Delete layer", QKeySequence.StandardKey.Delete, self.delete),
            ("cut", "Cut layer", QKeySequence.StandardKey.Cut, self.cut),
            ("copy", "Copy layer", QKeySequence.StandardKey.Copy, self.copy),
            ("paste", "Paste layer", QKeySequence.StandardKey.Paste, self.paste),
            ("duplicate", "Duplicate layer", QKeySequence("Ctrl+D"), self.duplicate),
            ("up", "Move layer up", QKeySequence("Ctrl+Up"), lambda: self.move(-1)),
            ("down", "Move layer down", QKeySequence("Ctrl+Down"), lambda: self.move(1)),
        ]
        for key, text, shortcut, slot in specs:
            action = QAction(text, self)
            action.setShortcut(shortcut)
            action.triggered.connect(slot)
            self.actions[key] = action
        stack.tree.addActions(list(self.actions.values()))

    def _edit(self, text: str, change) -> None:
        """Apply change(model) -> new selection path, as one undoable step (views refresh after)."""

        def apply(project) -> None:
            self.selected = change(project.model)

        self.document.edit(text, apply)

    def add(self, layer_type: str) -> None:
        self._edit(
            f"Add {layer_type}",
            lambda model: edits.insert(model, self._target(model), edits.new_layer(layer_type)),
        )

    def add_at(self, layer_type: str, index: int) -> None:
        self._edit(
            f"Add {layer_type}",
            lambda model: edits.insert_at(model, index, edits.new_layer(layer_type)),
        )

    def drop(self, layer_type: str, path: str | None, index: int) -> None:
        """Something dropped on the stack at `index`: a palette layer (its type), or a row (its path)."""
        if layer_type:
            self.add_at(layer_type, index)
        elif path is not None:
            self.move_to(path, index)

    def _target(self, model) -> str | None:
        if self.selected is None:
            return None
        try:
            edits.get(model, self.selected)
        except (KeyError, IndexError):
            return None
        return self.selected

    def delete(self) -> None:
        path = self.selected
        if path is not None:
            self._edit("Delete layer", lambda model: edits.remove(model, path))

    def move(self, offset: int) -> None:
        if self.selected is not None:
            path = self.selected
            self._edit("Move layer", lambda model: edits.move(model, path, offset))

    def move_to(self, path: str, index: int) -> None:
        self._edit("Move layer", lambda model: edits.move_to(model, path, index))

    def duplicate(self) -> None:
        if self.selected is not None:
            path = self.selected
            self._edit("Duplicate layer", lambda model: edits.duplicate(model, path))

    def copy(self) -> None:
        if self.selected is not None:
            layer = edits.get(self.document.project.model, self.selected)
            QGuiApplication.clipboard().setText(CLIPBOARD_PREFIX + json.dumps(layer.to_dict()))

    def cut(self) -> None:
        if self.selected is not None:
            self.copy()
            self.delete()

    def paste(self) -> None:
        text = QGuiApplication.clipboard().text()
        if not text.startswith(CLIPBOARD_PREFIX):
            return
        try:
            data = json.loads(text[len(CLIPBOARD_PREFIX) :])
            self._edit("Paste layer", lambda model: edits.paste(model, self._target(model), data))
        except (ValueError, ProjectError) as exc:
            self.document.rejected.emit(f"Cannot paste: {exc}")

    def set_argument(self, path: str, name: str, value: object) -> None:
        self.document.edit(
            f"Set {name}", lambda project: edits.set_arg(project.model, path, name, value)
        )

    def fix(self, path: str, action: dict) -> None:
        self._edit("Apply fix", lambda model: edits.apply_fix(model, path, action))
