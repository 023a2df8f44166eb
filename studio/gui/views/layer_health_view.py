"""The "Layers" view: each layer's health while training, from the run's `health` events.

A heat map of layers (rows, in stack order) against samples (columns) for the chosen measure:
the gradient norm of the layer's parameters, the share of dead units, or the update-to-weight
ratio; and for the selected layer its activation and output-gradient histograms, the latest as
bars and all of them over time as a second heat map. Clicking a row of the map, or a layer in the
stack, selects it. Warnings arrive with the events: `warned` carries the new ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from studio.core.train.events import WarningsSeen
from studio.gui.views.param_editors import CompactComboBox

# (label, key in the event's layers, log scale, what the colours mean)
MEASURES = {
    "Gradient norm": ("grad_norm", True, "log10 of the norm of the layer's parameter gradients"),
    "Dead share": ("dead_fraction", False, "share of a ReLU's units zero for the whole batch"),
    "Update ratio": ("update_ratio", True, "log10 of |step| / |weights| (about -3 is healthy)"),
}
BINS = 32
EMPTY = (
    "Layer health appears here while a model trains: every few steps, each layer's gradient, "
    "dead units and how far a step moves its weights (training.health)."
)
ROW_LABEL_PX = 14  # the height a layer's label needs on the heat map's axis


def _axis_plot(name: str, title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setObjectName(name)
    plot.setTitle(title, color="#d8dee9", size="9pt")
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
    plot.setMinimumSize(140, 90)
    for side in ("left", "bottom"):
        plot.getPlotItem().getAxis(side).enableAutoSIPrefix(False)
    return plot


class LayerHealthView(QWidget):
    layerSelected = Signal(str)  # a row of the heat map was clicked: the layer's path
    warned = Signal(list)  # new warnings (dicts of the event: layer, kind, message)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerHealthView")
        self.samples: list[dict[str, Any]] = []  # the health events of the run shown
        self.layers: list[tuple[str, str]] = []  # (path, type), rows of the map
        self.seen = WarningsSeen()
        self.selected: str | None = None
        self._make_header()
        self._make_heat_map()
        self._make_layer_plots()
        self._lay_out()
        self.measure.currentTextChanged.connect(lambda _: self._draw_heat())

    def _make_header(self) -> None:
        """The measure the heat map shows, and the summary of the run's health beside it."""
        self.measure = CompactComboBox(objectName="healthMeasure")
        self.measure.addItems(list(MEASURES))
        self.measure.setToolTip("what the heat map shows for each layer at each sample")
        self.summary = QLabel(EMPTY)
        self.summary.setObjectName("healthSummary")
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def _make_heat_map(self) -> None:
        """The heat map of layers over time, its colour bar and the selected layer's marker."""
        self.heat_plot = _axis_plot("healthHeatMap", "Layers over time")
        self.heat_plot.getPlotItem().invertY(True)  # the first layer on top, as in the stack
        self.heat_plot.setLabel("bottom", "step")
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat_plot.addItem(self.heat)
        self.colorbar = pg.ColorBarItem(
            colorMap=pg.colormap.get("viridis"), interactive=False, width=12
        )
        self.colorbar.setImageItem(self.heat, insert_in=self.heat_plot.getPlotItem())
        self.marker = pg.LinearRegionItem(
            orientation="horizontal", movable=False, brush=(255, 255, 255, 40), pen=None
        )
        self.marker.hide()
        self.heat_plot.addItem(self.marker)
        self.heat_plot.scene().sigMouseClicked.connect(self._clicked)

    def _make_layer_plots(self) -> None:
        """The selected layer's histograms, now (bars) and over time (images), and its label."""
        self.act_now = _axis_plot("activationHistogram", "Activations now")
        self.grad_now = _axis_plot("gradientHistogram", "Gradients now")
        self.act_time = _axis_plot("activationHistory", "Activations over time")
        self.grad_time = _axis_plot("gradientHistory", "Gradients over time")
        self.act_bars = pg.BarGraphItem(x=[], height=[], width=1, brush="#4f9dff")
        self.grad_bars = pg.BarGraphItem(x=[], height=[], width=1, brush="#ffb347")
        self.act_now.addItem(self.act_bars)
        self.grad_now.addItem(self.grad_bars)
        self.act_image = pg.ImageItem(axisOrder="row-major")
        self.grad_image = pg.ImageItem(axisOrder="row-major")
        for plot, image in ((self.act_time, self.act_image), (self.grad_time, self.grad_image)):
            image.setColorMap(pg.colormap.get("magma"))
            plot.addItem(image)
            plot.setLabel("bottom", "step")
        self.selected_label = QLabel("Select a layer (here or in the stack).")
        self.selected_label.setObjectName("healthSelected")
        self.selected_label.setWordWrap(True)
        self.selected_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def _lay_out(self) -> None:
        """The header on top, the heat map beside the layer's plots (hidden until a sample)."""
        top = QHBoxLayout()
        top.addWidget(QLabel("Measure"))
        top.addWidget(self.measure)
        top.addWidget(self.summary, 1)
        detail = QWidget()
        grid = QVBoxLayout(detail)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.selected_label)
        for pair in ((self.act_now, self.grad_now), (self.act_time, self.grad_time)):
            row = QHBoxLayout()
            for plot in pair:
                row.addWidget(plot)
            grid.addLayout(row, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.heat_plot)
        split.addWidget(detail)
        split.setSizes([500, 500])
        split.hide()  # until the first sample: the summary says what will appear
        self.split = split
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.placeholder = QWidget()  # holds the space while there is nothing to draw
        layout.addWidget(self.placeholder, 1)

    # ---------------------------------------------------------------- data in

    def clear(self) -> None:
        """A new run: nothing measured yet (the selection is kept)."""
        self.samples, self.layers, self.seen = [], [], WarningsSeen()
        self.heat.clear()
        for image in (self.act_image, self.grad_image):
            image.clear()
        self.act_bars.setOpts(x=[], height=[])
        self.grad_bars.setOpts(x=[], height=[])
        self.marker.hide()
        for plot in (self.heat_plot, self.act_time, self.grad_time):
            for side in ("left", "bottom"):
                plot.getPlotItem().getAxis(side).setTicks(None)
        self.summary.setText(EMPTY)
        self.split.hide()
        self.placeholder.show()
        self.selected_label.setText("Select a layer (here or in the stack).")
        self.selected_label.setToolTip("")

    def add_events(self, events: list[dict[str, Any]]) -> None:
        new = [e for e in events if e["event"] == "health"]
        if not new:
            return
        fresh = []
        for event in new:
            self.samples.append(event)
            fresh += self.seen.new(event["warnings"])
        known = {path for path, _ in self.layers}
        for layer in new[-1]["layers"]:
            if layer["path"] not in known:
                self.layers.append((layer["path"], layer["type"]))
        self.split.show()
        self.placeholder.hide()
        self._draw_heat()
        self._draw_selected()
        self._say()
        if fresh:
            self.warned.emit(fresh)

    @property
    def warnings(self) -> dict[str, list[dict[str, Any]]]:
        """Each layer's warnings (by its path), one a kind."""
        return self.seen.by_layer

    def select_layer(self, path: str | None) -> None:
        self.selected = path
        self._draw_selected()

    # ---------------------------------------------------------------- drawing

    def values(self, measure: str | None = None) -> np.ndarray:
        """The heat map's numbers: layers x samples, NaN where a measure does not apply."""
        key, log, _ = MEASURES[measure or self.measure.currentText()]
        rows = {path: i for i, (path, _) in enumerate(self.layers)}
        grid = np.full((len(self.layers), len(self.samples)), np.nan)
        for column, event in enumerate(self.samples):
            for layer in event["layers"]:
                value = layer.get(key)
                if value is None or layer["path"] not in rows:
                    continue
                if log:
                    value = math.log10(value) if value > 0 else np.nan
                grid[rows[layer["path"]], column] = value
        return grid

    def _draw_heat(self) -> None:
        if not self.samples:
            return
        name = self.measure.currentText()
        grid = self.values(name)
        finite = grid[np.isfinite(grid)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if MEASURES[name][0] == "dead_fraction":
            low, high = 0.0, 1.0
        if high <= low:
            high = low + 1e-6
        self.heat.setImage(grid, autoLevels=False, levels=(low, high))
        self.colorbar.setLevels((low, high))
        self.heat.setRect(0, 0, len(self.samples), len(self.layers))
        plot = self.heat_plot.getPlotItem()
        plot.setRange(xRange=(0, len(self.samples)), yRange=(0, len(self.layers)), padding=0)
        self._label_rows()
        every = max(1, len(self.samples) // 6)
        steps = [(i + 0.5, str(e["step"])) for i, e in enumerate(self.samples)][::every]
        plot.getAxis("bottom").setTicks([steps])
        self.heat_plot.setToolTip(f"{name}: {MEASURES[name][2]}")
        self._mark_selected()

    def _label_rows(self) -> None:
        """A label a row where they fit (every k-th row on a short map), the selected always."""
        height = max(1, self.heat_plot.getPlotItem().vb.height())
        every = max(1, math.ceil(len(self.layers) * ROW_LABEL_PX / height))
        rows = [
            (i + 0.5, f"{path} {kind}")
            for i, (path, kind) in enumerate(self.layers)
            if i % every == 0 or path == self.selected
        ]
        self.heat_plot.getPlotItem().getAxis("left").setTicks([rows])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.layers:
            self._label_rows()

    def _mark_selected(self) -> None:
        rows = [path for path, _ in self.layers]
        if self.selected in rows:
            at = rows.index(self.selected)
            self.marker.setRegion((at, at + 1))
            self.marker.show()
        else:
            self.marker.hide()

    def _draw_selected(self) -> None:
        self._mark_selected()
        if self.layers:
            self._label_rows()
        kind = dict(self.layers).get(self.selected) if self.selected is not None else None
        history = [
            (event["step"], layer)
            for event in self.samples
            for layer in event["layers"]
            if layer["path"] == self.selected
        ]
        if not history:
            self.selected_label.setText(
                "Select a layer (here or in the stack)."
                if self.selected is None or not self.samples
                else f"Layer {self.selected}: not measured (it has no output of its own)."
            )
            return
        step, latest = history[-1]
        self.selected_label.setText(_describe(self.selected, kind, step, latest))
        self.selected_label.setToolTip(
            "\n".join(w["message"] for w in self.warnings.get(self.selected, []))
        )
        for key, bars, image, plot in (
            ("act_hist", self.act_bars, self.act_image, self.act_time),
            ("grad_hist", self.grad_bars, self.grad_image, self.grad_time),
        ):
            _draw_histogram(bars, latest.get(key))
            _draw_history(image, plot, [(s, layer.get(key)) for s, layer in history])
        for plot in (self.act_now, self.grad_now):
            plot.getPlotItem().autoRange()

    def _say(self) -> None:
        count = sum(len(w) for w in self.warnings.values())
        last = self.samples[-1]
        said = f"{len(self.samples)} samples, latest at step {last['step']}"
        if count:
            first = next(iter(self.warnings.values()))[0]["message"]
            said += f" · {count} warning{'s' if count > 1 else ''}: {first}"
        else:
            said += " · no warnings"
        self.summary.setText(said)

    def _clicked(self, event) -> None:
        point = self.heat_plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        row = int(point.y())
        if self.heat_plot.sceneBoundingRect().contains(event.scenePos()) and 0 <= row < len(
            self.layers
        ):
            path = self.layers[row][0]
            self.select_layer(path)
            self.layerSelected.emit(path)


def _describe(path: str, kind: str | None, step: int, layer: dict[str, Any]) -> str:
    def show(key: str, label: str, percent: bool = False) -> str | None:
        value = layer.get(key)
        if value is None:
            return None
        return f"{label} {value:.1%}" if percent else f"{label} {value:.3g}"

    parts = [
        show("act_mean", "mean"),
        show("act_std", "std"),
        show("zero_fraction", "zeros", True),
        show("dead_fraction", "dead", True),
        show("grad_norm", "grad norm"),
        show("update_ratio", "update ratio"),
    ]
    return f"<b>Layer {path} ({kind})</b> at step {step}: " + ", ".join(p for p in parts if p)


def _draw_histogram(bars: pg.BarGraphItem, histogram: dict[str, Any] | None) -> None:
    if not histogram:
        bars.setOpts(x=[], height=[])
        return
    low, high, counts = histogram["min"], histogram["max"], histogram["counts"]
    width = (high - low) / len(counts) or 1e-12
    centres = [low + width * (i + 0.5) for i in range(len(counts))]
    bars.setOpts(x=centres, height=counts, width=width * 0.9)


def _draw_history(
    image: pg.ImageItem, plot: pg.PlotWidget, history: list[tuple[int, dict | None]]
) -> None:
    """Each sample's histogram as a column, on value bins shared by all of them."""
    drawn = [(step, h) for step, h in history if h]
    if not drawn:
        image.clear()
        return
    low = min(h["min"] for _, h in drawn)
    high = max(h["max"] for _, h in drawn)
    high = high if high > low else low + 1e-12
    grid = np.zeros((BINS, len(drawn)))
    for column, (_, h) in enumerate(drawn):
        width = (h["max"] - h["min"]) / len(h["counts"])
        centres = h["min"] + width * (np.arange(len(h["counts"])) + 0.5)
        counts, _ = np.histogram(centres, bins=BINS, range=(low, high), weights=h["counts"])
        total = counts.sum()
        grid[:, column] = counts / total if total else 0
    image.setImage(grid, autoLevels=False, levels=(0, max(1e-9, float(grid.max()))))
    image.setRect(0, low, len(drawn), high - low)
    item = plot.getPlotItem()
    item.setRange(xRange=(0, len(drawn)), yRange=(low, high), padding=0)
    every = max(1, len(drawn) // 4)
    item.getAxis("bottom").setTicks(
        [[(i + 0.5, str(s)) for i, (s, _) in enumerate(drawn)][::every]]
    )
