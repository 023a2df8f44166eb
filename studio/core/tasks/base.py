"""The seam every task fills: output checks, targets for the loss, scores while training and the
metrics of validation. Evaluation and prediction are in the task's own module."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from studio.core.errors import ProjectError


class Scores:
    """Sums over the batches of a validation pass, kept on the device; `result` reads them once."""

    def add(self, output: torch.Tensor, y: torch.Tensor) -> None:
        """One batch: the model's output (as `Task.for_loss` gave it) and its targets."""

    def result(self, count: int) -> dict[str, float]:
        """The validation metrics (`val_*`) over `count` samples."""
        return {}


def wrong_width(output_shape: list[int], count: int, what: str, then: str = "") -> ProjectError:
    """The one-line error of a model whose last layer gives the wrong number of outputs."""
    return ProjectError(
        "model.layers",
        f"the model gives {output_shape} per sample but the data has {count} {what}: set the "
        f"last layer's out_features to {count}{then}",
    )


class Task:
    name = ""
    class_targets = False  # targets are class ids (one a sample, or one a pixel)
    train_metric: str | None = None  # the `train_*` metric `hits` sums (train_acc), if any
    metrics: tuple[str, ...] = ()  # the epoch metrics it reports beside the losses
    threshold = 0.5  # a label (multi-label) or a box (detection) is predicted at this score
    overfit_share = 0.1  # `studio check`: memorising one batch brings the loss to this share

    def __init__(self, loss_type: str, classes: list[str]) -> None:
        self.loss_type, self.classes = loss_type, classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def check_output(self, output_shape: list[int], target_shape: list[int]) -> None:
        """A ProjectError naming the fix when the model's output per sample cannot meet its target."""

    def check_model(self, model: nn.Module) -> None:
        """A ProjectError naming the fix when the model cannot learn these targets for a reason
        its output's shape does not show (a Detector sized for other classes)."""

    def loss_args(self) -> dict[str, Any]:
        """Arguments the task gives the loss unless the project sets them (ignore_index)."""
        return {}

    def class_ids(self, y: torch.Tensor) -> torch.Tensor:
        """The class ids among targets (class_targets tasks): the targets themselves, or a
        detection's boxes' classes."""
        return y

    def for_loss(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return output, y

    def train_output(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[Any, Any]:
        """What the loss of a training step takes: the model's output and the target (a
        detector, given the boxes, gives its own losses)."""
        return self.for_loss(model(x), y)

    def loss_of(self, model: nn.Module, loss_fn, x: torch.Tensor, output, target) -> torch.Tensor:
        """The loss of a batch the model is not trained on (validation, evaluation): `output`
        and `target` as `for_loss` gave them (a detector computes its losses from x again)."""
        return loss_fn(output, target)

    def hits(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """This batch's sum of the training metric (correct samples), on the device; None if none."""
        return None

    def scores(self) -> Scores:
        return Scores()

    def kept(self, output: torch.Tensor) -> torch.Tensor:
        """What evaluation keeps of a batch's output for `evaluate` (all of it, by default)."""
        return output

    def evaluate(
        self, result: Any, outputs: torch.Tensor, split: Any, dataset: Any, pre: Any, worst: int
    ) -> None:
        """Fill the Evaluation `result` from the model's outputs over the evaluated `split`
        (`pre`: the run's Preprocessing, for a target's own units)."""

    def predict(
        self, pre: Any, names: list[str], outputs: torch.Tensor, top: int, threshold: float | None
    ) -> list[Any]:
        """A `Prediction` (use/predict.py) for each named sample from the model's outputs; a
        ValueError when they do not fit what the model's file says (its classes)."""
        raise NotImplementedError

    def evaluation_json(self, result: Any) -> dict[str, Any]:
        """The task's part of `studio evaluate --json`."""
        return {}
