"""Numbers to predict: one output a target column, trained on standardised targets and scored in
the targets' own units."""

from __future__ import annotations

from typing import Any

import torch

from studio.core.errors import ProjectError
from studio.core.tasks.base import Task


class Regression(Task):
    name = "regression"

    def check_output(self, output_shape: list[int], target_shape: list[int]) -> None:
        wanted = target_shape or [1]
        if output_shape == wanted or (wanted == [1] and output_shape == []):
            return
        outputs = wanted[0]
        raise ProjectError(
            "model.layers",
            f"the model gives {output_shape} per sample but a regression of {outputs} "
            f"target{'s' if outputs > 1 else ''} needs {outputs} value{'s' if outputs > 1 else ''}: "
            f"end with a Linear layer with out_features {outputs} (or, if the numbers are "
            'classes, set data.task to "classification")',
        )

    def for_loss(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return output.reshape(y.shape), y

    def evaluate(self, result, outputs, split, dataset, pre, worst: int) -> None:
        predicted = pre.values(outputs.reshape(split.y.shape))  # in the target's own units
        true = pre.values(split.y.double())
        error = predicted - true
        result.mse = float((error**2).mean())
        result.mae = float(error.abs().mean())
        result.r2 = _r2(error, true)
        if true.dim() == 2:  # several target columns: each its own scores
            result.targets = [
                {
                    "target": name,
                    "mse": float((error[:, i] ** 2).mean()),
                    "mae": float(error[:, i].abs().mean()),
                    "r2": _r2(error[:, i], true[:, i]),
                }
                for i, name in enumerate(pre.targets or [f"y{i}" for i in range(true.shape[1])])
            ]

    def predict(self, pre, names, outputs, top, threshold):
        from studio.core.use.predict import Prediction

        values = pre.values(outputs.reshape(len(names), -1).double())  # the targets' own units
        columns = pre.targets or []
        if values.shape[1] == 1 and len(columns) <= 1:
            return [
                Prediction(n, value=float(v))
                for n, v in zip(names, values[:, 0].tolist(), strict=True)
            ]
        if len(columns) != values.shape[1]:
            raise ValueError(
                f"the model gives {values.shape[1]} values but its file names "
                f"{len(columns)} targets: the metadata does not belong to these weights"
            )
        return [
            Prediction(n, values=dict(zip(columns, map(float, row), strict=True)))
            for n, row in zip(names, values.tolist(), strict=True)
        ]

    def evaluation_json(self, result) -> dict[str, Any]:
        out: dict[str, Any] = {"mse": result.mse, "mae": result.mae, "r2": result.r2}
        if result.targets:
            out["targets"] = result.targets
        return out


def _r2(error: torch.Tensor, true: torch.Tensor) -> float:
    """The coefficient of determination (averaged over target columns when there are several)."""
    variance = ((true - true.mean(dim=0)) ** 2).sum(dim=0)
    r2 = 1.0 - (error**2).sum(dim=0) / variance.clamp(min=1e-300)
    r2 = torch.where(variance > 0, r2, torch.zeros_like(r2))
    return float(r2.mean())
