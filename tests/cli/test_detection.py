"""Object detection through the command line: boxes from COCO, YOLO and VOC files, a Detector
over torchvision's models trained, resumed, evaluated (mAP by torchmetrics), predicted onto
photos and exported, weights from the hub cache, and mistakes in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.cli.main import main
from studio.core.runs.metrics import read_metrics
from tests.detection_files import CLASSES, write_coco, write_voc, write_yolo

ROOT = Path(__file__).resolve().parents[2]
MODEL = "fasterrcnn_mobilenet_v3_large_320_fpn"  # the lightest: seconds an epoch on tiny sets


def _json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _project(folder: Path, options: dict, layer_args=None, **training) -> str:
    args = {"name": MODEL, "num_classes": len(CLASSES), "weights_backbone": None}
    project = {
        "studio": 1,
        "name": "boxes",
        "data": {"source": "detection", "options": options, "batch_size": 4, "val_fraction": 0.25},
        "model": {"layers": [{"type": "Detector", "args": {**args, **(layer_args or {})}}]},
        "training": {
            "epochs": 1,
            "loss": {"type": "DetectionLoss"},
            "optimizer": {"type": "SGD", "args": {"lr": 0.01, "momentum": 0.9}},
            "seed": 0,
            **training,
        },
    }
    path = folder / "boxes.json"
    path.write_text(json.dumps(project))
    return str(path)


def _train(capsys, project: str, runs: Path, *extra: str) -> Path:
    assert main(["train", project, "--runs-dir", str(runs), *extra]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return sorted(runs.iterdir())[-1]


def test_the_same_scenes_in_coco_yolo_and_voc_load_to_the_same_boxes(tmp_path, capsys):
    described = {}
    for name, write in (("coco", write_coco), ("yolo", write_yolo), ("voc", write_voc)):
        options = write(tmp_path / name, count=12, size=64, seed=3)
        project = json.loads(Path(_project(tmp_path, options)).read_text())
        project["data"]["val_fraction"] = 0.0
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(project))
        described[name] = _json(capsys, "datasets", str(path))
        assert main(["datasets", str(path)]) == 0
        text = capsys.readouterr().out
        classes = "20 classes (aeroplane" if name == "voc" else "2 classes (square, disc)"
        assert f"detection of {classes}" in text and "train: " in text and " boxes (" in text, text
    totals = {}
    for name, info in described.items():  # VOC's first two classes stand for square and disc
        assert info["task"] == "detection"
        assert info["classes"][:2] in (CLASSES, ["aeroplane", "bicycle"])
        per_class = [sum(list(split.values())[c] for split in info["boxes_per_class"].values())
                     for c in range(2)]  # fmt: skip
        totals[name] = (sum(info["images"].values()), sum(info["boxes"].values()), per_class)
    assert totals["coco"] == totals["yolo"] == totals["voc"], totals
    assert described["voc"]["images"]["test"] > 0  # VOC's val set is the test split
    assert totals["coco"][1] > 0


@pytest.fixture(scope="module")
def boxes_run(tmp_path_factory):
    """One trained detector (two epochs on 16 small scenes), shared by the tests that use it."""
    folder = tmp_path_factory.mktemp("boxes")
    options = write_coco(folder / "coco", count=16, size=64, seed=1)
    project = _project(folder, options, epochs=2)
    assert main(["train", project, "--runs-dir", str(folder / "runs")]) == 0
    return sorted((folder / "runs").iterdir())[-1], project


def test_a_detector_trains_and_reports_its_losses_and_map_each_epoch(boxes_run, capsys):
    run, _ = boxes_run
    epochs = [e for e in read_metrics(run) if e["event"] == "epoch"]
    assert len(epochs) == 2
    for event in epochs:
        for key in ("val_map", "val_map50", "val_loss", "loss_classifier", "loss_box_reg",
                    "loss_objectness", "loss_rpn_box_reg"):  # fmt: skip
            assert key in event, (key, event)
        parts = sum(event[k] for k in event if k.startswith("loss_"))
        assert abs(parts - event["train_loss"]) < 1e-3 * max(1.0, parts)  # the sum it trains
        assert 0.0 <= event["val_map"] <= event["val_map50"] <= 1.0
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"]
    summary = _json(capsys, "summary", str(run / "project.json"))
    parts = summary["layers"][0]["parts"]
    assert [p["name"] for p in parts] == ["backbone", "rpn", "roi_heads"]
    assert summary["output_shape"] == [100, 6]


def test_evaluate_gives_map_per_class_and_the_worst_images(boxes_run, capsys):
    run, _ = boxes_run
    result = _json(capsys, "evaluate", str(run), "--threshold", "0.05")
    assert result["task"] == "detection" and result["loss_name"] == "DetectionLoss"
    assert {"map", "map50", "map75", "per_class", "worst", "threshold"} <= result.keys()
    assert result["threshold"] == 0.05
    assert [c["class"] for c in result["per_class"]] == CLASSES
    assert sum(c["boxes"] for c in result["per_class"]) > 0
    for worst in result["worst"]:
        assert worst["missed"] + worst["false"] > 0
        assert all(len(b["box"]) == 4 for b in worst["true_boxes"])
    assert main(["evaluate", str(run)]) == 0
    text = capsys.readouterr().out
    assert "mAP " in text and "mAP50 " in text and "recall" in text


def test_predict_gives_boxes_in_the_photos_own_pixels_and_draws_them(boxes_run, tmp_path, capsys):
    run, _ = boxes_run
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.png"  # twice the training size, not square
    pixels = rng.integers(40, 90, (128, 192, 3)).astype(np.uint8)
    pixels[30:80, 40:100] = (200, 40, 40)
    Image.fromarray(pixels).save(photo)
    out = tmp_path / "drawn"
    result = _json(
        capsys, "predict", str(run), str(photo), "--threshold", "0.01", "--out", str(out)
    )
    prediction = result["predictions"][0]
    assert prediction["input"] == "photo.png"
    assert Path(prediction["overlay"]).is_file()
    assert Image.open(prediction["overlay"]).size == (192, 128)
    for box in prediction["boxes"]:
        x0, y0, x1, y1 = box["box"]
        assert 0 <= x0 < x1 <= 192.01 and 0 <= y0 < y1 <= 128.01, box
        assert box["score"] >= 0.01 and box["class"] in CLASSES
    strict = ("--threshold", "0.999999", "--out", str(out))
    none = _json(capsys, "predict", str(run), str(photo), *strict)
    assert none["predictions"][0]["boxes"] == []
    assert main(["predict", str(run), str(photo), *strict]) == 0
    assert "photo.png: no boxes" in capsys.readouterr().out
    assert main(["predict", str(run), str(photo), "--explain", str(tmp_path / "why")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a detector's boxes are their own explanation" in err, err


@pytest.mark.parametrize("fmt", ["state_dict", "safetensors", "python"])
def test_a_detector_exports_checked(boxes_run, tmp_path, capsys, fmt):
    run, _ = boxes_run
    report = _json(capsys, "export", str(run), "--format", fmt, "-o", str(tmp_path / "m"))
    assert report["max_abs_diff"] <= 1e-4, report
    if fmt == "python":
        assert any("runs on its own" in c for c in report["checks"])


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_onnx_and_pt2_refuse_a_detector_in_one_line(boxes_run, tmp_path, capsys, fmt):
    run, _ = boxes_run
    assert main(["export", str(run), "--format", fmt, "-o", str(tmp_path / "m")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{fmt} cannot carry a Detector" in err, err
    assert not list(tmp_path.iterdir())  # nothing written


class _StopAtStep:
    def __init__(self, control, step: int) -> None:
        self.control, self.step = control, step

    def on_event(self, event) -> None:
        if event["event"] == "step" and event["step"] >= self.step:
            self.control.stop()

    def close(self) -> None:
        pass


def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights_with_clipping(tmp_path):
    from studio.core.project.reading import parse_project
    from studio.core.train.control import TrainControl
    from studio.core.train.loop import checkpoint_project, fit

    options = write_coco(tmp_path / "coco", count=8, size=64, seed=2)
    spec = json.loads(Path(_project(tmp_path, options, epochs=2, grad_clip=1.0)).read_text())
    spec["data"]["augment"] = [{"type": "RandomHorizontalFlip"}]
    straight = fit(parse_project(spec), runs_dir=tmp_path / "a", base_dir=tmp_path)
    control = TrainControl()
    interrupted = fit(
        parse_project(spec), callbacks=[_StopAtStep(control, 1)], control=control,
        runs_dir=tmp_path / "b", base_dir=tmp_path, report_seconds=0.0,
    )  # fmt: skip
    assert interrupted.reason == "stopped" and interrupted.epochs_done == 0  # mid-epoch 1
    checkpoint = interrupted.run_dir / "checkpoints" / "last.pt"
    resumed = fit(checkpoint_project(checkpoint), resume=checkpoint, base_dir=tmp_path)
    assert resumed.reason == "completed" and resumed.epochs_done == 2
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    epochs = [e for e in read_metrics(resumed.run_dir) if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all("val_map50" in e for e in epochs)


def test_boxes_move_with_their_images_under_augmentation(tmp_path):
    from torchvision.transforms import v2

    from studio.core.data import load_dataset
    from studio.core.project.reading import parse_project

    options = write_coco(tmp_path / "coco", count=8, size=64, seed=4)
    project = parse_project(json.loads(Path(_project(tmp_path, options)).read_text()))
    dataset = load_dataset(project.data, base_dir=tmp_path)
    x, y = dataset.train.x, dataset.train.y
    flip = v2.RandomHorizontalFlip(p=1.0)
    images, rows = dataset.prepare_pair(x, y, flip)
    real = y[..., 4] >= 0
    assert torch.equal(rows[..., 4], y[..., 4])
    assert torch.allclose(rows[real][:, 0], 64 - y[real][:, 2])  # x0 = width - old x1
    assert torch.allclose(images, dataset.prepare(x.flip(-1)))
    crop = v2.RandomResizedCrop(size=(64, 64), scale=(0.05, 0.1))  # most boxes fall outside
    _, cropped = dataset.prepare_pair(x, y, crop)
    kept = cropped[..., 4] >= 0
    assert kept.sum() < real.sum()  # SanitizeBoundingBoxes dropped what the crop cut away
    boxes = cropped[kept][:, :4]
    assert bool(((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all())
    assert float(boxes.min()) >= 0 and float(boxes.max()) <= 64


@pytest.mark.parametrize(
    ("layers", "loss", "said"),
    [
        ([{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 2}}], "DetectionLoss",
         "detection needs boxes: end the stack with a Detector"),
        (None, "CrossEntropyLoss", "a detection model computes its own losses"),
        ([{"type": "Detector", "args": {"name": MODEL, "num_classes": 1, "weights_backbone": None}}],
         "DetectionLoss", "the data has 2 classes (square, disc) but the Detector has num_classes 1"),
    ],
)  # fmt: skip
def test_a_model_or_loss_that_cannot_detect_is_one_line(tmp_path, capsys, layers, loss, said):
    options = write_coco(tmp_path / "coco", count=8, size=64, seed=5)
    project = json.loads(Path(_project(tmp_path, options)).read_text())
    if layers is not None:
        project["model"]["layers"] = layers
    project["training"]["loss"] = {"type": loss}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(project))
    assert main(["train", str(path), "--runs-dir", str(tmp_path / "runs")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err, err


def test_backbone_weights_come_from_the_hub_cache_and_freeze_as_torchvision_does(
    tmp_path, capsys, monkeypatch
):
    from torchvision import models

    from studio.core.model.backbones import cache_file, weights_url

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    options = write_coco(tmp_path / "coco", count=8, size=64, seed=6)
    project = _project(tmp_path, options, {"weights_backbone": "DEFAULT"})
    assert main(["train", project, "--runs-dir", str(tmp_path / "runs")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in the cache" in err, err
    url = weights_url("mobilenet_v3_large", "IMAGENET1K_V1")  # the detector's backbone default
    imagenet = models.get_model("mobilenet_v3_large", weights=None)
    key = "features.0.0.weight"  # the first convolution: marked, to be found in the detector
    with torch.no_grad():
        imagenet.get_parameter(key).add_(1.0)
    cache_file(url).parent.mkdir(parents=True, exist_ok=True)
    torch.save(imagenet.state_dict(), cache_file(url))
    run = _train(capsys, project, tmp_path / "runs")
    started = next(e for e in read_metrics(run) if e["event"] == "start")
    assert "backbone mobilenet_v3_large weights IMAGENET1K_V1" in json.dumps(started), started
    trained = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    marked = trained["0.model.backbone.body.0.0.weight"]
    assert torch.equal(marked, imagenet.get_parameter(key))  # torchvision froze the first layers
    summary = _json(capsys, "summary", project)
    assert summary["trainable_params"] < summary["total_params"]
    report = _json(capsys, "export", str(run), "--format", "python", "-o", str(tmp_path / "m.py"))
    assert report["max_abs_diff"] <= 1e-4 and any("runs on its own" in c for c in report["checks"])


def test_check_runs_on_a_detector_and_early_stopping_watches_map(tmp_path, capsys):
    options = write_coco(tmp_path / "coco", count=8, size=64, seed=7)
    project = json.loads(Path(_project(tmp_path, options)).read_text())
    project["data"]["batch_size"] = 2
    path = tmp_path / "check.json"
    path.write_text(json.dumps(project))
    main(["check", str(path), "--json"])  # 1 when a check fails: 30 s of CPU steps may not do
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["labels"]["passed"] and checks["labels"]["value"] == [0, 1]
    assert checks["initial_loss"]["passed"] and checks["finite_inputs"]["passed"]
    assert checks["overfit_one_batch"]["value"] < checks["initial_loss"]["value"], checks
    project["training"]["early_stopping"] = {"monitor": "val_acc", "patience": 2}
    path.write_text(json.dumps(project))
    assert main(["train", str(path), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "a detection task reports val_loss, train_loss, val_map, val_map50" in err, err


def test_the_template_trains_on_a_coco_set(tmp_path, capsys):
    template = json.loads((ROOT / "resources" / "templates" / "detect-objects.json").read_text())
    assert template["training"]["loss"]["type"] == "DetectionLoss"
    assert template["model"]["layers"][0]["type"] == "Detector"
    template["data"]["options"] = write_coco(tmp_path / "coco", count=8, size=64, seed=8)
    template["data"]["options"]["size"] = [64, 64]
    template["model"].pop("input_shape", None)
    template["model"]["layers"][0]["args"]["weights_backbone"] = None  # offline: untrained
    template["training"].update(epochs=1, device="cpu")
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    run = _train(capsys, str(path), tmp_path / "runs")
    assert any("val_map50" in e for e in read_metrics(run) if e["event"] == "epoch")
