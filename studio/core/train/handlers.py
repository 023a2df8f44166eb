"""Handlers: what the loop does besides training, each observing the Trainer's events.

A handler attaches itself to the events it needs (`attach`), and ends a run only by asking the
control to stop, with a reason. `fit` attaches them in this order, which is the order they act in
at the end of an epoch: learning-rate schedule, best tracking, checkpoints, early stopping.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from torch.optim.lr_scheduler import ReduceLROnPlateau

from studio import __version__
from studio.core.data.batches import Batches
from studio.core.files import written
from studio.core.model.segmenters import pretrained_parts
from studio.core.project.spec import Project
from studio.core.train.checkpoint import save_checkpoint, save_weights
from studio.core.train.engine import EpochEnd, Event, Trainer
from studio.core.train.events import (
    CheckpointEvent,
    CompiledEvent,
    CompileEvent,
    FeaturesEvent,
    FineTuneEvent,
    higher_is_better,
)
from studio.core.train.state import LossesRead


class NonFiniteGuard:
    """Ends the run at the first NaN or infinite loss; the last checkpoint stays the one before it."""

    def attach(self, trainer: Trainer) -> None:
        trainer.on(Event.LOSSES_READ, self.check)

    def check(self, trainer: Trainer, read: LossesRead) -> None:
        step = read.first_non_finite
        if step is None:
            return
        if step <= 1:  # before any update: the data or the model, not the learning rate
            said = (
                f"the loss was NaN or infinite at step {step}, before any update: the data or the "
                "model gives it (an input or target too large for float32, a NaN in the data?)"
            )
        else:
            said = f"the loss became NaN or infinite at step {step}; " + (
                "the last checkpoint is from before it"
                if trainer.progress.epoch > 0
                else "no checkpoint was written (it happened in the first epoch)"
            )
            said += " (try a smaller learning rate or gradient clipping)"
        trainer.control.stop("non_finite_loss", said, resumable=False)


class LRScheduling:
    """Moves the learning rate every batch (OneCycleLR, CyclicLR) or every epoch; ReduceLROnPlateau
    moves on the monitored metric."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor

    def attach(self, trainer: Trainer) -> None:
        if trainer.setup.scheduler is None:
            return
        if trainer.setup.per_batch_scheduler:
            trainer.on(Event.ITERATION_COMPLETED, self.after_batch)
        else:
            trainer.on(Event.EPOCH_COMPLETED, self.after_epoch)

    def after_batch(self, trainer: Trainer) -> None:
        trainer.setup.scheduler.step()

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        scheduler = trainer.setup.scheduler
        if not isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step()
        elif end.metrics.get(self.monitor) is not None:
            scheduler.step(end.metrics[self.monitor])


class BestTracking:
    """Keeps the best value of the monitored metric and counts the epochs since it improved."""

    def __init__(self, monitor: str, min_delta: float = 0.0) -> None:
        self.monitor, self.min_delta = monitor, min_delta

    def attach(self, trainer: Trainer) -> None:
        trainer.on(Event.EPOCH_COMPLETED, self.update)

    def update(self, trainer: Trainer, end: EpochEnd) -> None:
        value = end.metrics.get(self.monitor)
        if not end.validated or value is None:
            return
        progress = trainer.progress
        sign = -1 if higher_is_better(self.monitor) else 1
        if progress.best is None or sign * (value - progress.best) < -self.min_delta:
            progress.best, progress.bad_epochs = value, 0
            end.improved = True
        else:
            progress.bad_epochs += 1


class EarlyStopping:
    """Ends the run after `patience` epochs in a row without improvement (0: the first one)."""

    def __init__(self, monitor: str, patience: int) -> None:
        self.monitor, self.patience = monitor, patience

    def attach(self, trainer: Trainer) -> None:
        trainer.on(Event.EPOCH_COMPLETED, self.check)

    def check(self, trainer: Trainer, end: EpochEnd) -> None:
        bad = trainer.progress.bad_epochs
        if bad > 0 and bad >= self.patience:
            message = f"{self.monitor} did not improve for {self.patience} epochs"
            trainer.control.stop("early_stopping", message)


class FineTuning:
    """Unfreezes the backbones after `frozen_epochs`: from then on they train too, at the lower
    learning rate of their optimizer group (setup.make_optimizer)."""

    def __init__(self, frozen_epochs: int) -> None:
        self.frozen_epochs = frozen_epochs

    def attach(self, trainer: Trainer) -> None:
        trainer.on(Event.STARTED, self.check)
        trainer.on(Event.EPOCH_COMPLETED, self.check)

    def check(self, trainer: Trainer, *_: Any) -> None:
        backbones = pretrained_parts(trainer.setup.raw_model)
        if trainer.progress.epoch < self.frozen_epochs or not any(b.frozen for b in backbones):
            return
        for backbone in backbones:
            backbone.set_frozen(False)
        names = ", ".join(b.name for b in backbones)
        trainer.emit(
            FineTuneEvent(
                event="fine_tune",
                epoch=trainer.progress.epoch,
                message=f"{names} unfrozen after {self.frozen_epochs} epoch(s): it trains too "
                "from now on, at its lower learning rate",
            )
        )


