"""Catalogues of the training components a project names: losses, optimizers, LR schedulers.

Like the layer catalogue, these are the only names a project file can resolve; parameters are
read from torch's signatures, with the few the studio sets itself left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import nn

from studio.core.catalogue.params import Param, first_doc_line, read_params

LOSSES = (
    "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
    "SmoothL1Loss", "HuberLoss", "KLDivLoss", "DiceLoss", "DetectionLoss",
)  # fmt: skip
OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam")
SCHEDULERS = (
    "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
    "OneCycleLR", "CyclicLR", "LinearLR", "ConstantLR", "PolynomialLR", "ReduceLROnPlateau",
)  # fmt: skip

# torchvision.transforms.v2 classes for `data.augment`, applied to whole training batches.
AUGMENTATIONS = (
    "RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "RandomResizedCrop",
    "RandomRotation", "RandomAffine", "RandomPerspective", "ColorJitter", "RandomGrayscale",
    "RandomInvert", "GaussianBlur", "GaussianNoise", "RandomErasing",
)  # fmt: skip
_INTERPOLATION = {"kind": "choice", "choices": ("nearest", "bilinear", "bicubic")}
_AUGMENT_OVERRIDES: dict[str, Any] = {
    "fill": {"kind": "float", "default": 0.0}, "interpolation": _INTERPOLATION,
    "center": None, "inplace": None, "antialias": None, "clip": None,
    "degrees": {"kind": "floats", "arity": None},
}  # fmt: skip

# Set by the studio itself: the loop needs a mean loss; the optimizer gets the model's parameters.
_LOSS_SKIP = frozenset({"reduction", "weight", "pos_weight", "size_average", "reduce"})
_OPTIMIZER_SKIP = frozenset({"foreach", "fused", "capturable", "differentiable", "maximize"})
_SCHEDULER_SKIP = frozenset({"optimizer", "last_epoch", "verbose", "scale_fn"})

# Scheduler arguments that restate the run; filled in from the training settings when left out.
RUN_ARGUMENTS = frozenset({"T_max", "total_steps", "epochs", "steps_per_epoch"})

_SCHEDULER_OVERRIDES: dict[str, dict[str, Any]] = {
    "MultiStepLR": {"milestones": {"kind": "shape"}},
    "OneCycleLR": {"max_lr": {"kind": "float"}, "base_momentum": {"kind": "float"},
                   "max_momentum": {"kind": "float"}},
    "CyclicLR": {"base_lr": {"kind": "float"}, "max_lr": {"kind": "float"},
                 "step_size_down": {"kind": "int", "nullable": True},
                 "mode": {"kind": "choice", "choices": ("triangular", "triangular2", "exp_range")},
                 "scale_mode": {"kind": "choice", "choices": ("cycle", "iterations")}},
    "ReduceLROnPlateau": {"min_lr": {"kind": "float"}},
}  # fmt: skip


@dataclass(frozen=True)
class ComponentInfo:
    """One loss, optimizer or scheduler: its class and the arguments a project may give it."""

    type: str
    group: str
    doc: str
    params: tuple[Param, ...]
    factory: Callable[..., Any]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "doc": self.doc, "params": [p.to_json() for p in self.params]}


def _scheduler_params(name: str, cls: type) -> tuple[Param, ...]:
    overrides: dict[str, Any] = {n: {"inferred": "run"} for n in RUN_ARGUMENTS}
    for param_name, change in _SCHEDULER_OVERRIDES.get(name, {}).items():
        overrides[param_name] = {**overrides.get(param_name, {}), **change}
    return read_params(cls, overrides, skip=_SCHEDULER_SKIP)


def _loss_class(name: str) -> type:
    """torch.nn's losses, and the studio's own where torch has none (DiceLoss, segmentation;
    DetectionLoss, the sum of a detector's own losses)."""
    from studio.core.tasks.detection import DetectionLoss
    from studio.core.tasks.segmentation import DiceLoss

    return {"DiceLoss": DiceLoss, "DetectionLoss": DetectionLoss}.get(name) or getattr(nn, name)


@cache
def losses() -> dict[str, ComponentInfo]:
    return {
        name: ComponentInfo(
            name,
            "loss",
            first_doc_line(_loss_class(name)),
            read_params(_loss_class(name), skip=_LOSS_SKIP),
            _loss_class(name),
        )
        for name in LOSSES
    }


@cache
def optimizers() -> dict[str, ComponentInfo]:
    return {
        name: ComponentInfo(
            name,
            "optimizer",
            first_doc_line(getattr(torch.optim, name)),
            read_params(getattr(torch.optim, name), skip=_OPTIMIZER_SKIP),
            getattr(torch.optim, name),
        )
        for name in OPTIMIZERS
    }


@cache
def schedulers() -> dict[str, ComponentInfo]:
    module = torch.optim.lr_scheduler
    return {
        name: ComponentInfo(
            name,
            "scheduler",
            first_doc_line(getattr(module, name)),
            _scheduler_params(name, getattr(module, name)),
            getattr(module, name),
        )
        for name in SCHEDULERS
    }


@cache
def augmentations() -> dict[str, ComponentInfo]:
    from torchvision.transforms import v2

    return {
        name: ComponentInfo(
            name,
            "augmentation",
            first_doc_line(getattr(v2, name)),
            read_params(getattr(v2, name), _AUGMENT_OVERRIDES),
            getattr(v2, name),
        )
        for name in AUGMENTATIONS
    }


GROUPS: dict[str, tuple[tuple[str, ...], Callable[[], dict[str, ComponentInfo]]]] = {
    "loss": (LOSSES, losses),
    "optimizer": (OPTIMIZERS, optimizers),
    "scheduler": (SCHEDULERS, schedulers),
    "augmentation": (AUGMENTATIONS, augmentations),
}
