"""Boxes with a class each: an image's target is its boxes, as rows of (x0, y0, x1, y1, class)
in its pixels, padded to the set's most boxes an image with class -1, so a split stays one
tensor (batched, shuffled, moved to the device and checkpointed like any other).

The model is a Detector (model/detectors.py): it is given the batch's boxes and returns its
own losses, which `DetectionLoss` sums; it detects into rows of (x0, y0, x1, y1, score, class).
Validation scores the detections with torchmetrics' MeanAveragePrecision: COCO's mAP over IoU
0.5 to 0.95 (`val_map`) and at 0.5 (`val_map50`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from studio.core.errors import ProjectError
from studio.core.tasks.base import Scores, Task

LOSS = "DetectionLoss"


def targets_of(y: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Padded box rows [N, M, 5] as torchvision's targets: a dict of boxes and labels an image."""
    out = []
    for rows in y:
        real = rows[:, 4] >= 0
        out.append({"boxes": rows[real, :4].float(), "labels": rows[real, 4].long()})
    return out


def detections_of(output: torch.Tensor, threshold: float = 0.0) -> list[dict[str, torch.Tensor]]:
    """A Detector's rows [N, D, 6] as dicts of boxes, scores and labels (those at `threshold`)."""
    out = []
    for rows in output:
        real = (rows[:, 5] >= 0) & (rows[:, 4] >= threshold)
        out.append(
            {"boxes": rows[real, :4], "scores": rows[real, 4], "labels": rows[real, 5].long()}
        )
    return out


class DetectionLoss(nn.Module):
    """The sum of a detection model's own losses (classification, box regression, and for
    Faster R-CNN the proposals' objectness and boxes); each part's mean over the epoch's
    training images is reported beside it (`parts`), weighted as train_loss is (by images)."""

    def __init__(self) -> None:
        super().__init__()
        self._sums: dict[str, torch.Tensor] = {}
        self._images = 0

    def forward(self, losses: dict[str, torch.Tensor], target: Any = None) -> torch.Tensor:
        total = sum(losses.values())
        if torch.is_grad_enabled():  # a training step (validation's losses are val_loss)
            images = len(target) if target is not None else 1
            for name, value in losses.items():
                part = value.detach().double() * images
                self._sums[name] = self._sums[name] + part if name in self._sums else part
            self._images += images
        return total

    def parts(self) -> dict[str, float]:
        """Each loss's mean over the training images since the last call (then forgotten; a
        run resumed mid-epoch counts the images since, and under torchrun the first process's)."""
        out = {name: float(value) / max(1, self._images) for name, value in self._sums.items()}
        self._sums, self._images = {}, 0
        return out


def mean_average_precision(class_metrics: bool = False):
    from torchmetrics.detection import MeanAveragePrecision

    return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=class_metrics)


class _BoxScores(Scores):
    def __init__(self) -> None:
        self.metric = mean_average_precision()
        self.images = 0

    def add(self, output: torch.Tensor, y: torch.Tensor) -> None:
        cpu = output.detach().float().cpu()
        self.metric.update(detections_of(cpu), targets_of(y.cpu()))
        self.images += len(y)

    def result(self, count: int) -> dict[str, float]:
        if not self.images:
            return {}
        scores = self.metric.compute()
        return {"val_map": score_of(scores["map"]), "val_map50": score_of(scores["map_50"])}


def score_of(value: torch.Tensor) -> float:
    """torchmetrics gives -1 where nothing could be scored (no boxes at all): no precision."""
    return max(0.0, float(value))


def find_detector(model: nn.Module):
    """The model's Detector, or None."""
    from studio.core.model.detectors import Detector

    return next((m for m in model.modules() if isinstance(m, Detector)), None)


class Detection(Task):
    name = "detection"
    metrics = ("val_map", "val_map50")
    class_targets = True
    # a detector's losses score proposals it samples afresh each step, and it takes seconds a
    # step on a CPU: half its starting loss on one batch, in the check's time, shows it learns
    overfit_share = 0.5

    def check_output(self, output_shape: list[int], target_shape: list[int]) -> None:
        if self.loss_type != LOSS:
            raise ProjectError(
                "training.loss.type",
                f"a detection model computes its own losses: set the loss to {LOSS} (their "
                f"sum), not {self.loss_type}",
            )
        if len(output_shape) != 2 or output_shape[1] != 6:
            raise ProjectError(
                "model.layers",
                f"the model gives {output_shape} per image but detection needs boxes: end the "
                f"stack with a Detector (num_classes {self.num_classes})",
            )

    def check_model(self, model: nn.Module) -> None:
        detector = find_detector(model)
        if detector is None:
            raise ProjectError(
                "model.layers", "detection needs boxes: end the stack with a Detector"
            )
        if detector.num_classes != self.num_classes:
            raise ProjectError(
                "model.layers",
                f"the data has {self.num_classes} classes ({', '.join(self.classes[:6])}"
                f"{', ...' if self.num_classes > 6 else ''}) but the Detector has num_classes "
                f"{detector.num_classes}: set its num_classes to {self.num_classes}",
            )

    def class_ids(self, y: torch.Tensor) -> torch.Tensor:
        labels = y[..., 4]
        return labels[labels >= 0].long()

    def train_output(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        with find_detector(model).given(targets_of(y)):
            return model(x), y  # the losses; the boxes count the images they are over

    def loss_of(self, model, loss_fn, x, output, target) -> torch.Tensor:
        with find_detector(model).given(targets_of(target)):
            return loss_fn(model(x), target)

    def scores(self) -> Scores:
        return _BoxScores()

    def evaluate(self, result, outputs, split, dataset, pre, worst: int) -> None:
        from studio.core.use.detection import score_boxes

        score_boxes(result, outputs, split, dataset, worst, self.threshold)

    def predict(self, pre, names, outputs, top, threshold):
        from studio.core.use.predict import Prediction

        if outputs.dim() != 3 or outputs.shape[2] != 6:
            raise ValueError(
                f"the model gives {list(outputs.shape[1:])} per image, not detections: the "
                "metadata does not belong to these weights"
            )
        at = self.threshold if threshold is None else threshold
        out = []
        for name, found in zip(names, detections_of(outputs, at), strict=True):
            boxes = [
                (self.classes[int(c)] if int(c) < len(self.classes) else str(int(c)), float(s),
                 [float(v) for v in b])
                for b, s, c in zip(found["boxes"], found["scores"], found["labels"], strict=True)
            ]  # fmt: skip
            out.append(Prediction(name, boxes=boxes))
        return out

    def evaluation_json(self, result) -> dict[str, Any]:
        return {"classes": result.classes, **result.extra}
