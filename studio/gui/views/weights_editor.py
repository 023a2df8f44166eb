"""A pretrained layer's weights choice (a Backbone's, a Segmenter's, a Detector's two): the
model's torchvision weights, none (untrained), or a state dict file. Behaves as a ParamEditor
(value, set_value, committed) for the layer form."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QWidget

from studio.core.catalogue.params import Param
from studio.gui.views.param_editors import CompactComboBox

UNTRAINED = "none (untrained)"


class WeightsEditor(QWidget):
    committed = Signal(str, object)

    def __init__(
        self,
        param: Param,
        value: Any,
        choices: tuple[str, ...],
        parent: QWidget | None = None,
        name: str = "backboneWeights",
        untrained: str = UNTRAINED,
    ):
        super().__init__(parent)
        self.param, self.untrained = param, untrained  # `untrained`: what None is called
        self.setObjectName(name)
        self.combo = CompactComboBox(objectName=f"{name}Choice")
        self.combo.setEditable(True)  # a file name may be typed
        self.combo.addItems([*choices, untrained])
        self._tip = (
            "torchvision's weights (downloaded once into torch's cache), none, or a .pth / .pt / "
            ".safetensors state dict file (a path beside the project)"
        )
        self.combo.setToolTip(self._tip)
        browse = QPushButton("File…")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(browse)
        self.set_value(value)
        self.combo.activated.connect(lambda _i: self._commit())
        self.combo.lineEdit().editingFinished.connect(self._commit)
        browse.clicked.connect(self._browse)

    def value(self) -> str | None:
        text = self.combo.currentText().strip()
        return None if text in ("", self.untrained) else text

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        text = self.untrained if value is None else str(value)
        index = self.combo.findText(text)
        if index >= 0:
            self.combo.setCurrentIndex(index)
            self.combo.lineEdit().setCursorPosition(0)  # a long choice shows how it starts
        else:
            self.combo.setEditText(text)  # a file: its name, at the end, shows
        self.combo.blockSignals(False)

    def set_unused(self, reason: str | None) -> None:
        """Greyed out, saying why (other weights hold these), or back in use (None)."""
        self.setEnabled(reason is None)
        self.combo.setToolTip(reason or self._tip)

    def has_focus(self) -> bool:
        return self.combo.hasFocus() or self.combo.lineEdit().hasFocus()

    def _commit(self) -> None:
        self.committed.emit(self.param.name, self.value())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Weights file", "", "State dicts (*.pth *.pt *.safetensors)"
        )
        if path:
            self.set_value(path)
            self._commit()
