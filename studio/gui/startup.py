"""The start-up work that needs torch, done in a thread after the window's first paint:
import torch and the catalogues, warm what would otherwise stall the first run, read the project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from studio.core.paths import resources_dir

DEFAULT_TEMPLATE = "digits-mlp.json"


class CoreLoader(QObject):
    """Imports torch and the catalogues, lists devices, reads the project: off the GUI thread."""

    ready = Signal(object, object, object, str)  # project, path, devices, error message
    failed = Signal(str)  # torch or the catalogue could not load at all: the app cannot work
    finished = Signal()

    def __init__(self, path: Path | None):
        super().__init__()
        self.path = path

    @Slot()
    def run(self) -> None:
        try:
            self._load()
        except Exception as exc:  # a broken installation: said in the window, never a silent hang
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.emit()

    def _load(self) -> None:
        import os

        import torch

        from studio.core.catalogue import components, layers
        from studio.core.errors import StudioError
        from studio.core.project.reading import load_project
        from studio.core.train.devices import list_devices

        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # a core for the GUI
        import studio.core.train  # noqa: F401  (imported now, not when Train is pressed)
        from studio.core.train.callbacks import TensorBoardLogger

        if TensorBoardLogger.available():
            import torch.utils.tensorboard  # noqa: F401  (a slow import: do it while nobody waits)
        # torch's first optimizer imports its compiler stack (~2 s holding the interpreter):
        # pay that here, in the background, not as a frozen window when Train is pressed
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
        layers.catalogue()
        for group in (
            components.losses,
            components.optimizers,
            components.schedulers,
            components.augmentations,
        ):
            group()
        error, project, path = "", None, self.path
        if path is not None:
            try:
                project = load_project(path)
            except StudioError as exc:
                error, path = str(exc), None
        if project is None:
            project = load_project(resources_dir() / "templates" / DEFAULT_TEMPLATE)
        self.ready.emit(project, path, list_devices(), error)
