"""One class a sample: logits (or one logit for two classes) against class ids."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from studio.core.tasks.base import Scores, Task, wrong_width

# Losses that want one-hot (or 0/1) float targets rather than class ids.
ONE_HOT_LOSSES = frozenset(
    {"BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss"}
)


def predictions(output: torch.Tensor) -> torch.Tensor:
    """Predicted class per sample (a single logit means class 1 when positive)."""
    if output.dim() == 1 or output.shape[-1] == 1:
        return (output.reshape(-1) > 0).long()
    return output.argmax(dim=-1)


def correct(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """How many samples of a batch are classified right, on the device."""
    return (predictions(output) == y).sum()


def class_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    """(batch, classes) probabilities: softmax of the logits; one logit means [1 - p, p]."""
    if outputs.dim() == 1 or outputs.shape[-1] == 1:
        p = torch.sigmoid(outputs.reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(outputs.reshape(len(outputs), -1), dim=1)


class _Correct(Scores):
    def __init__(self) -> None:
        self.correct: torch.Tensor | None = None

    def add(self, output: torch.Tensor, y: torch.Tensor) -> None:
        hits = correct(output, y)
        self.correct = hits if self.correct is None else self.correct + hits

    def result(self, count: int) -> dict[str, float]:
        correct = float(self.correct) if self.correct is not None else 0.0
        return {"val_acc": correct / max(1, count)}


class Classification(Task):
    name = "classification"
    metrics = ("train_acc", "val_acc")
    class_targets = True
    train_metric = "train_acc"

    def check_output(self, output_shape: list[int], target_shape: list[int]) -> None:
        binary_logit = (
            self.loss_type in ("BCEWithLogitsLoss", "BCELoss")
            and self.num_classes == 2
            and output_shape in ([1], [])
        )
        if output_shape != [self.num_classes] and not binary_logit:
            value = (
                ', or, to predict the number itself, set data.task to "regression"'
                if output_shape in ([1], [])
                else ""
            )
            raise wrong_width(output_shape, self.num_classes, "classes", value)

    def for_loss(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.loss_type in ONE_HOT_LOSSES:
            if output.dim() == 1 or output.shape[-1] == 1:
                return output.reshape(y.shape), y.to(output.dtype)
            return output, nn.functional.one_hot(y, self.num_classes).to(output.dtype)
        return output, y

    def hits(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return correct(output, y)

    def scores(self) -> Scores:
        return _Correct()

    def evaluate(self, result, outputs, split, dataset, pre, worst: int) -> None:
        from studio.core.use.evaluate import score_classes, worst_samples

        probabilities = class_probabilities(outputs)
        predicted = probabilities.argmax(dim=1)
        score_classes(result, dataset.classes, predicted, split.y)
        result.worst = worst_samples(dataset, split, probabilities, predicted, worst)

    def predict(self, pre, names, outputs, top, threshold):
        from studio.core.use.predict import Prediction

        probabilities = class_probabilities(outputs)
        best = probabilities.topk(min(top, probabilities.shape[1]), dim=1)
        classes = self.classes or [str(i) for i in range(probabilities.shape[1])]
        if len(classes) != probabilities.shape[1]:
            raise ValueError(
                f"the model gives {probabilities.shape[1]} scores but its file names "
                f"{len(classes)} classes: the metadata does not belong to these weights"
            )
        return [
            Prediction(
                n,
                top=[
                    (classes[i], float(p)) for p, i in zip(ps.tolist(), ids.tolist(), strict=True)
                ],
            )
            for n, ps, ids in zip(names, best.values, best.indices, strict=True)
        ]

    def evaluation_json(self, result) -> dict[str, Any]:
        return {
            "accuracy": result.accuracy,
            "macro_f1": result.macro_f1,
            "classes": result.classes,
            "per_class": [vars(c) for c in result.per_class],
            "confusion_matrix": result.confusion,
            "worst": [
                {k: v for k, v in vars(w).items() if k not in ("view", "why")} for w in result.worst
            ],
        }
