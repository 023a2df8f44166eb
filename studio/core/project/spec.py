"""The project (docs/project-format.md) as plain dataclasses, and atomic saving.

Reading a file, with every check, is reading.py's job. Format 1 is the first format, so there is
nothing to migrate yet.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.files import atomic_write_text
from studio.core.train.events import EPOCH_METRICS

FORMAT_VERSION = 1
PRECISIONS = ("fp32", "bf16", "fp16")
TASKS = (
    "classification",
    "multilabel",
    "regression",
    "segmentation",
    "detection",
)  # data.task: what a sample's target is
MONITORS = EPOCH_METRICS  # what early stopping and the best checkpoint can watch
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps|ddp)$")


@dataclass
class Component:
    """A loss, optimizer, scheduler or augmentation: a torch class name and its arguments."""

    type: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "args": copy.deepcopy(self.args)}


@dataclass
class LayerSpec:
    """One entry of the stack; containers hold `layers` (Sequential, Residual) or `branches`."""

    type: str
    args: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    layers: list[LayerSpec] | None = None
    branches: list[list[LayerSpec]] | None = None
    merge: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        if self.args:
            out["args"] = copy.deepcopy(self.args)
        if self.layers is not None:
            out["layers"] = [layer.to_dict() for layer in self.layers]
        if self.branches is not None:
            out["merge"] = self.merge or "concat"
            out["branches"] = [[layer.to_dict() for layer in b] for b in self.branches]
        return out


@dataclass
class DataSpec:
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    val_fraction: float = 0.2
    batch_size: int = 64
    augment: list[Component] = field(default_factory=list)
    task: str | None = None  # one of TASKS; None: told from the data
    threshold: float = 0.5  # a label (multi-label) or a box (detection) is predicted at this score

    def to_dict(self) -> dict[str, Any]:
        said = {
            "source": self.source,
            "options": copy.deepcopy(self.options),
            "val_fraction": self.val_fraction,
            "batch_size": self.batch_size,
            "augment": [a.to_dict() for a in self.augment],
        }
        if self.task is not None:
            said["task"] = self.task
        if self.threshold != 0.5:
            said["threshold"] = self.threshold
        return said


@dataclass
class ModelSpec:
    layers: list[LayerSpec]
    input_shape: list[int] | None = None
    weights: str | None = None  # initial weights of the whole stack: a state-dict file

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if self.weights is not None:
            out["weights"] = self.weights
        return out


@dataclass
class EarlyStopping:
    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "patience": self.patience, "min_delta": self.min_delta}


@dataclass
class FineTune:
    """Fine-tuning a pretrained backbone: frozen for `frozen_epochs` (the new head learns first),
    then trained too, at the optimizer's learning rate times `lr_factor` (as fastai's fine_tune)."""

    frozen_epochs: int = 1
    lr_factor: float = 0.01

    def to_dict(self) -> dict[str, Any]:
        return {"frozen_epochs": self.frozen_epochs, "lr_factor": self.lr_factor}


@dataclass
class Health:
    """Per-layer health sampled while training: every `every` steps, or (None) as often as keeps
    its cost under 3% of the training time."""

    enabled: bool = True
    every: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "every": self.every}


def _default_loss() -> Component:
    return Component("CrossEntropyLoss")


def _default_optimizer() -> Component:
    return Component("Adam", {"lr": 0.001})


@dataclass
class TrainSpec:
    epochs: int = 10
    loss: Component = field(default_factory=_default_loss)
    optimizer: Component = field(default_factory=_default_optimizer)
    scheduler: Component | None = None
    device: str = "auto"
    precision: str = "fp32"
    seed: int = 0
    early_stopping: EarlyStopping | None = None
    grad_clip: float | None = None
    fine_tune: FineTune | None = None
    compile: bool = False  # torch.compile the model
    health: Health = field(default_factory=Health)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "loss": self.loss.to_dict(),
            "optimizer": self.optimizer.to_dict(),
            "scheduler": self.scheduler.to_dict() if self.scheduler else None,
            "device": self.device,
            "precision": self.precision,
            "seed": self.seed,
            "early_stopping": self.early_stopping.to_dict() if self.early_stopping else None,
            "grad_clip": self.grad_clip,
            "fine_tune": self.fine_tune.to_dict() if self.fine_tune else None,
            "compile": self.compile,
            "health": self.health.to_dict(),
        }


@dataclass
class Project:
    data: DataSpec
    model: ModelSpec
    training: TrainSpec = field(default_factory=TrainSpec)
    name: str = "Untitled"

    def to_dict(self) -> dict[str, Any]:
        return {
            "studio": FORMAT_VERSION,
            "name": self.name,
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "training": self.training.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def copy(self) -> Project:
        return copy.deepcopy(self)


def save_project(project: Project, path: str | Path) -> None:
    """Write atomically: a temporary file beside the target, then a rename over it."""
    atomic_write_text(path, project.to_json())
