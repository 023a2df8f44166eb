"""The Sweep tab: a sweep file's trials as they arrive, a table with the best trial highlighted,
the objective against the parameter chosen, and a trial opened as a new project. Running the sweep
and reading its study are the window's (actions/sweep_actions.py): this view asks for them, and
for a fresh reading every 2 s while it is shown or the sweep runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.gui.views.param_editors import CompactComboBox

REFRESH_MS = 2000
BEST = QColor("#2e5a37")


class SweepView(QWidget):
    openRequested = Signal(object)  # a run folder to open as a new project
    refreshRequested = Signal()  # the window reads the study in the background
    browseRequested = Signal()  # "Open sweep…": the window asks for the file
    runRequested = Signal()  # "Run sweep"
    stopRequested = Signal()  # "Stop": as Ctrl-C

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sweepView")
        self.sweep = None  # the loaded Sweep (core/runs/sweep.py)
        self.storage = ""
        self.runs_dir: Path | None = None
        self.summary: dict[str, Any] | None = None
        self._running = False  # the window says when its sweep process starts and ends
        self._make_widgets()
        self._lay_out()
        self._connect()
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refreshRequested)
        self._buttons()

    def _make_widgets(self) -> None:
        """The buttons, the status line, the trials table and the objective's plot."""
        self.open_button = QPushButton("Open sweep…", objectName="sweepOpenButton")
        self.run_button = QPushButton("Run sweep", objectName="sweepRunButton")
        self.stop_button = QPushButton("Stop", objectName="sweepStopButton")
        self.trial_button = QPushButton("Open trial as project", objectName="sweepTrialButton")
        self.status = QLabel("Open a sweep file to search a project's settings with Optuna.")
        self.status.setObjectName("sweepStatus")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.table = QTableWidget(0, 3, objectName="sweepTrials")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.parameter = CompactComboBox(objectName="sweepParameter")
        self.parameter.setToolTip("the parameter on the plot's horizontal axis")
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("sweepPlot")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for side in ("bottom", "left"):
            self.plot.getPlotItem().getAxis(side).enableAutoSIPrefix(False)
        self.plot.setMinimumSize(200, 150)
        self.plot.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.points = pg.ScatterPlotItem(size=8, brush="#4f9dff", pen=None)
        self.best_point = pg.ScatterPlotItem(size=14, brush=None, pen=pg.mkPen("#7bd88f", width=2))
        self.plot.addItem(self.points)
        self.plot.addItem(self.best_point)

    def _lay_out(self) -> None:
        """The buttons and status on top; the trials table beside the plot and its axis picker."""
        buttons = QHBoxLayout()
        for button in (self.open_button, self.run_button, self.stop_button, self.trial_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        right = QWidget()
        side = QVBoxLayout(right)
        side.setContentsMargins(0, 0, 0, 0)
        axis = QHBoxLayout()
        axis.addWidget(QLabel("Objective against"))
        axis.addWidget(self.parameter, 1)
        side.addLayout(axis)
        side.addWidget(self.plot, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setSizes([560, 440])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)

    def _connect(self) -> None:
        """The buttons ask the window; the parameter redraws; a selection updates the buttons."""
        self.open_button.clicked.connect(self.browseRequested)
        self.run_button.clicked.connect(self.runRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        self.trial_button.clicked.connect(self._open_trial)
        self.parameter.currentTextChanged.connect(lambda _: self._draw())
        self.table.itemSelectionChanged.connect(self._buttons)

    # ---------------------------------------------------------------- the sweep

    def load(self, sweep, storage: str, runs_dir: Path) -> None:
        from studio.core.runs.study import masked

        self.sweep, self.storage, self.runs_dir = sweep, storage, runs_dir
        self.parameter.blockSignals(True)
        self.parameter.clear()
        self.parameter.addItems([d.path for d in sweep.space])
        self.parameter.blockSignals(False)
        self.summary = None
        self.table.setRowCount(0)
        self.status.setText(
            f"{sweep.name}: {sweep.trials} trials of {sweep.project_file.name}, "
            f"{sweep.direction} {sweep.metric} · study in {masked(storage)}"
        )
        self._buttons()
        self.refreshRequested.emit()

    def running(self) -> bool:
        return self._running

    def set_running(self, running: bool) -> None:
        self._running = running
        if running:
            self.timer.start()
        self._buttons()

    def show_study(self, summary: dict[str, Any]) -> None:
        """A fresh reading of the study: the table and the plot."""
        self.summary = summary
        params = [d.path for d in self.sweep.space] if self.sweep else []
        headers = ["Trial", "State", summary["metric"], *params]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels([h.split(".")[-1] for h in headers])
        best = (summary.get("best") or {}).get("number")
        self.table.setRowCount(len(summary["trials"]))
        for row, trial in enumerate(summary["trials"]):
            value = trial["value"]
            cells = [str(trial["number"]), trial["state"], "" if value is None else f"{value:.4g}"]
            cells += [_show(trial["params"].get(p)) for p in params]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if trial["number"] == best:
                    item.setBackground(BEST)
                    item.setToolTip("the best trial so far")
                self.table.setItem(row, column, item)
        done = sum(t["state"] in ("complete", "pruned") for t in summary["trials"])
        said = f"{done} of {self.sweep.trials} trials done" if self.sweep else ""
        if best is not None:
            said += f" · best: trial {best}, {summary['metric']} {summary['best']['value']:.4g}"
        if self.running():
            said += " · running…"
        self.status.setText(said)
        self._draw()
        self._buttons()
        if not self.running() and not self.isVisible():
            self.timer.stop()

    def _draw(self) -> None:
        if not self.summary:
            return
        name = self.parameter.currentText()
        shown = [
            (t["params"][name], t["value"], t["number"])
            for t in self.summary["trials"]
            if t["value"] is not None and isinstance(t["params"].get(name), (int, float))
        ]
        log = any(d.path == name and d.log for d in (self.sweep.space if self.sweep else []))
        # scatter items take no log mode: the points go in as log10, the axis labels them back
        self.plot.getPlotItem().getAxis("bottom").setLogMode(log)
        xs = [math.log10(x) if log and x > 0 else x for x, _, _ in shown]
        self.points.setData(xs, [v for _, v, _ in shown])
        best = (self.summary.get("best") or {}).get("number")
        chosen = [(x, v) for x, (_, v, n) in zip(xs, shown, strict=True) if n == best]
        self.best_point.setData([x for x, _ in chosen], [v for _, v in chosen])
        self.plot.setLabel("bottom", name.split(".")[-1])
        self.plot.setLabel("left", self.summary["metric"])
        self.plot.getPlotItem().autoRange()

    # ---------------------------------------------------------------- buttons

    def selected_trial(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows() if self.summary else []
        return self.summary["trials"][rows[0].row()] if rows else None

    def _open_trial(self) -> None:
        trial = self.selected_trial()
        if trial and trial.get("run"):
            self.openRequested.emit(Path(trial["run"]))

    def _buttons(self) -> None:
        running = self.running()
        self.run_button.setEnabled(self.sweep is not None and not running)
        self.stop_button.setEnabled(running)
        trial = self.selected_trial()
        self.trial_button.setEnabled(bool(trial and trial.get("run")))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.sweep is not None:
            self.refreshRequested.emit()
            self.timer.start()


def _show(value) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)
