"""A detector's scores and answers on known boxes: mAP by torchmetrics on perfect and wrong
detections, missed and false boxes, predicted boxes placed back on photos of their own size, and
non-square images of mixed sizes decoded with their boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.tasks.detection import detections_of, mean_average_precision, targets_of
from studio.core.use.detection import mistakes, place_boxes
from studio.core.use.predict import Prediction


def _rows(*boxes: tuple[float, float, float, float, int], size: int = 3) -> torch.Tensor:
    """One image's padded box rows (x0, y0, x1, y1, class; class -1 fills the rest)."""
    rows = torch.zeros((size, 5))
    rows[:, 4] = -1
    for i, box in enumerate(boxes):
        rows[i] = torch.tensor(box, dtype=torch.float32)
    return rows


def _found(rows: torch.Tensor, scores: list[float], classes=None) -> torch.Tensor:
    """Detector rows (x0, y0, x1, y1, score, class) from true rows: the same boxes, scored."""
    out = torch.zeros((rows.shape[0], 6))
    out[:, 5] = -1
    for i, score in enumerate(scores):
        out[i, :4] = rows[i, :4]
        out[i, 4] = score
        out[i, 5] = rows[i, 4] if classes is None else classes[i]
    return out


def test_perfect_detections_score_map_one_and_wrong_classes_zero():
    truth = torch.stack([_rows((10, 10, 40, 40, 0), (50, 20, 90, 60, 1)), _rows((5, 5, 30, 50, 1))])
    perfect = torch.stack([_found(truth[0], [0.9, 0.8]), _found(truth[1], [0.7])])
    metric = mean_average_precision()
    metric.update(detections_of(perfect), targets_of(truth))
    scores = metric.compute()
    assert float(scores["map"]) == 1.0 and float(scores["map_50"]) == 1.0
    swapped = torch.stack(
        [_found(truth[0], [0.9, 0.8], classes=[1, 0]), _found(truth[1], [0.7], classes=[0])]
    )
    metric = mean_average_precision()
    metric.update(detections_of(swapped), targets_of(truth))
    assert float(metric.compute()["map"]) == 0.0


def test_missed_and_false_boxes_are_counted_by_class_at_iou_half():
    truth = targets_of(_rows((10, 10, 40, 40, 0), (50, 20, 90, 60, 1)).unsqueeze(0))[0]
    found = detections_of(
        torch.tensor(
            [
                [11, 11, 41, 41, 0.9, 0],  # the first box, found
                [50, 20, 90, 60, 0.8, 0],  # the second box's place, the wrong class: false
                [12, 10, 40, 41, 0.7, 0],  # the first box again: a duplicate is false
            ]
        ).unsqueeze(0)
    )[0]
    assert mistakes(found, truth) == (1, 2)  # the second box missed; two false
    nothing = detections_of(torch.zeros((1, 2, 6)) - 1)[0]
    assert mistakes(nothing, truth) == (2, 0)


def test_predicted_boxes_are_scaled_to_each_photos_own_pixels(tmp_path):
    wide, tall = tmp_path / "wide.png", tmp_path / "tall.png"
    Image.new("RGB", (192, 128), (90, 90, 90)).save(wide)
    Image.new("RGB", (64, 256), (90, 90, 90)).save(tall)
    predictions = [
        Prediction("wide.png", boxes=[("square", 0.9, [0.0, 0.0, 64.0, 64.0])]),
        Prediction("tall.png", boxes=[("disc", 0.8, [16.0, 32.0, 48.0, 64.0])]),
    ]
    place_boxes(
        predictions, [str(wide), str(tall)], [3, 64, 64], tmp_path / "out", ["square", "disc"]
    )
    assert predictions[0].boxes[0][2] == [0.0, 0.0, 192.0, 128.0]
    assert predictions[1].boxes[0][2] == [16.0, 128.0, 48.0, 256.0]
    drawn = np.asarray(Image.open(predictions[0].overlay_file))
    assert drawn.shape == (128, 192, 3) and (drawn != 90).any()  # the box drawn on the photo


def test_images_of_mixed_sizes_are_decoded_with_their_boxes_scaled(tmp_path):
    from studio.core.data import load_dataset
    from studio.core.project.spec import DataSpec

    images = tmp_path / "images"
    images.mkdir()
    entries, annotations = [], []
    for i, (width, height) in enumerate([(128, 64), (64, 96)]):
        Image.new("RGB", (width, height), (90, 90, 90)).save(images / f"{i}.png")
        entries.append({"id": i + 1, "file_name": f"{i}.png", "width": width, "height": height})
        annotations.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
             "bbox": [width / 4, height / 2, width / 2, height / 4]}
        )  # fmt: skip
    coco = {"images": entries, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]}
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    options = {"images": str(images), "annotations": str(tmp_path / "instances.json"),
               "size": [48, 80]}  # fmt: skip
    dataset = load_dataset(DataSpec("detection", options, val_fraction=0.0), base_dir=tmp_path)
    assert list(dataset.train.x.shape) == [2, 3, 48, 80]
    for rows in dataset.train.y:  # a quarter in, half down, at the decoded 80 x 48 each time
        assert torch.allclose(rows[0], torch.tensor([20.0, 24.0, 60.0, 36.0, 0.0]))
    assert any("resized to 80x48" in note for note in dataset.notes)
    assert Path(options["images"]).is_dir()


def test_a_frozen_backbone_freezes_what_its_weights_filled_not_the_fpn():
    from studio.core.model.detectors import Detector

    with torch.device("meta"):
        detector = Detector("fasterrcnn_mobilenet_v3_large_fpn", 2, frozen_backbone=True)
    backbone = detector.model.backbone
    assert not any(p.requires_grad for p in backbone.body.parameters())
    assert all(p.requires_grad for p in backbone.fpn.parameters())  # untrained: it learns
    detector.set_frozen(False)  # fine-tuning frees what torchvision left trainable
    assert any(p.requires_grad for p in backbone.body.parameters())
    assert not all(p.requires_grad for p in backbone.body.parameters())  # its first layers


@pytest.mark.parametrize(
    "name", ["fasterrcnn_mobilenet_v3_large_320_fpn", "ssdlite320_mobilenet_v3_large"]
)
def test_coco_weights_load_re_headed_for_the_data_classes(tmp_path, name):
    from torchvision import models

    from studio.core.model.detectors import Detector, load_weights

    coco = models.get_model(name, weights=None, weights_backbone=None, num_classes=91)
    torch.save(coco.state_dict(), tmp_path / "coco.pth")  # COCO's shapes: 91 classes
    detector = Detector(name, 2, weights="coco.pth", weights_backbone=None)
    said = load_weights(detector, tmp_path)
    assert said.endswith("its class predictor untrained for 2 classes"), said
    own, theirs = detector.model.state_dict(), coco.state_dict()
    first = next(k for k in own if k.startswith("backbone.") and k.endswith("weight"))
    assert torch.equal(own[first], theirs[first])
