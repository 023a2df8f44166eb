"""How good a trained model is on data it did not train on: loss, accuracy, per-class precision,
recall and F1, the confusion matrix and the worst-classified samples; MSE, MAE and R² for a
regression. The test split where the source has one, else the validation split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from studio.core.data import Dataset
from studio.core.errors import StudioError
from studio.core.use.trained import TrainedModel


@dataclass
class ClassScore:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class WorstSample:
    index: int  # in the evaluated split
    true: str
    predicted: str
    confidence: float  # the probability the model gave its (wrong) answer
    view: Any = None  # image array or text, for a grid; not in the JSON
    why: Any = None  # an Explanation of the wrong answer (explain_worst), not in the JSON


@dataclass
class Evaluation:
    split: str
    samples: int
    task: str
    loss: float
    loss_name: str
    accuracy: float | None = None
    classes: list[str] = field(default_factory=list)
    per_class: list[ClassScore] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # rows: true class, columns: predicted
    worst: list[WorstSample] = field(default_factory=list)
    mse: float | None = None
    mae: float | None = None
    r2: float | None = None

    @property
    def macro_f1(self) -> float | None:
        return sum(c.f1 for c in self.per_class) / len(self.per_class) if self.per_class else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "split": self.split,
            "samples": self.samples,
            "task": self.task,
            "loss": self.loss,
            "loss_name": self.loss_name,
        }
        if self.task == "classification":
            out.update(
                {
                    "accuracy": self.accuracy,
                    "macro_f1": self.macro_f1,
                    "classes": self.classes,
                    "per_class": [vars(c) for c in self.per_class],
                    "confusion_matrix": self.confusion,
                    "worst": [
                        {k: v for k, v in vars(w).items() if k not in ("view", "why")}
                        for w in self.worst
                    ],
                }
            )
        else:
            out.update({"mse": self.mse, "mae": self.mae, "r2": self.r2})
        return out


def evaluate(
    trained: TrainedModel,
    dataset: Dataset | None = None,
    worst: int = 16,
    batch_size: int = 512,
    cancelled: Callable[[], bool] | None = None,
) -> Evaluation:
    """Run the model over the evaluation split (on the CPU, in batches) and score it."""
    from studio.core.train.setup import Targets, make_loss

    project = trained.project
    if dataset is None:
        dataset = trained.load_data()
    dataset = dataset.to("cpu")
    split_name, split = dataset.eval_split()
    if len(split) == 0:
        raise StudioError(
            f"{dataset.source}: no samples to evaluate on (set data.val_fraction above 0)"
        )
    outputs = predict_outputs(trained.model, dataset, split.x, batch_size, cancelled)
    targets = Targets(dataset.task, project.training.loss.type, dataset.num_classes)
    loss_fn = make_loss(project)
    with torch.no_grad():
        loss = float(loss_fn(*targets.for_loss(outputs, split.y)))
    result = Evaluation(split_name, len(split), dataset.task, loss, project.training.loss.type)
    if dataset.task == "regression":
        pre = trained.preprocessing  # in the target's own units
        _score_regression(result, pre.values(outputs.reshape(-1)), pre.values(split.y.double()))
        return result
    probabilities = class_probabilities(outputs)
    predicted = probabilities.argmax(dim=1)
    _score_classes(result, dataset.classes, predicted, split.y)
    result.worst = _worst(dataset, split, probabilities, predicted, worst)
    return result


def predict_outputs(
    model: nn.Module,
    dataset: Dataset,
    x: torch.Tensor,
    batch_size: int = 512,
    cancelled: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """The model's raw outputs for raw samples `x`, prepared as in training (no augmentation)."""
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            if cancelled is not None and cancelled():
                raise StudioError("evaluation cancelled")
            parts.append(model(dataset.prepare(x[start : start + batch_size])).float())
    return torch.cat(parts)


def class_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    """(batch, classes) probabilities: softmax of the logits; one logit means [1 - p, p]."""
    if outputs.dim() == 1 or outputs.shape[-1] == 1:
        p = torch.sigmoid(outputs.reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(outputs.reshape(len(outputs), -1), dim=1)


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor, classes: int) -> torch.Tensor:
    index = true.long() * classes + predicted.long()
    return torch.bincount(index, minlength=classes * classes).reshape(classes, classes)


def _score_classes(
    result: Evaluation, classes: list[str], predicted: torch.Tensor, true: torch.Tensor
) -> None:
    matrix = confusion_matrix(true, predicted, len(classes))
    hits = matrix.diag().double()
    predicted_count, true_count = matrix.sum(dim=0).double(), matrix.sum(dim=1).double()
    precision = torch.where(predicted_count > 0, hits / predicted_count.clamp(min=1), 0.0)
    recall = torch.where(true_count > 0, hits / true_count.clamp(min=1), 0.0)
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0
    )
    result.classes = list(classes)
    result.accuracy = float(hits.sum() / max(1, len(true)))
    result.confusion = matrix.tolist()
    result.per_class = [
        ClassScore(name, float(precision[i]), float(recall[i]), float(f1[i]), int(true_count[i]))
        for i, name in enumerate(classes)
    ]


def _score_regression(result: Evaluation, predicted: torch.Tensor, true: torch.Tensor) -> None:
    error = predicted - true
    result.mse = float((error**2).mean())
    result.mae = float(error.abs().mean())
    variance = float(((true - true.mean()) ** 2).sum())
    result.r2 = 1.0 - float((error**2).sum()) / variance if variance > 0 else 0.0


def _worst(
    dataset: Dataset, split, probabilities: torch.Tensor, predicted: torch.Tensor, count: int
) -> list[WorstSample]:
    """Misclassified samples, the most confidently wrong first."""
    wrong = (predicted != split.y).nonzero().flatten()
    if count <= 0 or len(wrong) == 0:
        return []
    confidence = probabilities[wrong, predicted[wrong]]
    order = wrong[confidence.argsort(descending=True)][:count]
    return [
        WorstSample(
            int(i),
            dataset.classes[int(split.y[i])],
            dataset.classes[int(predicted[i])],
            float(probabilities[i, predicted[i]]),
            dataset.sample_view(split.x[i]),
        )
        for i in order.tolist()
    ]
