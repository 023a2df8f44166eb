"""Before training, in the Training panel: "Check" (the pre-flight checks, each with its verdict
and why) and "Find learning rate" (the range test's curve with the suggested rate marked, and
"Use this rate", an undoable edit). The work runs elsewhere (DiagnoseActions); this shows it."""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

PASSED, FAILED = "#7bd88f", "#ff6b6b"


class DiagnosticsPanel(QWidget):
    checkRequested = Signal()
    lrFindRequested = Signal()
    useRate = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._make_check_widgets()
        self._make_lr_widgets()
        self._lay_out()
        self._connect()

    def _make_check_widgets(self) -> None:
        """The two buttons, the status line and the checks' results, hidden until there are some."""
        self.check_button = QPushButton("Check", objectName="checkButton")
        self.check_button.setToolTip(
            "Pre-flight checks in seconds: finite inputs, labels, class balance, the loss at "
            "initialisation, overfitting one batch, a zero-input baseline"
        )
        self.lr_button = QPushButton("Find learning rate", objectName="lrFindButton")
        self.lr_button.setToolTip(
            "The range test: 100 steps from 1e-7 to 10, weights put back after; suggests a rate"
        )
        self.status = QLabel(objectName="diagnosticsStatus")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.hide()
        self.results = QListWidget(objectName="checkResults")
        self.results.setWordWrap(True)
        self.results.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.results.setMinimumHeight(150)
        self.results.hide()

    def _make_lr_widgets(self) -> None:
        """The range test's plot, its suggested and minimum rates, and the button that uses one."""
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("lrFindPlot")
        self.plot.setTitle("Learning-rate range test", color="#d8dee9", size="9pt")
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss (smoothed)")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setFixedHeight(190)
        self.plot.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.curve = self.plot.plot(pen=pg.mkPen("#4f9dff", width=2))
        self.suggested = pg.InfiniteLine(angle=90, pen=pg.mkPen("#7bd88f", width=2))
        self.minimum = pg.InfiniteLine(
            angle=90, pen=pg.mkPen("#ffb347", width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        for line in (self.suggested, self.minimum):
            self.plot.addItem(line)
        self.plot.hide()
        self.lr_label = QLabel(objectName="lrFindResult")
        self.lr_label.setWordWrap(True)
        self.lr_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.lr_label.hide()
        self.use_button = QPushButton("Use this rate", objectName="useLrButton")
        self.use_button.hide()
        self.suggestion: float | None = None

    def _lay_out(self) -> None:
        """The buttons in a row, then the status, the results and the range test in a column."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.lr_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.results)
        layout.addWidget(self.plot)
        layout.addWidget(self.lr_label)
        layout.addWidget(self.use_button)

    def _connect(self) -> None:
        """The buttons ask the window; Use this rate sends the suggestion when there is one."""
        self.check_button.clicked.connect(self.checkRequested)
        self.lr_button.clicked.connect(self.lrFindRequested)
        self.use_button.clicked.connect(
            lambda: self.suggestion is not None and self.useRate.emit(self.suggestion)
        )

    def reset(self) -> None:
        """Another project: the last one's results no longer apply."""
        self.suggestion = None
        for widget in (self.status, self.results, self.plot, self.lr_label, self.use_button):
            widget.hide()

    def set_enabled(self, enabled: bool) -> None:
        """Off while training or a check runs (one job at a time on the CPU)."""
        self.check_button.setEnabled(enabled)
        self.lr_button.setEnabled(enabled)

    def busy(self, text: str) -> None:
        self.set_enabled(False)
        self.status.setText(text)
        self.status.show()

    def failed(self, message: str) -> None:
        self.set_enabled(True)
        self.status.setText(f"<span style='color:{FAILED}'>{message}</span>")
        self.status.show()

    def show_checks(self, checks: list[dict[str, Any]]) -> None:
        self.set_enabled(True)
        failed = [c for c in checks if not c["passed"]]
        self.status.setText(
            f"{len(checks) - len(failed)} of {len(checks)} checks passed"
            + ("" if not failed else f": {', '.join(c['name'] for c in failed)} failed")
        )
        self.results.clear()
        for check in checks:
            mark = "✓" if check["passed"] else "✗"
            item = QListWidgetItem(f"{mark} {check['name']}: {check['message']}")
            item.setForeground(pg.mkColor(PASSED if check["passed"] else FAILED))
            item.setToolTip(f"value: {check['value']}\nexpected: {check['expected']}")
            self.results.addItem(item)
        self.results.show()

    def show_lr_find(self, result: dict[str, Any]) -> None:
        self.set_enabled(True)
        self.status.hide()
        lrs, losses = result["lrs"], result["losses"]
        self.curve.setData(lrs, losses)
        self.suggestion = result["suggestion"]
        for line, value in (
            (self.suggested, self.suggestion),
            (self.minimum, result["min_over_10"]),
        ):
            line.setVisible(value is not None)
            if value is not None:
                line.setValue(math.log10(value))
        if losses:
            top = min(max(losses), losses[0] + (losses[0] - min(losses)) * 0.5)
            span = (top - min(losses)) or 1.0
            self.plot.setYRange(min(losses) - span * 0.05, top + span * 0.05, padding=0)
            self.plot.setXRange(math.log10(lrs[0]), math.log10(lrs[-1]), padding=0.02)
        self.lr_label.setText(result["message"] + " (green: the valley; dashed: the minimum / 10)")
        self.use_button.setText(
            f"Use this rate ({self.suggestion:.2e})" if self.suggestion else "Use this rate"
        )
        self.use_button.setEnabled(self.suggestion is not None)
        for widget in (self.plot, self.lr_label, self.use_button):
            widget.show()
