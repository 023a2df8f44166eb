"""An editor for one catalogue `Param`: spin boxes, check boxes, combos, pair/triple editors.

Invalid input is marked where it is typed (red, with the reason as tooltip) and never emitted;
`committed` carries only values the parameter accepts.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from studio.core.catalogue.params import REQUIRED, Param

_MAX_INT = 2**31 - 1


class CompactComboBox(QComboBox):
    """A combo box as narrow as its dock allows (its longest entry shows in the open list):
    long names, a device's or a dataset's, never push a panel wider than the screen."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)
        self.currentTextChanged.connect(self.setToolTip)  # the whole entry, when it is cut short


def _spin(minimum: float | None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(int(minimum) if minimum is not None else -_MAX_INT, _MAX_INT)
    box.setMinimumWidth(64)
    return box


def _parse_numbers(text: str) -> Any:
    """'3' -> 3, '3, 5' -> [3, 5], '0.5' -> 0.5; anything else is returned as typed."""
    text = text.strip()
    if not text:
        return None
    try:
        value = json.loads(text if text.startswith("[") or "," not in text else f"[{text}]")
    except ValueError:
        return text
    return value


class ParamEditor(QWidget):
    """One parameter's editor; `committed(name, value)` fires for valid edits only.

    A value of `None` for an inferred parameter means "auto"; for a nullable one, "default".
    """

    committed = Signal(str, object)

    def __init__(
        self,
        param: Param,
        value: Any = REQUIRED,
        inferred: Any = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.param = param
        self.setObjectName(f"param_{param.name}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self._auto: QCheckBox | None = None
        if param.inferred or (param.nullable and param.kind not in ("bool", "choice")):
            label = (
                f"auto ({inferred})"
                if param.inferred and inferred is not None
                else ("auto" if param.inferred else "default")
            )
            self._auto = QCheckBox(label)
            self._auto.setObjectName("autoCheck")
            layout.addWidget(self._auto)
        self._widgets: list[QWidget] = []
        self._build(layout)
        self._error: str | None = None
        self.set_value(
            value if value is not REQUIRED else (None if param.inferred else param.default)
        )
        if self._auto is not None:
            self._auto.toggled.connect(self._auto_toggled)
        self._connect()

    # ---------------------------------------------------------------- construction

    def _build(self, layout: QHBoxLayout) -> None:
        p = self.param
        if p.kind == "bool":
            self._widgets = [QCheckBox()]
        elif p.kind == "choice":
            combo = CompactComboBox()
            combo.addItems([str(c) for c in p.choices])
            self._widgets = [combo]
        elif p.kind == "int":
            self._widgets = [_spin(p.minimum)]
        elif p.kind == "ints" and p.arity and p.arity <= 3 and not p.choices:
            self._widgets = [_spin(p.minimum) for _ in range(p.arity)]
        else:
            edit = QLineEdit()
            edit.setPlaceholderText(p.expected())
            self._widgets = [edit]
        for widget in self._widgets:
            layout.addWidget(widget, 1)

    def _connect(self) -> None:
        for widget in self._widgets:
            if isinstance(widget, QCheckBox):
                widget.toggled.connect(self._changed)
            elif isinstance(widget, QComboBox):
                widget.currentIndexChanged.connect(self._changed)
            elif isinstance(widget, QSpinBox):
                widget.valueChanged.connect(self._changed)
            else:
                widget.editingFinished.connect(self._changed)

    # ---------------------------------------------------------------- values

    def set_value(self, value: Any) -> None:
        auto = value is None and self._auto is not None
        if self._auto is not None:
            self._auto.blockSignals(True)
            self._auto.setChecked(auto)
            self._auto.blockSignals(False)
        for widget in self._widgets:
            widget.blockSignals(True)
            widget.setEnabled(not auto)
        try:
            self._show(value)
        finally:
            for widget in self._widgets:
                widget.blockSignals(False)

    def _show(self, value: Any) -> None:
        w = self._widgets
        if value is None or value is REQUIRED:
            if isinstance(w[0], QLineEdit):
                w[0].setText("")
            return
        if isinstance(w[0], QCheckBox):
            w[0].setChecked(bool(value))
        elif isinstance(w[0], QComboBox):
            w[0].setCurrentIndex(max(0, w[0].findText(str(value))))
        elif isinstance(w[0], QSpinBox):
            values = value if isinstance(value, list) else [value] * len(w)
            for box, v in zip(w, values, strict=False):
                if isinstance(v, int):
                    box.setValue(v)
        elif self.param.kind == "names" and isinstance(value, list):
            w[0].setText(", ".join(value))
        else:
            w[0].setText(
                value
                if isinstance(value, str)
                else json.dumps(value).strip("[]").replace(",", ", ").replace(",  ", ", ")
            )

    def value(self) -> Any:
        if self._auto is not None and self._auto.isChecked():
            return None
        w = self._widgets
        if isinstance(w[0], QCheckBox):
            return w[0].isChecked()
        if isinstance(w[0], QComboBox):
            return self.param.choices[w[0].currentIndex()]
        if isinstance(w[0], QSpinBox):
            values = [box.value() for box in w]
            return (
                values[0]
                if len(set(values)) == 1 and self.param.kind == "ints" or len(values) == 1
                else values
            )
        text = w[0].text()
        if self.param.kind == "str":
            return text
        if self.param.kind == "names":  # "a, b": a list; "a": the one name
            parts = [part.strip() for part in text.split(",") if part.strip()]
            return parts[0] if len(parts) == 1 else (parts or None)
        if self.param.kind == "shape":
            parsed = _parse_numbers(text)
            return [parsed] if isinstance(parsed, int) else parsed
        return _parse_numbers(text)

    def has_focus(self) -> bool:
        return any(widget.hasFocus() for widget in self._widgets)

    @property
    def error(self) -> str | None:
        return self._error

    def _auto_toggled(self, checked: bool) -> None:
        for widget in self._widgets:
            widget.setEnabled(not checked)
        self._changed()

    def _changed(self, *_: object) -> None:
        value = self.value()
        problem = None if value is None and self._auto is not None else self.param.check(value)
        if value is None and self._auto is None and self.param.required:
            problem = f"required: {self.param.expected()}"
        self._mark(problem)
        if problem is None:
            self.committed.emit(self.param.name, value)

    def _mark(self, problem: str | None) -> None:
        self._error = problem
        for widget in self._widgets:
            widget.setProperty("invalid", problem is not None)
            widget.setToolTip(f"expected {problem}" if problem else "")
            widget.style().unpolish(widget)
            widget.style().polish(widget)
