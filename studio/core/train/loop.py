"""`fit`: one run of a project, the same for the GUI, the command line and torchrun.

It loads the data, makes the Setup (model, optimizer, batches...), attaches the handlers to a
Trainer (engine.py), runs it and reports how it ended. Observers (callbacks) get the metrics
events of docs/cli.md as plain dicts; a TrainControl pauses or stops it between batches.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.core.data import Dataset, load_project_data
from studio.core.errors import (
    DataError,
    ProjectError,
    RunWriteError,
    TrainingFailed,
    first_line,
)
from studio.core.model.backbones import load_pretrained
from studio.core.model.blocks import Backbone
from studio.core.model.initial_weights import load_initial
from studio.core.project.reading import parse_project
from studio.core.project.spec import Project
from studio.core.runs.folder import create_run_dir
from studio.core.runs.lock import RunLock
from studio.core.train import distributed
from studio.core.train.callbacks import Callback, MetricsFile, TensorBoardLogger
from studio.core.train.checkpoint import load_checkpoint
from studio.core.train.control import TrainControl
from studio.core.train.devices import check_precision, resolve_device
from studio.core.train.engine import Event, Trainer
from studio.core.train.events import DownloadEvent, StartEvent, StopEvent
from studio.core.train.handlers import (
    BestTracking,
    Checkpointing,
    Compiling,
    EarlyStopping,
    FeatureCache,
    FineTuning,
    LRScheduling,
    NonFiniteGuard,
)
from studio.core.train.health import LayerHealth, stack_layers
from studio.core.train.setup import Setup, make_setup
from studio.core.use.trained import Preprocessing

REPORT_SECONDS = 0.25  # step events at most four times a second


@dataclass
class FitResult:
    reason: str
    message: str
    run_dir: Path | None
    model: nn.Module
    dataset: Dataset
    epochs_done: int
    step: int
    last_epoch: dict[str, Any] | None = None
    best: float | None = None


def fit(
    project: Project,
    callbacks: Iterable[Callback] = (),
    control: TrainControl | None = None,
    runs_dir: str | Path | None = None,
    resume: str | Path | None = None,
    base_dir: str | Path | None = None,
    write_run: bool = True,
    report_seconds: float = REPORT_SECONDS,
    run_name: str | None = None,
) -> FitResult:
    """Train `project`; returns how it ended. User mistakes raise before the first step.

    With `resume`, training continues from that checkpoint (load its project with
    `checkpoint_project` to train exactly what it was, perhaps with more epochs).

    `step` events come at most every `report_seconds`; each costs one host synchronisation.
    `run_name`: the new run folder's name (a run started from another machine, which chose it).
    """
    control = control or TrainControl()
    spec = project.training
    resumed = load_checkpoint(resume) if resume else None
    if resumed is not None and resumed["progress"]["epoch"] >= spec.epochs:
        done = resumed["progress"]["epoch"]
        raise ProjectError(
            "training.epochs",
            f"{resume} has already trained all {done} epochs of its run: to train on, ask for "
            f"more (studio train PROJECT --resume ... --epochs {done + 10}, or training.epochs)",
        )
    world = distributed.world_from_env()

    def downloading(what: str, done: int, total: int) -> None:  # before the run has files
        for callback in callbacks:
            callback.on_event(DownloadEvent(event="download", what=what, done=done, total=total))

    kept = resumed.get("preprocessing") if resumed is not None else None
    setup, preprocessing = prepare(project, base_dir, world, downloading, kept)
    base = str(Path(base_dir or ".").resolve())

    run_dir = None
    if world.is_main and write_run:
        run_dir = _run_dir(runs_dir, resume, project, run_name)
    with RunLock(run_dir) if run_dir is not None else contextlib.nullcontext():
        if run_dir is not None:
            for stale in (run_dir / "checkpoints").glob(".*.tmp"):  # a write cut short by a crash
                stale.unlink(missing_ok=True)
        observers = _observers(run_dir, callbacks) if world.is_main else []

        trainer = Trainer(setup, control, spec.epochs, _emitter(observers), report_seconds)
        if resumed is not None:
            trainer.load_state_dict(resumed)
        for handler in _handlers(project, setup, run_dir, preprocessing, base):
            handler.attach(trainer)
        return _run(trainer, project, run_dir, observers, resumed is not None)


def prepare(
    project: Project,
    base_dir: str | Path | None = None,
    world: distributed.World | None = None,
    downloading: Callable[[str, int, int], None] | None = None,
    kept: dict[str, Any] | None = None,
) -> tuple[Setup, dict[str, Any]]:
    """What a run trains with, ready for its first step (the data loaded, on the device where it
    fits; pretrained weights in place), and the preprocessing a trained model is saved with.
    `studio check` and `studio lr-find` start from the same. `kept`: a resumed checkpoint's
    preprocessing, whose task and target scale the data keeps."""
    spec = project.training
    world = world or distributed.World()
    if world.distributed:
        device = distributed.start(world, spec.device)
    else:
        device = resolve_device(spec.device)
    check_precision(device, spec.precision)
    _seed_everything(spec.seed)
    dataset = _load_data(project, base_dir, kept)
    preprocessing = Preprocessing.from_dataset(dataset, project.data.threshold).to_json()
    if _fits(dataset, device):
        dataset = dataset.to(device)
    _reconcile_input_shape(project, dataset)
    setup = make_setup(project, dataset, device, world)
    base = Path(base_dir or ".").resolve()
    initial = load_initial(setup.raw_model, project.model, base)  # pretrained layers' too
    setup.weights_loaded = initial.words + load_pretrained(
        setup.raw_model, base, downloading, filled=initial.keys
    )
    return setup, preprocessing


def _emitter(observers: list[Callback]) -> Callable[[dict[str, Any]], None]:
    def emit(event: dict[str, Any]) -> None:
        """Every observer hears every event; a run file that cannot be written (the disk
        full) is raised once all have heard it."""
        failed = None
        for observer in observers:
            try:
                observer.on_event(event)
            except RunWriteError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    return emit


def _load_data(project: Project, base_dir, kept: dict[str, Any] | None) -> Dataset:
    if not isinstance(kept, dict):
        return load_project_data(project, base_dir)
    return Preprocessing.from_json(kept).dataset_of(project, base_dir, table=False)


def _observers(run_dir: Path | None, callbacks: Iterable[Callback]) -> list[Callback]:
    """Who hears the metrics events: the run's own files (metrics.jsonl, TensorBoard), then the caller's."""
    observers: list[Callback] = []
    if run_dir is not None:
        observers.append(MetricsFile(run_dir))
        if TensorBoardLogger.available():
            observers.append(TensorBoardLogger(run_dir))
    return [*observers, *callbacks]


def _handlers(project: Project, setup: Setup, run_dir, preprocessing, base_dir: str) -> list:
    """The handlers a project asks for, in the order they act (at the start, at the end of an
    epoch): features are cached before the model is compiled."""
    spec = project.training
    monitor = _monitor(project, setup.dataset)
    stopping = spec.early_stopping
    handlers: list[Any] = [NonFiniteGuard()]
    if spec.fine_tune is not None:
        handlers.append(FineTuning(spec.fine_tune.frozen_epochs))
    if _features_stay_the_same(project, setup):
        handlers.append(FeatureCache())
    if spec.compile:
        handlers.append(Compiling())
    handlers += [
        LRScheduling(monitor),
        BestTracking(monitor, stopping.min_delta if stopping else 0.0),
    ]
    if run_dir is not None:
        handlers.append(Checkpointing(run_dir, project, preprocessing, base_dir))
    if stopping is not None:
        handlers.append(EarlyStopping(stopping.monitor, stopping.patience))
    if spec.health.enabled:
        handlers.append(LayerHealth(stack_layers(project.model.layers), spec.health))
    return handlers


def _run(trainer: Trainer, project: Project, run_dir, observers, resumed: bool) -> FitResult:
    setup, progress, epochs = trainer.setup, trainer.progress, trainer.epochs
    trainer.emit(
        StartEvent(
            event="start",
            time=time.time(),
            project=project.name,
            device=str(setup.device),
            world_size=setup.world.size,
            params=sum(p.numel() for p in setup.raw_model.parameters()),
            steps_per_epoch=len(setup.train_batches),
            epochs=epochs,
            resumed_at_epoch=progress.epoch if resumed else None,
            host=socket.gethostname(),
            **({"run": run_dir.name} if run_dir is not None else {}),
            **({"weights": setup.weights_loaded} if setup.weights_loaded and not resumed else {}),
        )
    )
    try:
        trainer.run()
        reason, message = _ending(trainer)
    except torch.OutOfMemoryError:
        reason = "error"
        message = (
            f"out of memory on {setup.device} with batches of {project.data.batch_size}: "
            "try a smaller data.batch_size"
        )
    except RuntimeError as exc:  # a kernel failure mid-run: reported, the last checkpoint kept
        reason, message = "error", first_line(exc)
    except RunWriteError as exc:  # the disk full: the run failed, its last checkpoint whole
        reason, message = "error", str(exc)
    progress = trainer.progress
    try:
        trainer.fire(Event.FINISHED, reason)  # model.safetensors when it completed
    except RunWriteError as exc:
        reason, message = "error", str(exc)
    stop = StopEvent(
        event="stop", reason=reason, message=message, epoch=progress.epoch, step=progress.step
    )
    if setup.world.distributed:
        stop["weights_in_sync"] = distributed.weights_in_sync(setup.world, setup.raw_model)
    with contextlib.suppress(RunWriteError):  # the stop line too; the run's lock says it ended
        trainer.emit(stop)
    for observer in observers:
        observer.close()
    distributed.finish(setup.world)
    if reason == "error":
        raise TrainingFailed(message)
    return FitResult(
        reason,
        message,
        run_dir,
        setup.raw_model,
        setup.dataset,
        progress.epoch,
        progress.step,
        trainer.last_epoch,
        progress.best,
    )


def _ending(trainer: Trainer) -> tuple[str, str]:
    """The stop event's reason and message: what a handler or the user asked for, else completed."""
    request, epochs = trainer.control.request, trainer.epochs
    if request is None or (request.reason == "stopped" and trainer.progress.epoch >= epochs):
        return "completed", f"trained {epochs} epochs"
    return request.reason, request.message or trainer.where_stopped or request.reason


