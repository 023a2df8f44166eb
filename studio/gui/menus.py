"""The menu bar and the toolbar: File, Edit, View, Run, Help, each entry wired to what the
window, the layer actions, the model actions or the training controller already do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QToolBar

from studio import __version__
from studio.core.paths import resources_dir

if TYPE_CHECKING:
    from studio.gui.main_window import MainWindow

TEMPLATE_TITLES = {
    "digits-mlp.json": "Digits MLP (bundled data)",
    "spirals-mlp.json": "2-D spirals (teaching)",
    "mnist-lenet.json": "LeNet-5 for MNIST",
    "cifar-resnet.json": "Small ResNet for CIFAR-10",
    "text-lstm.json": "LSTM text classifier",
    "finetune-images.json": "Fine-tune a pretrained model on my images",
}


@dataclass
class Menus:
    undo: QAction
    redo: QAction
    train: QAction
    stop: QAction
    export: QAction


def build_menus(window: MainWindow) -> Menus:
    document, views, controller, files = (
        window.document,
        window.views,
        window.controller,
        window.files,
    )
    undo = document.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    undo.setObjectName("undoAction")
    redo = document.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
    redo.setObjectName("redoAction")
    bar = window.menuBar()

    file_menu = bar.addMenu("&File")
    new_menu = file_menu.addMenu("&New from template")
    for name, title in TEMPLATE_TITLES.items():
        path = resources_dir() / "templates" / name
        if path.exists():
            new_menu.addAction(title, lambda p=path: files.new_from_template(p))
    file_menu.addAction(_action(window, "&Open…", QKeySequence.StandardKey.Open, files.open_dialog))
    file_menu.addMenu(files.recent_menu)
    file_menu.addAction(_action(window, "&Save", QKeySequence.StandardKey.Save, files.save))
    file_menu.addAction(
        _action(window, "Save &As…", QKeySequence.StandardKey.SaveAs, files.save_as)
    )
    file_menu.addSeparator()
    file_menu.addAction(_action(window, "&Quit", QKeySequence.StandardKey.Quit, window.close))

    edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([undo, redo])
    edit_menu.addSeparator()
    edit_menu.addActions(list(window.layer_actions.actions.values()))

    view_menu = bar.addMenu("&View")
    for dock in views.docks:
        view_menu.addAction(dock.toggleViewAction())

    run_menu = bar.addMenu("&Run")
    train = _action(window, "&Train", "Ctrl+R", window.train)
    stop = _action(window, "&Stop", "Ctrl+.", controller.stop)
    pause = _action(window, "&Pause / Resume", None, controller.toggle_pause)
    run_menu.addActions([train, pause, stop])
    run_menu.addSeparator()
    models = window.model_actions
    evaluate = _action(window, "&Evaluate latest run", "Ctrl+E", lambda: models.evaluate())
    export = _action(window, "E&xport model…", "Ctrl+Shift+E", models.open_export_dialog)
    export.setObjectName("exportAction")
    predict = _action(window, "&Predict on files…", None, window.predict_dialog)
    run_menu.addActions([evaluate, export, predict])
    run_menu.addSeparator()
    sweep = _action(window, "Open &sweep…", None, window.experiments.choose_sweep)
    sweep.setObjectName("sweepAction")
    run_menu.addAction(sweep)

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
    tools.addAction(_action(window, "Open", None, files.open_dialog))
    tools.addAction(_action(window, "Save", None, files.save))
    tools.addSeparator()
    tools.addActions([undo, redo])
    tools.addSeparator()
    tools.addActions([train, stop])
    tools.addSeparator()
    tools.addActions([evaluate, export])
    window.addToolBar(tools)
    return Menus(undo, redo, train, stop, export)


def _action(window: MainWindow, text: str, keys, slot) -> QAction:
    action = QAction(text, window)
    if keys is not None:
        action.setShortcut(QKeySequence(keys))
    action.triggered.connect(slot)
    return action
