"""The start-up work that needs torch, run as a background task after the window's first paint:
import torch and the catalogues, warm what would otherwise stall the first run, read the project."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.paths import resources_dir

DEFAULT_TEMPLATE = "digits-mlp.json"


@dataclass
class Core:
    """What the window is built from once torch has loaded."""

    project: Any  # the Project to open: the one asked for, else the default template
    path: Path | None  # its file (None for the default, or when the one asked for was refused)
    devices: list[Any]
    error: str  # why the project asked for could not be opened ("" when it could)


def load_core(path: Path | None) -> Core:
    """Off the GUI thread: a broken installation raises, and the window says so."""
    import os

    import torch

    from studio.core.catalogue import components, layers
    from studio.core.errors import StudioError
    from studio.core.project.reading import load_project
    from studio.core.train.devices import list_devices

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # a core for the GUI
    import studio.core.train.loop  # noqa: F401  (imported now, not when Train is pressed)
    from studio.core.train.callbacks import TensorBoardLogger

    if TensorBoardLogger.available():
        import torch.utils.tensorboard  # noqa: F401  (a slow import: do it while nobody waits)
    # torch's first optimizer imports its compiler stack (~2 s holding the interpreter):
    # pay that here, in the background, not as a frozen window when Train is pressed
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    # pyqtgraph's import takes ~0.3 s of the interpreter: here, not on the GUI thread when the
    # views are built (it defines classes and constants; no QObject is made until then)
    import pyqtgraph  # noqa: F401

    layers.catalogue()
    for group in (
        components.losses,
        components.optimizers,
        components.schedulers,
        components.augmentations,
    ):
        group()
    error, project = "", None
    if path is not None:
        try:
            project = load_project(path)
        except StudioError as exc:
            error, path = str(exc), None
    if project is None:
        project = load_project(resources_dir() / "templates" / DEFAULT_TEMPLATE)
    return Core(project, path, list_devices(), error)
