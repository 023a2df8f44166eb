"""A class a pixel: [C, H, W] logits against an [H, W] mask of class ids, 255 where a pixel is
not to be scored (VOC's borders). Scored by the pixel confusion matrix: IoU per class, its mean
(mIoU) over the classes that occur, pixel accuracy and Dice, as torchvision's segmentation
reference computes them."""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from studio.core.errors import ProjectError
from studio.core.tasks.base import Scores, Task

IGNORE = 255  # a mask value that no class has: not trained on, not scored
LOSSES = ("CrossEntropyLoss", "DiceLoss", "NLLLoss")  # the losses of class ids a pixel


def pixel_confusion(predicted: torch.Tensor, true: torch.Tensor, classes: int) -> torch.Tensor:
    """classes x classes counts of pixels (rows: true class, columns: predicted); ignored pixels
    and values beyond the classes are left out."""
    true = true.long()
    valid = true < classes
    index = true[valid] * classes + predicted.long()[valid]
    return torch.bincount(index, minlength=classes * classes).reshape(classes, classes)


def class_scores(matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """IoU and Dice per class, whether the class occurs (in truth or prediction), pixel accuracy."""
    matrix = matrix.double()
    hits, true, predicted = matrix.diag(), matrix.sum(dim=1), matrix.sum(dim=0)
    union = true + predicted - hits
    return {
        "iou": torch.where(union > 0, hits / union.clamp(min=1), torch.zeros_like(hits)),
        "dice": torch.where(
            true + predicted > 0, 2 * hits / (true + predicted).clamp(min=1), torch.zeros_like(hits)
        ),
        "occurs": union > 0,
        "pixels": true,
        "pixel_acc": hits.sum() / matrix.sum().clamp(min=1),
    }


def mean_iou(scores: dict[str, torch.Tensor]) -> float:
    occurs = scores["occurs"]
    return float(scores["iou"][occurs].mean()) if bool(occurs.any()) else 0.0


def metric_names(classes: list[str]) -> list[str]:
    """`val_iou_<class>` for each class: its name in lower case, anything but letters and digits
    as `_`; a name that comes out the same as an earlier one gets its class id added."""
    names: list[str] = []
    for index, name in enumerate(classes):
        key = "val_iou_" + (re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "class")
        names.append(f"{key}_{index}" if key in names else key)
    return names


class DiceLoss(nn.Module):
    """1 - the soft Dice coefficient, averaged over classes, from logits [N, C, H, W] and a mask
    [N, H, W] of class ids; pixels marked `ignore_index` count for nothing. (No torch.nn loss does
    this; torchmetrics' Dice is a score, not differentiable through argmax.)"""

    def __init__(self, ignore_index: int = IGNORE, smooth: float = 1.0) -> None:
        super().__init__()
        self.ignore_index, self.smooth = ignore_index, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        classes = logits.shape[1]
        valid = (target != self.ignore_index).unsqueeze(1)
        safe = torch.where(valid.squeeze(1), target, torch.zeros_like(target)).long()
        probabilities = torch.softmax(logits.float(), dim=1) * valid
        one_hot = nn.functional.one_hot(safe, classes).permute(0, 3, 1, 2) * valid
        dims = (0, 2, 3)
        overlap = (probabilities * one_hot).sum(dims)
        total = probabilities.sum(dims) + one_hot.sum(dims)
        return 1 - ((2 * overlap + self.smooth) / (total + self.smooth)).mean()


class _PixelScores(Scores):
    def __init__(self, classes: list[str]) -> None:
        self.classes = classes
        self.matrix: torch.Tensor | None = None

    def add(self, output: torch.Tensor, y: torch.Tensor) -> None:
        matrix = pixel_confusion(output.argmax(dim=1), y, len(self.classes))
        self.matrix = matrix if self.matrix is None else self.matrix + matrix

    def result(self, count: int) -> dict[str, float]:
        if self.matrix is None:
            return {}
        scores = class_scores(self.matrix.cpu())
        out = {"val_miou": mean_iou(scores), "val_pixel_acc": float(scores["pixel_acc"])}
        for name, iou, occurs in zip(
            metric_names(self.classes), scores["iou"].tolist(), scores["occurs"], strict=True
        ):
            if occurs:  # a class neither in the masks nor predicted has no IoU
                out[name] = iou
        return out


class Segmentation(Task):
    name = "segmentation"
    metrics = ("val_miou", "val_pixel_acc")
    class_targets = True

    def check_output(self, output_shape: list[int], target_shape: list[int]) -> None:
        if self.loss_type not in LOSSES:
            raise ProjectError(
                "training.loss.type",
                f"a segmentation scores a class at every pixel: {self.loss_type} does not take "
                f"class ids; use {', '.join(LOSSES)}",
            )
        wanted = [self.num_classes, *target_shape]
        if output_shape == wanted:
            return
        size = " x ".join(map(str, target_shape))
        fix = (
            f"end with a Conv2d with out_channels {self.num_classes} (a Segmenter: its "
            f"num_classes {self.num_classes})"
        )
        if output_shape[1:] != target_shape:
            fix += f" at {size} (Upsample or ConvTranspose2d bring a smaller map back up)"
        raise ProjectError(
            "model.layers",
            f"the model gives {output_shape} per sample but segmentation of {size} masks into "
            f"{self.num_classes} classes needs {wanted}, a score per class at every pixel: {fix}",
        )

    def loss_args(self) -> dict[str, Any]:
        return (
            {"ignore_index": IGNORE} if self.loss_type in ("CrossEntropyLoss", "DiceLoss") else {}
        )

    def for_loss(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return output, y.long()

    def scores(self) -> Scores:
        return _PixelScores(self.classes)

    def kept(self, output: torch.Tensor) -> torch.Tensor:
        return output.argmax(dim=1).to(torch.uint8)  # the predicted mask, not its scores

    def evaluate(self, result, outputs, split, dataset, pre, worst: int) -> None:
        from studio.core.use.segmentation import score_masks

        score_masks(result, outputs, split, dataset, worst)

    def predict(self, pre, names, outputs, top, threshold):
        from studio.core.use.predict import Prediction
        from studio.core.use.segmentation import areas

        if outputs.dim() != 4 or outputs.shape[1] != len(self.classes):
            raise ValueError(
                f"the model gives {list(outputs.shape[1:])} per sample but its file names "
                f"{len(self.classes)} classes: the metadata does not belong to these weights"
            )
        masks = self.kept(outputs).numpy()
        return [
            Prediction(name, mask=mask, areas=areas(mask, self.classes))
            for name, mask in zip(names, masks, strict=True)
        ]

    def evaluation_json(self, result) -> dict[str, Any]:
        return {
            "miou": result.miou,
            "pixel_acc": result.pixel_acc,
            "classes": result.classes,
            "per_class": result.class_iou,
            "confusion_matrix": result.confusion,
            "worst": [
                {k: v for k, v in vars(w).items() if k not in ("view", "true_mask", "mask")}
                for w in result.worst
            ],
        }
