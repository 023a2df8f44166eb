"""A trained segmentation model put to use: its evaluation (the pixel confusion matrix, IoU and
Dice per class, the worst images with their true and predicted masks) and its predictions
written as files (a mask PNG of class ids in the image's own size, and an overlay)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core.errors import StudioError
from studio.core.tasks.segmentation import class_scores, mean_iou, pixel_confusion


@dataclass
class WorstImage:
    index: int  # in the evaluated split
    miou: float  # over the classes the image shows or the model saw in it
    pixel_acc: float
    view: Any = None  # the image (H x W x 3 uint8); not in the JSON
    true_mask: Any = None  # (H x W) class ids; not in the JSON
    mask: Any = None  # the predicted mask; not in the JSON


def score_masks(result, predicted: torch.Tensor, split, dataset, worst: int) -> None:
    """Fill an Evaluation from predicted masks (N, H, W) of the evaluated split."""
    classes = dataset.classes
    matrix = pixel_confusion(predicted, split.y, len(classes))
    scores = class_scores(matrix)
    result.miou, result.pixel_acc = mean_iou(scores), float(scores["pixel_acc"])
    result.confusion = matrix.tolist()
    result.class_iou = [
        {"class": name, "iou": float(iou), "dice": float(dice), "pixels": int(pixels)}
        for name, iou, dice, pixels in zip(
            classes, scores["iou"], scores["dice"], scores["pixels"], strict=True
        )
    ]
    result.worst = _worst_images(dataset, split, predicted, worst)


def per_image_scores(predicted: torch.Tensor, true: torch.Tensor, classes: int):
    """Each image's mIoU (over the classes it shows or is predicted to) and pixel accuracy."""
    n = len(true)
    true, predicted = true.long().reshape(n, -1), predicted.long().reshape(n, -1)
    valid = true < classes
    image = torch.arange(n).unsqueeze(1).expand_as(true)
    index = (image * classes + true) * classes + predicted
    counts = torch.bincount(index[valid], minlength=n * classes * classes)
    matrix = counts.reshape(n, classes, classes).double()
    hits = matrix.diagonal(dim1=1, dim2=2)
    union = matrix.sum(dim=2) + matrix.sum(dim=1) - hits
    iou = torch.where(union > 0, hits / union.clamp(min=1), torch.zeros_like(hits))
    occurs = (union > 0).sum(dim=1).clamp(min=1)
    miou = (iou * (union > 0)).sum(dim=1) / occurs
    accuracy = hits.sum(dim=1) / matrix.sum(dim=(1, 2)).clamp(min=1)
    return miou, accuracy


def _worst_images(dataset, split, predicted: torch.Tensor, count: int) -> list[WorstImage]:
    if count <= 0:
        return []
    from studio.core.data.dataset import image_view

    miou, accuracy = per_image_scores(predicted, split.y, len(dataset.classes))
    order = miou.argsort()[:count].tolist()
    return [
        WorstImage(
            int(i),
            float(miou[i]),
            float(accuracy[i]),
            image_view(split.x[i], dataset.scale),
            split.y[i].numpy(),
            predicted[i].numpy(),
        )
        for i in order
    ]


def areas(mask: np.ndarray, classes: list[str]) -> list[tuple[str, int]]:
    """(class, pixels) of the classes a mask shows, the largest first."""
    counts = np.bincount(mask.reshape(-1), minlength=len(classes))[: len(classes)]
    shown = [(classes[i], int(n)) for i, n in enumerate(counts) if n > 0]
    return sorted(shown, key=lambda item: -item[1])


def write_mask_files(
    predictions: list, inputs: list[str], out_dir: Path, classes: list[str]
) -> None:
    """For each image and its prediction: `<stem>_mask.png` (a palette PNG of class ids, at the
    image's own size, nearest neighbour) and `<stem>_overlay.png` (the image tinted by class);
    the prediction's areas are counted at that size and its files named."""
    from PIL import Image

    from studio.core.data.segmentation import blend, palette
    from studio.core.data.streaming import opened_picture

    images = [Path(item) for item in inputs]
    if len(images) != len(predictions):
        raise StudioError("a segmentation model predicts image files: give pictures only")
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [path.stem for path in images]
    for index, (path, prediction) in enumerate(zip(images, predictions, strict=True)):
        with opened_picture(path) as picture:
            original = picture.convert("RGB")
        stem = path.stem if stems.count(path.stem) == 1 else f"{path.stem}-{index}"  # a.png twice
        mask = Image.fromarray(np.asarray(prediction.mask, dtype=np.uint8), mode="P")
        mask = mask.resize(original.size, Image.NEAREST)
        mask.putpalette(palette().flatten().tolist())
        mask_file, overlay_file = out_dir / f"{stem}_mask.png", out_dir / f"{stem}_overlay.png"
        mask.save(mask_file)
        ids = np.asarray(mask, dtype=np.uint8)
        Image.fromarray(blend(np.asarray(original), ids)).save(overlay_file)
        prediction.mask_file, prediction.overlay_file = str(mask_file), str(overlay_file)
        prediction.areas = areas(ids, classes)
