"""The window's views, made once the core has loaded, and where they sit: docks around the layer
stack, the curves and the evaluation in tabs below it. Each view gets the document (or plain data)
and talks through signals; none of them knows the window.

Where the docks sit is remembered between sessions (QSettings, settings.py). A saved layout that
cannot be used is ignored: one from another layout version, or one in which every dock is hidden
(Qt itself brings a window or a floating dock saved on a screen that is gone onto one that is
there). View > Reset layout restores the default at any time."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QWidget,
)

from studio.gui.document import ProjectDocument
from studio.gui.settings import settings
from studio.gui.views.data_panel import DataPanel
from studio.gui.views.evaluation_view import EvaluationView
from studio.gui.views.layer_form import LayerForm
from studio.gui.views.layer_health_view import LayerHealthView
from studio.gui.views.palette import LayerPalette
from studio.gui.views.plots import TrainingPlots
from studio.gui.views.runs_view import RunsView
from studio.gui.views.stack_view import LayerStackView
from studio.gui.views.sweep_view import SweepView
from studio.gui.views.training_panel import TrainingPanel

LAYOUT_VERSION = 2  # of the saved dock layout; a layout saved under another is not restored


@dataclass
class Views:
    palette: LayerPalette
    stack: LayerStackView
    form: LayerForm
    data_panel: DataPanel
    training_panel: TrainingPanel
    plots: TrainingPlots
    health: LayerHealthView
    evaluation: EvaluationView
    runs: RunsView
    sweep: SweepView
    bottom_tabs: QTabWidget  # the curves, layer health and the evaluation, below the stack
    docks: list[QDockWidget]  # palette, form, data, training: the View menu toggles them
    default_state: QByteArray  # the docks as first placed: what View > Reset layout restores

    def show_tab(self, widget: QWidget) -> None:
        self.bottom_tabs.setCurrentWidget(widget)


def build_views(window: QMainWindow, document: ProjectDocument, devices) -> Views:
    """Make the views and place them in `window` (its layout restored from the last session)."""
    palette = LayerPalette()
    palette.setMinimumWidth(210)
    palette.populate()
    form = LayerForm()
    form.setMinimumHeight(250)
    data_panel = DataPanel(document)
    data_panel.populate()
    training_panel = TrainingPanel(document)
    training_panel.populate(devices)
    stack, plots, evaluation = LayerStackView(), TrainingPlots(), EvaluationView()
    health, runs, sweep = LayerHealthView(), RunsView(), SweepView()

    tabs = QTabWidget(objectName="bottomTabs")
    tabs.addTab(plots, "Training curves")
    tabs.addTab(health, "Layer health")
    tabs.addTab(evaluation, "Evaluation")
    tabs.addTab(runs, "Runs")
    tabs.addTab(sweep, "Sweep")
    splitter = QSplitter(Qt.Orientation.Vertical)
    splitter.addWidget(stack)
    splitter.addWidget(tabs)
    splitter.setSizes([520, 340])
    window.setCentralWidget(splitter)

    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    docks = [
        _dock(window, "Layers", palette, left, "paletteDock"),
        _dock(window, "Layer arguments", form, right, "formDock"),
        _dock(window, "Data", data_panel, right, "dataDock"),
        _dock(window, "Training", training_panel, right, "trainingDock"),
    ]
    window.tabifyDockWidget(docks[2], docks[3])
    docks[3].raise_()
    views = Views(
        palette, stack, form, data_panel, training_panel, plots, health, evaluation, runs, sweep,
        tabs, docks, window.saveState(LAYOUT_VERSION),
    )  # fmt: skip
    restore_layout(window, views)
    return views


def restore_layout(window: QMainWindow, views: Views) -> None:
    """The last session's docks, unless that layout cannot be used (see the module)."""
    state = settings().value("windowState")
    if not (
        isinstance(state, QByteArray)
        and window.restoreState(state, LAYOUT_VERSION)  # Qt moves floating docks onto a screen
        and any(not dock.isHidden() for dock in views.docks)
    ):
        reset_layout(window, views)


def reset_layout(window: QMainWindow, views: Views) -> None:
    """Every dock back where it first was, shown, and sized to the window."""
    window.restoreState(views.default_state, LAYOUT_VERSION)
    for dock in views.docks:
        dock.setFloating(False)
        dock.show()
    QTimer.singleShot(0, lambda: _size_docks(window, views.docks))  # once the window is laid out


def save_layout(window: QMainWindow) -> None:
    state = settings()
    state.setValue("geometry", window.saveGeometry())
    state.setValue("windowState", window.saveState(LAYOUT_VERSION))


def _size_docks(window: QMainWindow, docks: list[QDockWidget]) -> None:
    """In proportion to the window, which is sized to the screen: the palette narrow, the
    panels on the right wide enough for their forms, Data / Training taller than the form."""
    width, height = window.width(), window.height()
    horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
    sides = [max(200, width // 7), max(380, width * 3 // 10)]
    window.resizeDocks([docks[0], docks[1]], sides, horizontal)
    window.resizeDocks([docks[1], docks[3]], [height * 2 // 5, height * 3 // 5], vertical)
    docks[3].raise_()  # Training in front of Data: its Train button is what a new user looks for


def _dock(
    window: QMainWindow, title: str, widget: QWidget, area: Qt.DockWidgetArea, name: str
) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(_scrolled(widget))
    window.addDockWidget(area, dock)
    return dock


def _scrolled(widget: QWidget) -> QWidget:
    """A panel taller than its dock scrolls, instead of pushing the window past the screen (or
    painting over its neighbours). Views that scroll by themselves are left as they are."""
    if isinstance(widget, (QAbstractScrollArea, LayerPalette)):
        return widget
    area = QScrollArea()
    area.setObjectName(f"{widget.objectName() or type(widget).__name__}Scroll")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    return area
