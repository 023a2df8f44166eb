"""Everything the loop needs from a project, made through the catalogues: loss, optimizer,
scheduler (with the arguments that restate the run filled in), and how targets meet outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from studio.core import components
from studio.core.errors import ProjectError
from studio.core.project import Project

# Schedulers that move every batch; the others move every epoch.
PER_BATCH = frozenset({"OneCycleLR", "CyclicLR"})
_ONE_HOT_LOSSES = frozenset(
    {"BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss"}
)


def _tuples(args: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def make_loss(project: Project) -> nn.Module:
    spec = project.training.loss
    return components.losses()[spec.type].factory(**_tuples(spec.args))


def make_optimizer(project: Project, model: nn.Module) -> torch.optim.Optimizer:
    spec = project.training.optimizer
    return components.optimizers()[spec.type].factory(model.parameters(), **_tuples(spec.args))


def make_scheduler(
    project: Project, optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int
):
    spec = project.training.scheduler
    if spec is None:
        return None
    args = dict(spec.args)
    if spec.type == "OneCycleLR" and not (
        {"total_steps", "epochs", "steps_per_epoch"} & args.keys()
    ):
        args["total_steps"] = epochs * steps_per_epoch
    if spec.type == "CosineAnnealingLR":
        args.setdefault("T_max", epochs)  # steps once an epoch
    try:
        return components.schedulers()[spec.type].factory(optimizer, **_tuples(args))
    except (ValueError, TypeError) as exc:
        raise ProjectError("training.scheduler.args", str(exc)) from None


@dataclass
class Targets:
    """How one batch's targets meet the model's output, for the loss and for accuracy."""

    task: str
    loss_type: str
    num_classes: int

    def check_output(self, output_shape: list[int]) -> None:
        if self.task == "regression":
            if output_shape not in ([1], []):
                raise ProjectError(
                    "model.layers",
                    f"the model gives {output_shape} per sample but a regression "
                    "needs one value: end with a Linear layer with out_features 1",
                )
            return
        binary_logit = (
            self.loss_type in ("BCEWithLogitsLoss", "BCELoss")
            and self.num_classes == 2
            and output_shape in ([1], [])
        )
        if output_shape != [self.num_classes] and not binary_logit:
            raise ProjectError(
                "model.layers",
                f"the model gives {output_shape} per sample but the dataset has "
                f"{self.num_classes} classes: set the last layer's out_features to {self.num_classes}",
            )

    def for_loss(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.task == "regression":
            return output.reshape(y.shape), y
        if self.loss_type in _ONE_HOT_LOSSES:
            if output.dim() == 1 or output.shape[-1] == 1:
                return output.reshape(y.shape), y.to(output.dtype)
            return output, nn.functional.one_hot(y, self.num_classes).to(output.dtype)
        return output, y

    def predictions(self, output: torch.Tensor) -> torch.Tensor:
        """Predicted class per sample (a single logit means class 1 when positive)."""
        if output.dim() == 1 or output.shape[-1] == 1:
            return (output.reshape(-1) > 0).long()
        return output.argmax(dim=-1)
