"""How good a trained model is on data it did not train on: the loss, and what its task scores
(core/tasks: accuracy, per-class precision, recall and F1, the confusion matrix and the
worst-classified samples; MSE, MAE and R² for a regression; mIoU, per-class IoU and Dice and the
worst images for a segmentation). The test split where the source has one, else validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from studio.core.data import Dataset
from studio.core.data.batches import inference_batch
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
    targets: list[dict[str, Any]] = field(default_factory=list)  # several regression targets
    miou: float | None = None  # segmentation
    pixel_acc: float | None = None
    class_iou: list[dict[str, Any]] = field(default_factory=list)  # class, iou, dice, pixels
    extra: dict[str, Any] = field(default_factory=dict)  # a task's further scores, in its JSON

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
        from studio.core.tasks import make_task

        out.update(make_task(self.task, self.loss_name, self.classes).evaluation_json(self))
        return out


def evaluate(
    trained: TrainedModel,
    dataset: Dataset | None = None,
    worst: int = 16,
    batch_size: int = 512,
    cancelled: Callable[[], bool] | None = None,
    threshold: float | None = None,
) -> Evaluation:
    """Run the model over the evaluation split (on the CPU, in batches) and score it
    (`threshold`: a multi-label task's, instead of the run's data.threshold)."""
    from studio.core.tasks import make_task
    from studio.core.train.setup import make_loss

    project = trained.project
    if dataset is None:
        dataset = trained.load_data()
    dataset = dataset.to("cpu")
    split_name, split = dataset.eval_split()
    if len(split) == 0:
        raise StudioError(
            f"{dataset.source}: no samples to evaluate on (set data.val_fraction above 0)"
        )
    if threshold is None:
        threshold = trained.preprocessing.threshold or project.data.threshold
    task = make_task(dataset.task, project.training.loss.type, dataset.classes, threshold)
    loss_fn = make_loss(project, task)
    loss_sum = 0.0

    def scored(output: torch.Tensor, start: int, x: torch.Tensor) -> torch.Tensor:
        nonlocal loss_sum
        y = split.y[start : start + len(output)]
        loss = task.loss_of(trained.model, loss_fn, x, *task.for_loss(output, y))
        loss_sum += float(loss) * len(output)
        return task.kept(output)

    outputs = predict_outputs(trained.model, dataset, split.x, batch_size, cancelled, scored)
    result = Evaluation(
        split_name, len(split), dataset.task, loss_sum / len(split), project.training.loss.type
    )
    result.classes = list(dataset.classes)
    task.evaluate(result, outputs, split, dataset, trained.preprocessing, worst)
    return result


def predict_outputs(
    model: nn.Module,
    dataset: Dataset,
    x: torch.Tensor,
    batch_size: int = 512,
    cancelled: Callable[[], bool] | None = None,
    each: Callable[[torch.Tensor, int, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The model's raw outputs for raw samples `x`, prepared as in training (no augmentation);
    `each(output, start, input)` sees every batch's and gives what is kept of it (a mask for a
    segmentation, not its scores)."""
    model.eval()
    parts = []
    batch_size = inference_batch(dataset, batch_size)  # large images: fewer
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            if cancelled is not None and cancelled():
                raise StudioError("evaluation cancelled")
            prepared = dataset.prepare(x[start : start + batch_size])
            output = model(prepared).float()
            parts.append(each(output, start, prepared) if each is not None else output)
    return torch.cat(parts)


def confusion_matrix(true: torch.Tensor, predicted: torch.Tensor, classes: int) -> torch.Tensor:
    index = true.long() * classes + predicted.long()
    return torch.bincount(index, minlength=classes * classes).reshape(classes, classes)


def score_classes(
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


def worst_samples(
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