class FeatureCache:
    """A frozen backbone's features, computed once: when nothing random touches the images
    (no augmentation), every epoch would compute the same ones. The head then trains on them."""

    def attach(self, trainer: Trainer) -> None:
        trainer.on(Event.STARTED, self.compute)

    def compute(self, trainer: Trainer) -> None:
        s = trainer.setup
        backbone, head = s.raw_model[0], s.raw_model[1:]
        started = time.perf_counter()
        features = s.dataset.to(s.device).map_features(backbone, s.autocast)
        s.model, s.channels_last = head, False
        size = s.train_batches.batch_size
        s.train_batches = Batches(
            features, features.train, size, shuffle=True, generator=s.generator, device=s.device
        )
        if s.val_batches is not None:
            s.val_batches = Batches(
                features, features.val, s.val_batches.batch_size, device=s.device
            )
        trainer.emit(
            FeaturesEvent(
                event="features",
                samples=len(features.train) + len(features.val or ()),
                shape=features.input_shape,
                seconds=round(time.perf_counter() - started, 3),
                message=f"{backbone.name} is frozen and the images are not augmented: its "
                "features were computed once, the head trains on them",
            )
        )


class Compiling:
    """torch.compile of the model that trains; the first steps compile it, which is said as such
    (a `compile` event before, a `compiled` one with the seconds it took) rather than looking
    like a frozen first epoch."""

    def attach(self, trainer: Trainer) -> None:
        trainer.on(Event.STARTED, self.compile)
        trainer.on(Event.ITERATION_COMPLETED, self.first_step)
        self.started: float | None = None

    def compile(self, trainer: Trainer) -> None:
        import torch

        trainer.setup.model = torch.compile(trainer.setup.model)
        self.started = time.perf_counter()
        trainer.emit(
            CompileEvent(
                event="compile", message="compiling the model: the first steps take longer"
            )
        )

    def first_step(self, trainer: Trainer) -> None:
        if self.started is not None:
            seconds, self.started = time.perf_counter() - self.started, None
            trainer.emit(
                CompiledEvent(
                    event="compiled", step=trainer.progress.step, seconds=round(seconds, 2)
                )
            )


class Checkpointing:
    """checkpoints/last.pt after every epoch and at a stop, best.pt when the monitored metric
    improves, model.safetensors when the run completes. Each is announced as a `checkpoint` event."""

    def __init__(
        self, run_dir: Path, project: Project, preprocessing: dict[str, Any], base_dir: str
    ) -> None:
        self.run_dir, self.project = run_dir, project
        self.preprocessing, self.base_dir = preprocessing, base_dir

    def attach(self, trainer: Trainer) -> None:
        trainer.on(Event.EPOCH_COMPLETED, self.after_epoch)
        trainer.on(Event.INTERRUPTED, self.save)
        trainer.on(Event.FINISHED, self.finished)

    def after_epoch(self, trainer: Trainer, end: EpochEnd) -> None:
        self.save(trainer, best=end.improved)

    def save(self, trainer: Trainer, best: bool = False) -> None:
        state = {
            "studio_version": __version__,
            "project": self.project.to_dict(),
            "preprocessing": self.preprocessing,
            "base_dir": self.base_dir,
            **trainer.state_dict(),
        }
        for name in ("last.pt", "best.pt") if best else ("last.pt",):
            path = self.run_dir / "checkpoints" / name
            with written(path, f"the previous {name} is kept"):
                save_checkpoint(path, state)
            trainer.emit(
                CheckpointEvent(
                    event="checkpoint",
                    epoch=trainer.progress.epoch,
                    path=str(path),
                    best=name == "best.pt",
                )
            )

    def finished(self, trainer: Trainer, reason: str) -> None:
        if reason not in ("completed", "early_stopping"):
            return
        metadata = {
            "project": self.project.to_json(),
            "classes": "\n".join(trainer.setup.dataset.classes),
            "preprocessing": json.dumps(self.preprocessing),
            "base_dir": self.base_dir,
        }
        path = self.run_dir / "model.safetensors"
        with written(path, "checkpoints/last.pt is kept"):
            save_weights(path, trainer.setup.raw_model, metadata)
