"""Several labels a sample, each present or not: one logit a label against a 0/1 row, trained with
BCEWithLogitsLoss and scored per label at a threshold (precision, recall, F1) and over all
thresholds (average precision, torchmetrics' definition), macro-averaged over the labels."""

from __future__ import annotations

from typing import Any

import torch

from studio.core.errors import ProjectError
from studio.core.tasks.base import Scores, Task, wrong_width

THRESHOLD = 0.5  # a label is predicted when its probability is at least this (data.threshold)
LOSSES = ("BCEWithLogitsLoss", "MultiLabelSoftMarginLoss")


def label_counts(probabilities: torch.Tensor, y: torch.Tensor, threshold: float) -> torch.Tensor:
    """[labels, 3]: true positives, false positives and false negatives of each label."""
    predicted, true = probabilities >= threshold, y >= 0.5
    return torch.stack(
        [(predicted & true).sum(0), (predicted & ~true).sum(0), (~predicted & true).sum(0)], dim=1
    )


def label_scores(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall and F1 of each label from its counts (0 where undefined)."""
    tp, fp, fn = counts.double().unbind(dim=1)
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(tp + fn > 0, tp / (tp + fn).clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0
    )
    return {"precision": precision, "recall": recall, "f1": f1}


def average_precision(probabilities: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each label's average precision (NaN for a label with no positive sample)."""
    from torchmetrics.functional.classification import multilabel_average_precision

    return multilabel_average_precision(
        probabilities.float(), (y >= 0.5).long(), num_labels=y.shape[1], average="none"
    )


def mean_ap(ap: torch.Tensor) -> float:
    known = ap[~torch.isnan(ap)]
    return float(known.mean()) if len(known) else 0.0


class _LabelScores(Scores):
    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self.probabilities: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def add(self, output: torch.Tensor, y: torch.Tensor) -> None:
        self.probabilities.append(torch.sigmoid(output.float()))
        self.targets.append(y)

    def result(self, count: int) -> dict[str, float]:
        if not self.probabilities:
            return {}
        probabilities, y = torch.cat(self.probabilities).cpu(), torch.cat(self.targets).cpu()
        scores = label_scores(label_counts(probabilities, y, self.threshold))
        return {
            "val_f1": float(scores["f1"].mean()),
            "val_map": mean_ap(average_precision(probabilities, y)),
        }


class MultiLabel(Task):
    name = "multilabel"
    metrics = ("val_f1", "val_map")

    def check_output(self, output_shape: list[int], target_shape: list[int]) -> None:
        if self.loss_type not in LOSSES:
            raise ProjectError(
                "training.loss.type",
                f"a multi-label task scores each label on its own: {self.loss_type} treats the "
                "labels as one choice; use BCEWithLogitsLoss",
            )
        if output_shape != [self.num_classes]:
            raise wrong_width(output_shape, self.num_classes, "labels", " (one logit a label)")

    def for_loss(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return output, y.to(output.dtype)

    def scores(self) -> Scores:
        return _LabelScores(self.threshold)

    def evaluate(self, result, outputs, split, dataset, pre, worst: int) -> None:
        probabilities, y = torch.sigmoid(outputs.float()), split.y.float()
        counts = label_counts(probabilities, y, self.threshold)
        scores = label_scores(counts)
        ap = average_precision(probabilities, y)
        tp, fp, fn = (float(v) for v in counts.sum(dim=0))
        exact = ((probabilities >= self.threshold) == (y >= 0.5)).all(dim=1).double().mean()
        result.extra = {
            "threshold": self.threshold,
            "micro_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
            "macro_f1": float(scores["f1"].mean()) if len(self.classes) else 0.0,
            "map": mean_ap(ap),
            "exact_match": float(exact),
            "per_label": [
                {
                    "label": label,
                    "precision": float(scores["precision"][i]),
                    "recall": float(scores["recall"][i]),
                    "f1": float(scores["f1"][i]),
                    "ap": None if torch.isnan(ap[i]) else float(ap[i]),  # no positive sample
                    "support": int(counts[i, 0] + counts[i, 2]),
                }
                for i, label in enumerate(self.classes)
            ],
        }

    def predict(self, pre, names, outputs, top, threshold):
        from studio.core.use.predict import Prediction

        if outputs.shape[1] != len(self.classes):
            raise ValueError(
                f"the model gives {outputs.shape[1]} scores but its file names "
                f"{len(self.classes)} labels: the metadata does not belong to these weights"
            )
        cut = threshold if threshold is not None else getattr(pre, "threshold", None)
        cut = self.threshold if cut is None else cut
        out = []
        for name, row in zip(names, torch.sigmoid(outputs.float()).tolist(), strict=True):
            scores = sorted(zip(self.classes, row, strict=True), key=lambda s: -s[1])
            out.append(Prediction(name, labels=[s for s in scores if s[1] >= cut], scores=scores))
        return out

    def evaluation_json(self, result) -> dict[str, Any]:
        return dict(result.extra)
