"""The menu bar and the toolbar: File (with Import model…), Edit, View, Run, Help, each entry
wired to what the window or one of its actions already does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QToolBar

from studio import __version__
from studio.core.paths import resources_dir

TEMPLATE_TITLES = {
    "digits-mlp.json": "Digits MLP (bundled data)",
    "spirals-mlp.json": "2-D spirals (teaching)",
    "mnist-lenet.json": "LeNet-5 for MNIST",
    "cifar-resnet.json": "Small ResNet for CIFAR-10",
    "text-lstm.json": "LSTM text classifier",
    "finetune-images.json": "Fine-tune a pretrained model on my images",
    "segment-unet.json": "Segment my images (U-Net)",
    "detect-objects.json": "Detect objects in my images",
}


class MenuTarget(Protocol):
    """What the menus act on: the main window (described here, so menus.py need not import it)."""

    document: Any
    views: Any
    files: Any
    imports: Any
    layer_actions: Any
    model_actions: Any
    training: Any
    sweeps: Any

    def train(self) -> None: ...
    def predict_dialog(self) -> None: ...
    def reset_layout(self) -> None: ...


@dataclass
class Menus:
    """The actions others reach for: undo and redo (the toolbar shares the rest with the menus)."""

    undo: QAction
    redo: QAction


def build_menus(window: QMainWindow, target: MenuTarget) -> Menus:
    undo = target.document.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    undo.setObjectName("undoAction")
    redo = target.document.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
    redo.setObjectName("redoAction")
    bar = window.menuBar()
    _file_menu(bar.addMenu("&File"), window, target)
    edit_menu = bar.addMenu("&Edit")
    edit_menu.addActions([undo, redo])
    edit_menu.addSeparator()
    edit_menu.addActions(list(target.layer_actions.actions.values()))
    view_menu = bar.addMenu("&View")
    for dock in target.views.docks:
        view_menu.addAction(dock.toggleViewAction())
    view_menu.addSeparator()
    view_menu.addAction(
        _action(window, "&Reset layout", None, target.reset_layout, "resetLayoutAction")
    )
    run = _run_menu(bar.addMenu("&Run"), window, target)
    bar.addMenu("&Help").addAction(
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
    tools.addAction(_action(window, "Open", None, target.files.open_dialog))
    tools.addAction(_action(window, "Save", None, target.files.save))
    for group in ([undo, redo], run[:2], run[2:]):
        tools.addSeparator()
        tools.addActions(group)
    window.addToolBar(tools)
    return Menus(undo, redo)


def _file_menu(menu, window: QMainWindow, target: MenuTarget) -> None:
    files = target.files
    new_menu = menu.addMenu("&New from template")
    for name, title in TEMPLATE_TITLES.items():
        path = resources_dir() / "templates" / name
        if path.exists():
            new_menu.addAction(title, lambda p=path: files.new_from_template(p))
    keys = QKeySequence.StandardKey
    menu.addAction(_action(window, "&Open…", keys.Open, files.open_dialog))
    menu.addMenu(files.recent_menu)
    menu.addAction(_action(window, "&Save", keys.Save, files.save))
    menu.addAction(_action(window, "Save &As…", keys.SaveAs, files.save_as, "saveAsAction"))
    menu.addSeparator()
    menu.addAction(
        _action(window, "&Import model…", "Ctrl+I", target.imports.open_dialog, "importModelAction")
    )
    menu.addSeparator()
    menu.addAction(_action(window, "&Quit", keys.Quit, window.close))


def _run_menu(menu, window: QMainWindow, target: MenuTarget) -> list[QAction]:
    """Train, pause, stop; evaluate, export, predict; sweeps. Returns train, stop, evaluate and
    export for the toolbar."""
    training, models = target.training, target.model_actions
    train = _action(window, "&Train", "Ctrl+R", target.train)
    stop = _action(window, "&Stop", "Ctrl+.", training.stop)
    menu.addActions([train, _action(window, "&Pause / Resume", None, training.toggle_pause), stop])
    menu.addSeparator()
    evaluate = _action(window, "&Evaluate latest run", "Ctrl+E", lambda: models.evaluate())
    export = _action(
        window, "E&xport model…", "Ctrl+Shift+E", models.open_export_dialog, "exportAction"
    )
    predict = _action(window, "&Predict on files…", None, target.predict_dialog)
    menu.addActions([evaluate, export, predict])
    menu.addSeparator()
    menu.addAction(_action(window, "Open &sweep…", None, target.sweeps.choose_sweep, "sweepAction"))
    return [train, stop, evaluate, export]


def _action(window: QMainWindow, text: str, keys, slot, name: str = "") -> QAction:
    action = QAction(text, window)
    if keys is not None:
        action.setShortcut(QKeySequence(keys))
    if name:
        action.setObjectName(name)
    action.triggered.connect(slot)
    return action