def checkpoint_project(path: str | Path) -> Project:
    """The project a checkpoint was trained from."""
    return parse_project(load_checkpoint(path)["project"])


def _features_stay_the_same(project: Project, setup: Setup) -> bool:
    """Whether the first layer's output is the same every epoch: a frozen backbone that no
    fine-tuning unfreezes, on images no augmentation changes (one process: no DDP)."""
    first = setup.raw_model[0] if len(setup.raw_model) else None
    return (
        isinstance(first, Backbone)
        and first.frozen
        and project.training.fine_tune is None
        and not project.data.augment
        and not setup.world.distributed
    )


def _monitor(project: Project, dataset: Dataset) -> str:
    """The metric that decides the best checkpoint (and early stopping, and ReduceLROnPlateau)."""
    if project.training.early_stopping is not None:
        return project.training.early_stopping.monitor
    return "val_loss" if dataset.val is not None and len(dataset.val) else "train_loss"


def _run_dir(runs_dir, resume, project: Project, name: str | None) -> Path:
    if resume is not None:
        return Path(resume).resolve().parent.parent
    return create_run_dir(Path(runs_dir or "runs"), project, name)


def _reconcile_input_shape(project: Project, dataset: Dataset) -> None:
    model, shape = project.model, dataset.input_shape
    if model.input_shape is None:
        model.input_shape = list(shape)
    elif list(model.input_shape) != list(shape):
        raise DataError(
            f"model.input_shape is {model.input_shape} but {project.data.source} "
            f"gives samples of shape {shape}: set model.input_shape to {shape}"
        )


def _fits(dataset: Dataset, device: torch.device) -> bool:
    """Whether the whole dataset can live on the device, leaving room for the model to train."""
    if device.type != "cuda":
        return True  # CPU and MPS share host memory
    needed = sum(
        s.x.numel() * s.x.element_size() if isinstance(s.x, torch.Tensor) else 0
        for s in (dataset.train, dataset.val, dataset.test)
        if s is not None
    )
    free, _ = torch.cuda.mem_get_info(device)
    return needed * 3 < free


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
