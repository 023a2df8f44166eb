"""Builds the window's views, docks, menus and toolbar once the core has loaded."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QToolBar

from studio import __version__
from studio.core.paths import resources_dir
from studio.gui.data_panel import DataPanel
from studio.gui.evaluation_view import EvaluationView
from studio.gui.layer_actions import LayerActions
from studio.gui.layer_form import LayerForm
from studio.gui.model_actions import ModelActions
from studio.gui.palette import LayerPalette
from studio.gui.stack_view import LayerStackView
from studio.gui.training_panel import TrainingPanel

TEMPLATE_TITLES = {
    "digits-mlp.json": "Digits MLP (bundled data)",
    "spirals-mlp.json": "2-D spirals (teaching)",
    "mnist-lenet.json": "LeNet-5 for MNIST",
    "cifar-resnet.json": "Small ResNet for CIFAR-10",
    "text-lstm.json": "LSTM text classifier",
}


def build_views(window, devices) -> None:
    from studio.gui.plots import TrainingPlots

    document = window.document
    window.palette_view = LayerPalette()
    window.palette_view.setMinimumWidth(210)
    window.palette_view.populate()
    window.stack = LayerStackView()
    window.form = LayerForm()
    window.form.setMinimumHeight(250)
    window.data_panel = DataPanel(document)
    window.data_panel.populate()
    window.training_panel = TrainingPanel(document)
    window.training_panel.populate(devices)
    window.plots = TrainingPlots()
    window.evaluation = EvaluationView()
    window.layer_actions = LayerActions(window, document, window.stack)
    window.model_actions = ModelActions(window)
    window.central(
        window.stack, [(window.plots, "Training curves"), (window.evaluation, "Evaluation")]
    )
    window.model_actions.refresh_runs()
    left = Qt.DockWidgetArea.LeftDockWidgetArea
    right = Qt.DockWidgetArea.RightDockWidgetArea
    docks = [
        window.dock("Layers", window.palette_view, left, "paletteDock"),
        window.dock("Layer arguments", window.form, right, "formDock"),
        window.dock("Data", window.data_panel, right, "dataDock"),
        window.dock("Training", window.training_panel, right, "trainingDock"),
    ]
    window.tabifyDockWidget(docks[2], docks[3])
    docks[3].raise_()
    window.resizeDocks([docks[0]], [230], Qt.Orientation.Horizontal)
    window.resizeDocks([docks[1]], [400], Qt.Orientation.Horizontal)
    window.resizeDocks([docks[1], docks[3]], [330, 520], Qt.Orientation.Vertical)
    _connect(window)
    _menus(window, docks)
    from studio.gui.main_window import settings

    state = settings().value("windowState")
    if isinstance(state, QByteArray):
        window.restoreState(state)


def _connect(window) -> None:
    actions = window.layer_actions
    window.palette_view.layerChosen.connect(actions.add)
    window.stack.selectionChangedTo.connect(window.select_layer)
    window.stack.fixRequested.connect(actions.fix)
    window.stack.dropped.connect(
        lambda kind, path, index: (
            actions.add_at(kind, index) if kind else actions.move_to(path, index)
        )
    )
    window.form.argumentChanged.connect(actions.set_argument)
    window.data_panel.loadRequested.connect(window.load_dataset)
    window.data_panel.cancelRequested.connect(window.cancel_dataset)
    window.training_panel.trainRequested.connect(window.train)
    window.training_panel.pauseToggled.connect(window.toggle_pause)
    window.training_panel.stopRequested.connect(window.stop_training)
    window.plots.compare.clicked.connect(lambda: _overlay_runs(window))
    window.plots.export_png.clicked.connect(
        lambda: _export(window, "PNG image (*.png)", window.plots.save_png)
    )
    window.plots.export_csv.clicked.connect(
        lambda: _export(window, "CSV table (*.csv)", window.plots.save_csv)
    )


def _menus(window, docks) -> None:
    undo = window.document.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    undo.setObjectName("undoAction")
    redo = window.document.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
    redo.setObjectName("redoAction")
    window.undo_action, window.redo_action = undo, redo
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    new_menu = file_menu.addMenu("&New from template")
    for name, title in TEMPLATE_TITLES.items():
        path = resources_dir() / "templates" / name
        if path.exists():
            new_menu.addAction(title, lambda p=path: window.new_from_template(p))
    file_menu.addAction(
        window.shortcut("&Open…", QKeySequence.StandardKey.Open, window.open_dialog)
    )
    window.recent_menu = file_menu.addMenu("Open &Recent")
    window.fill_recent_menu()
    file_menu.addAction(window.shortcut("&Save", QKeySequence.StandardKey.Save, window.save))
    file_menu.addAction(
        window.shortcut("Save &As…", QKeySequence.StandardKey.SaveAs, window.save_as)
    )
    file_menu.addSeparator()
    file_menu.addAction(window.shortcut("&Quit", QKeySequence.StandardKey.Quit, window.close))
    edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([undo, redo])
    edit_menu.addSeparator()
    edit_menu.addActions(list(window.layer_actions.actions.values()))
    view_menu = bar.addMenu("&View")
    for dock in docks:
        view_menu.addAction(dock.toggleViewAction())
    run_menu = bar.addMenu("&Run")
    train = window.shortcut("&Train", "Ctrl+R", window.train)
    stop = window.shortcut("&Stop", "Ctrl+.", window.stop_training)
    run_menu.addActions(
        [train, window.shortcut("&Pause / Resume", None, window.toggle_pause), stop]
    )
    run_menu.addSeparator()
    models = window.model_actions
    evaluate = window.shortcut("&Evaluate latest run", "Ctrl+E", lambda: models.evaluate())
    export = window.shortcut("E&xport model…", "Ctrl+Shift+E", models.open_export_dialog)
    export.setObjectName("exportAction")
    predict = window.shortcut("&Predict on files…", None, lambda: _predict_dialog(window))
    run_menu.addActions([evaluate, export, predict])
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(
        "&About Torch Studio",
        lambda: QMessageBox.about(
            window,
            "About Torch Studio",
            f"<b>Torch Studio {__version__}</b><p>Build, train and export PyTorch models.</p>",
        ),
    )
    tools = QToolBar("Main", window)
    tools.setObjectName("mainToolbar")
    tools.setMovable(False)
    tools.addAction(window.shortcut("Open", None, window.open_dialog))
    tools.addAction(window.shortcut("Save", None, window.save))
    tools.addSeparator()
    tools.addActions([undo, redo])
    tools.addSeparator()
    tools.addActions([train, stop])
    tools.addSeparator()
    tools.addActions([evaluate, export])
    window.addToolBar(tools)


def _predict_dialog(window) -> None:
    paths, _ = QFileDialog.getOpenFileNames(
        window,
        "Predict on files",
        str(window.document.base_dir),
        "Images, CSV or text (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.csv *.txt);;All files (*)",
    )
    if paths:
        window.model_actions.predict_files(paths)


def _overlay_runs(window) -> None:
    from studio.core.runs import default_runs_dir, list_runs

    runs = list_runs(default_runs_dir(window.document.path), window.document.project.name)
    shown = window.plots.overlay(runs[:4])
    window.statusBar().showMessage(
        f"Overlaid {shown} earlier run(s) of {window.document.project.name}", 4000
    )


def _export(window, kind: str, save) -> None:
    from pathlib import Path

    suffix = kind.split("*")[1].rstrip(")")
    path, _ = QFileDialog.getSaveFileName(
        window, "Export plots", str(window.document.base_dir / f"training{suffix}"), kind
    )
    if path:
        save(Path(path))
