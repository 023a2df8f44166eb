"""What evaluation and prediction say about a detector: COCO's mAP (torchmetrics'
MeanAveragePrecision) with each class's AP and recall, the images with the most missed and false
boxes, and predicted boxes placed back on the photos they came from, with an overlay PNG."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core.tasks.detection import (
    detections_of,
    mean_average_precision,
    score_of,
    targets_of,
)

MATCH_IOU = 0.5  # a predicted box finds a true one of its class at this overlap


@dataclass
class WorstImage:
    """An evaluated image with its missed and false boxes at the score threshold."""

    index: int  # in the evaluated split
    missed: int  # true boxes no predicted box of their class overlaps at IoU 0.5
    false: int  # predicted boxes (at the threshold) that overlap no true box of their class
    true_boxes: list[dict[str, Any]] = field(default_factory=list)  # {class, box}
    predicted: list[dict[str, Any]] = field(default_factory=list)  # {class, score, box}
    view: Any = None  # the image (an array) for the Evaluation tab; not in the JSON


def score_boxes(result, outputs, split, dataset, worst: int, threshold: float) -> None:
    """Fill an Evaluation of a detector: mAP, mAP50, mAP75, each class's AP and recall, and the
    `worst` images by missed plus false boxes at `threshold`."""
    found, truth = detections_of(outputs), targets_of(split.y.cpu())
    metric = mean_average_precision(class_metrics=True)
    metric.update(found, truth)
    scores = metric.compute()
    classes = list(dataset.classes)
    per_class = {int(c): i for i, c in enumerate(torch.atleast_1d(scores["classes"]).tolist())}
    counts = torch.bincount(
        torch.cat([t["labels"] for t in truth] + [torch.zeros(0, dtype=torch.long)]),
        minlength=len(classes),
    ).tolist()
    ap, recall = (
        torch.atleast_1d(scores["map_per_class"]),
        torch.atleast_1d(scores["mar_100_per_class"]),
    )
    result.extra = {
        "map": score_of(scores["map"]),
        "map50": score_of(scores["map_50"]),
        "map75": score_of(scores["map_75"]),
        "threshold": threshold,
        "per_class": [
            {
                "class": name,
                "ap": score_of(ap[per_class[c]]) if c in per_class else 0.0,
                "recall": score_of(recall[per_class[c]]) if c in per_class else 0.0,
                "boxes": counts[c],
            }
            for c, name in enumerate(classes)
        ],
    }
    result.worst = worst_images(found, truth, classes, threshold, worst, dataset, split)
    result.extra["worst"] = [
        {k: v for k, v in vars(w).items() if k != "view"} for w in result.worst
    ]


def mistakes(found: dict[str, torch.Tensor], truth: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(missed, false) boxes of one image: predictions matched greedily, best score first, to
    unmatched true boxes of their class at IoU >= 0.5."""
    from torchvision.ops import box_iou

    true_boxes, true_labels = truth["boxes"], truth["labels"]
    if not len(found["boxes"]) or not len(true_boxes):
        return len(true_boxes), len(found["boxes"])
    overlap = box_iou(found["boxes"].float(), true_boxes.float())
    taken = torch.zeros(len(true_boxes), dtype=torch.bool)
    false = 0
    for i in found["scores"].argsort(descending=True).tolist():
        fits = (true_labels == found["labels"][i]) & ~taken & (overlap[i] >= MATCH_IOU)
        if fits.any():
            taken[int(torch.where(fits, overlap[i], -1.0).argmax())] = True
        else:
            false += 1
    return int((~taken).sum()), false


def worst_images(found, truth, classes, threshold, count, dataset, split) -> list[WorstImage]:
    from studio.core.data.dataset import image_view

    rows = []
    for index, (image_found, image_truth) in enumerate(zip(found, truth, strict=True)):
        keep = image_found["scores"] >= threshold
        kept = {k: v[keep] for k, v in image_found.items()}
        missed, false = mistakes(kept, image_truth)
        if missed + false:
            rows.append((missed + false, index, missed, false))
    rows.sort(key=lambda r: (-r[0], r[1]))
    out = []
    for _, index, missed, false in rows[:count]:
        image_found, image_truth = found[index], truth[index]
        out.append(
            WorstImage(
                index,
                missed,
                false,
                [{"class": _name(classes, c), "box": b}
                 for c, b in zip(image_truth["labels"].tolist(), image_truth["boxes"].tolist(),
                                 strict=True)],
                boxes_json(image_found, classes),
                image_view(split.x[index].cpu(), dataset.scale),
            )
        )  # fmt: skip
    return out


def boxes_json(found: dict[str, torch.Tensor], classes: list[str]) -> list[dict[str, Any]]:
    return [
        {"class": _name(classes, c), "score": s, "box": b}
        for c, s, b in zip(
            found["labels"].tolist(), found["scores"].tolist(), found["boxes"].tolist(), strict=True
        )
    ]


def _name(classes: list[str], c: int) -> str:
    return classes[c] if 0 <= c < len(classes) else str(c)


def place_boxes(predictions, inputs: list[str], input_shape: list[int], out: Path | None,
                classes: list[str]) -> None:  # fmt: skip
    """Each prediction's boxes in its photo's own pixels (the model saw it at `input_shape`);
    with `out`, NAME_boxes.png: the photo with its boxes drawn."""
    from studio.core.data.detection import draw_boxes
    from studio.core.data.streaming import picture_header, read_picture

    _, height, width = input_shape
    for prediction, item in zip(predictions, inputs, strict=True):
        path = Path(item)
        own_width, own_height = picture_header(path)[1]
        sx, sy = own_width / width, own_height / height
        prediction.boxes = [
            (name, score, [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy])
            for name, score, box in prediction.boxes or []
        ]
        if out is None:
            continue
        out.mkdir(parents=True, exist_ok=True)
        photo = np.asarray(read_picture(path, (own_height, own_width), grey=False))
        drawn = draw_boxes(photo, [
            (classes.index(name) if name in classes else 0, box, f"{name} {score:.0%}")
            for name, score, box in prediction.boxes
        ], width=max(2, round(max(own_width, own_height) / 300)))  # fmt: skip
        target = out / f"{path.stem}_boxes.png"
        from PIL import Image

        Image.fromarray(drawn).save(target)
        prediction.overlay_file = str(target)
