"""Live training curves (pyqtgraph): loss per step (raw, faint, and smoothed) with validation per
epoch, accuracy, learning rate. Data arrives through `add_event`; curves redraw from a timer."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

BUDGET = 0.1  # at most this share of the GUI thread's time goes to redrawing plots
MIN_INTERVAL_MS, MAX_INTERVAL_MS = 100, 2000
SMOOTHING = 0.6  # EMA weight; debiased so the curve starts where the data does
COLORS = {"train": "#4f9dff", "val": "#ffb347", "raw": (79, 157, 255, 70), "lr": "#7bd88f"}
OVERLAY = ["#b48ead", "#88c0d0", "#d08770", "#a3be8c"]
# One plot is repainted per redraw, in this order: a paint costs ~12 ms of Python (pyqtgraph),
# so three at once held the event loop for ~40 ms; the loss curve, watched most, comes round twice.
ROTATION = ("loss", "accuracy", "loss", "lr")
SYMBOLS_UP_TO = 60
# The second plot shows the task's scores: its two curves' metrics, its title and their names;
# the one whose metrics an epoch reports most of (classification, segmentation, multi-label,
# detection: a multi-label task and a detection both report val_map).
SCORE_PLOTS = (
    ("train_acc", "val_acc", "Accuracy", ("train", "validation")),
    ("val_pixel_acc", "val_miou", "mIoU", ("pixel accuracy", "mIoU")),
    ("val_map", "val_f1", "F1 and mAP", ("mAP", "F1")),
    ("val_map50", "val_map", "mAP", ("mAP50", "mAP")),
)


class _TimedPlotWidget(pg.PlotWidget):
    """A PlotWidget that adds the time it spends painting to `cost`, for the redraw budget."""

    cost = [0.0]

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        super().paintEvent(event)
        _TimedPlotWidget.cost[0] += time.perf_counter() - started


def _plot(name: str, title: str, left: str) -> pg.PlotWidget:
    widget = _TimedPlotWidget()
    widget.setObjectName(name)
    widget.setTitle(title, color="#d8dee9", size="10pt")
    widget.setLabel("left", left)
    widget.showGrid(x=True, y=True, alpha=0.15)
    widget.addLegend(offset=(-10, 10), labelTextColor="#d8dee9")
    item = widget.getPlotItem()
    for side in ("left", "bottom"):
        item.getAxis(side).enableAutoSIPrefix(False)
    # fixed geometry: changing tick labels must not relayout (and repaint) the window
    item.getAxis("left").setWidth(52)
    widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
    item.disableAutoRange()  # ranges are set once per redraw (auto-ranging repaints repeatedly)
    widget.setMinimumSize(160, 140)
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    return widget


def _fit(plot: pg.PlotWidget, xs: list[float], ys: list[float], log: bool = False) -> None:
    """Keep all of xs and ys in view. The range changes only when the data leaves it (the x
    range then grows by half again): a range change costs a second repaint."""
    ys = [math.log10(y) if log else y for y in ys if y == y and (y > 0 or not log)]
    if not xs or not ys:
        return
    low, high, x_low, x_high = min(ys), max(ys), min(xs), max(xs)
    margin = (high - low) * 0.06 or abs(high) * 0.1 or 1.0
    (vx0, vx1), (vy0, vy1) = plot.getPlotItem().viewRange()
    inside = vx0 <= x_low and x_high <= vx1 and vy0 <= low and high <= vy1
    snug = (vy1 - vy0) <= 3 * (high - low + 2 * margin) and (vx1 - vx0) <= 3 * (x_high - x_low + 1)
    if inside and snug:
        return
    plot.setRange(
        xRange=(x_low, x_low + (x_high - x_low) * 1.5 + 1),
        yRange=(low - margin, high + margin),
        padding=0.02,
    )


class TrainingPlots(QWidget):
    overlayRequested = Signal()  # "Overlay earlier runs" was pressed
    exportRequested = Signal(str)  # "png" or "csv": the window asks where
    redrawn = Signal(int, float)  # points on the loss curve, seconds the redraw took with its paint

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="#1f232b", foreground="#aab2c0")
        self._make_plots()
        self._make_tools()
        self._lay_out()
        self._connect()
        self.overlays: list[Any] = []
        self._task_metrics: dict[str, float] = {}  # the loaded data's task's, until an epoch's
        self.clear()
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    def _make_plots(self) -> None:
        """The loss, accuracy and learning-rate plots, and a curve for each series they draw."""
        self.loss_plot = _plot("lossPlot", "Loss", "loss")
        self.accuracy_plot = _plot("accuracyPlot", "Accuracy", "accuracy")
        self.lr_plot = _plot("lrPlot", "Learning rate", "lr")
        self.loss_plot.setLabel("bottom", "step")
        self.accuracy_plot.setLabel("bottom", "epoch")
        self.lr_plot.setLabel("bottom", "step")
        self.raw = self.loss_plot.plot(
            pen=pg.mkPen(COLORS["raw"], width=1), name="train (per report)"
        )
        self.smooth = self.loss_plot.plot(
            pen=pg.mkPen(COLORS["train"], width=2), name="train (smoothed)"
        )
        self.val_loss = self.loss_plot.plot(
            pen=pg.mkPen(COLORS["val"], width=2),
            symbol="o",
            symbolSize=6,
            symbolBrush=COLORS["val"],
            name="validation",
        )
        self.train_acc = self.accuracy_plot.plot(
            pen=pg.mkPen(COLORS["train"], width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush=COLORS["train"],
            name="train",
        )
        self.val_acc = self.accuracy_plot.plot(
            pen=pg.mkPen(COLORS["val"], width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush=COLORS["val"],
            name="validation",
        )
        self.lr = self.lr_plot.plot(pen=pg.mkPen(COLORS["lr"], width=2), name="lr")

    def _make_tools(self) -> None:
        """The log-scale switch, the overlay button and the two export buttons."""
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setObjectName("logScale")
        self.compare = QPushButton("Overlay earlier runs")
        self.compare.setObjectName("overlayRuns")
        self.export_png = QPushButton("Export PNG…")
        self.export_csv = QPushButton("Export CSV…")

    def _lay_out(self) -> None:
        """The three plots in a row, the loss widest, and the tools under them."""
        tools = QHBoxLayout()
        for w in (self.log_scale, self.compare):
            tools.addWidget(w)
        tools.addStretch(1)
        for w in (self.export_png, self.export_csv):
            tools.addWidget(w)
        row = QHBoxLayout()
        row.addWidget(self.loss_plot, 3)
        row.addWidget(self.accuracy_plot, 2)
        row.addWidget(self.lr_plot, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row, 1)
        layout.addLayout(tools)

    def _connect(self) -> None:
        """Log scale redraws here; overlay and export ask the window."""
        self.log_scale.toggled.connect(self.set_log_scale)
        self.compare.clicked.connect(self.overlayRequested)
        self.export_png.clicked.connect(lambda: self.exportRequested.emit("png"))
        self.export_csv.clicked.connect(lambda: self.exportRequested.emit("csv"))

    def clear(self) -> None:
        self.steps: list[float] = []
        self.step_loss: list[float] = []
        self.smoothed: list[float] = []
        self.epochs: list[dict[str, Any]] = []
        self.lrs: list[tuple[float, float]] = []
        self._ema = 0.0
        self.score: tuple | None = None
        self._show_scores_of(self._task_metrics)  # the loaded data's, until an epoch says
        self._stale = set(ROTATION)
        self._turn = -1

    def show_task(self, dataset) -> None:
        """Title the score plot for the loaded data's task (a detection's mAP) before its first
        epoch reports them."""
        from studio.core.tasks import make_task

        task = make_task(dataset.task, "", dataset.classes)
        self._task_metrics = dict.fromkeys(task.metrics, 0.0)
        if not self.epochs:
            self._show_scores_of(self._task_metrics)

    def add_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.add_event(event)

    def add_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "step":
            self._add_step(event["step"], event["train_loss"], event["lr"])
        elif kind == "epoch":
            if not self.epochs:
                self._show_scores_of(event)
            self.epochs.append(event)
            if not self.steps or self.steps[-1] < event["step"]:  # no step event in between
                self._add_step(event["step"], event["train_loss"], event["lr"])
        self._stale.update(("loss", "lr") if kind == "step" else ROTATION)

    def _show_scores_of(self, epoch: dict[str, Any]) -> None:
        """Title and name the score plot's curves for the task this epoch's metrics come from."""
        score = max(SCORE_PLOTS, key=lambda p: (p[0] in epoch) + (p[1] in epoch))  # ties: first
        if score == self.score:
            return
        self.score = score
        self.accuracy_plot.setTitle(score[2], color="#d8dee9", size="10pt")
        title = score[2]  # "accuracy" on its axis; acronyms (mAP, mIoU) as they are written
        self.accuracy_plot.setLabel(
            "left", title if title[1:] != title[1:].lower() else title.lower()
        )
        legend = self.accuracy_plot.getPlotItem().legend
        for curve, name in zip((self.train_acc, self.val_acc), score[3], strict=True):
            curve.opts["name"] = name
            legend.removeItem(curve)
            legend.addItem(curve, name)

    def _add_step(self, step: int, loss: float, lr: float) -> None:
        self._ema = SMOOTHING * self._ema + (1 - SMOOTHING) * loss
        self.steps.append(step)
        self.step_loss.append(loss)
        self.smoothed.append(self._ema / (1 - SMOOTHING ** len(self.steps)))
        self.lrs.append((step, lr))

    def redraw(self) -> None:
        """Push new data to the curves. The next redraw waits until the painting this one
        caused fits within BUDGET of the time: pyqtgraph paints in Python, holding the
        interpreter that the training thread needs too."""
        if not self._stale or not self.isVisible():
            return
        started = time.perf_counter()
        for _ in ROTATION:
            self._turn = (self._turn + 1) % len(ROTATION)
            if ROTATION[self._turn] in self._stale:
                break
        name = ROTATION[self._turn]
        self._stale.discard(name)
        {"loss": self._draw_loss, "accuracy": self._draw_accuracy, "lr": self._draw_lr}[name]()
        spent = time.perf_counter() - started + _TimedPlotWidget.cost[0]
        _TimedPlotWidget.cost[0] = 0.0
        self.redrawn.emit(len(self.steps), spent)
        self._timer.setInterval(
            int(min(MAX_INTERVAL_MS, max(MIN_INTERVAL_MS, spent * 1000 / BUDGET)))
        )

    def flush(self) -> None:
        """Bring every plot up to date now (the end of a run, a saved picture)."""
        self._stale.clear()
        self._draw_loss()
        self._draw_accuracy()
        self._draw_lr()

    @staticmethod
    def _mark_points(curve, count: int) -> None:
        """Dots on epoch points while they can be told apart; beyond that they only cost paint time."""
        wanted = "o" if count <= SYMBOLS_UP_TO else None
        if curve.opts.get("symbol") != wanted:
            curve.setSymbol(wanted)

    def _draw_loss(self) -> None:
        self.raw.setData(self.steps, self.step_loss)
        self.smooth.setData(self.steps, self.smoothed)
        epochs = [e for e in self.epochs if "val_loss" in e]
        self._mark_points(self.val_loss, len(epochs))
        self.val_loss.setData([e["step"] for e in epochs], [e["val_loss"] for e in epochs])
        _fit(
            self.loss_plot,
            self.steps,
            self.step_loss + [e["val_loss"] for e in epochs],
            self.log_scale.isChecked(),
        )

    def _draw_accuracy(self) -> None:
        first, second = self.score[:2]
        with_first = [e for e in self.epochs if first in e]
        with_second = [e for e in self.epochs if second in e]
        self._mark_points(self.train_acc, len(with_first))
        self._mark_points(self.val_acc, len(with_second))
        self.train_acc.setData([e["epoch"] for e in with_first], [e[first] for e in with_first])
        self.val_acc.setData([e["epoch"] for e in with_second], [e[second] for e in with_second])
        _fit(
            self.accuracy_plot,
            [e["epoch"] for e in self.epochs],
            [e[first] for e in with_first] + [e[second] for e in with_second],
        )

    def _draw_lr(self) -> None:
        rates = [v for _, v in self.lrs]
        self.lr.setData([s for s, _ in self.lrs], rates)
        _fit(self.lr_plot, [s for s, _ in self.lrs], rates + [0.0])

    def set_log_scale(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self._draw_loss()

    def overlay(self, runs) -> int:
        """Draw earlier runs' epoch curves (dashed) behind the live ones; returns how many."""
        for item, plot in self.overlays:
            plot.removeItem(item)
        self.overlays = []
        for color, run in zip(OVERLAY, runs, strict=False):
            epochs = run.epochs
            pen = pg.mkPen(color, width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
            label = run.path.name
            if epochs and "val_loss" in epochs[0]:
                item = self.loss_plot.plot(
                    [e["step"] for e in epochs],
                    [e["val_loss"] for e in epochs],
                    pen=pen,
                    name=f"{label} val",
                )
                self.overlays.append((item, self.loss_plot))
            score = self.score[1]
            if epochs and score in epochs[0]:
                item = self.accuracy_plot.plot(
                    [e["epoch"] for e in epochs],
                    [e[score] for e in epochs],
                    pen=pen,
                    name=f"{label} val",
                )
                self.overlays.append((item, self.accuracy_plot))
        return len(runs)

    def save_png(self, path: Path) -> None:
        self.flush()
        self.grab().save(str(path))

    def save_csv(self, path: Path) -> None:
        keys = [
            "epoch",
            "step",
            "train_loss",
            "train_acc",
            "val_loss",
            "val_acc",
            *dict.fromkeys(
                m for p in SCORE_PLOTS[1:] for m in p[:2] if any(m in e for e in self.epochs)
            ),
            *sorted({k for e in self.epochs for k in e if k.startswith("loss_")}),  # a detector's
            "lr",
            "samples_per_second",
        ]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
            writer.writeheader()
            for event in self.epochs:
                writer.writerow(event)
