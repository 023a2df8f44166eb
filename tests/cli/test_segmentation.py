"""Segmentation through the command line: images and masks in the layouts people have (a mask
folder, Pascal VOC), a U-Net and torchvision's segmentation models, per-pixel scores in
metrics.jsonl, evaluation, predicted mask files, every export, and bad files in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.cli.main import main
from studio.core.runs.metrics import read_metrics
from tests.segmentation_files import CLASSES, save_mask, scene, write_mask_folders, write_voc

ROOT = Path(__file__).resolve().parents[2]


def _json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _small_net(classes: int = 3) -> list[dict]:
    """Two convolutions at full size, one at half size brought back up, a score a class."""
    conv = {"type": "Conv2d", "args": {"out_channels": 16, "kernel_size": 3, "padding": 1}}
    return [
        conv, {"type": "ReLU"},
        {"type": "Branch", "merge": "concat", "branches": [
            [{"type": "Identity"}],
            [{"type": "MaxPool2d", "args": {"kernel_size": 2}}, conv, {"type": "ReLU"},
             {"type": "Upsample", "args": {"scale_factor": 2, "mode": "nearest"}}],
        ]},
        conv, {"type": "ReLU"},
        {"type": "Conv2d", "args": {"out_channels": classes, "kernel_size": 1}},
    ]  # fmt: skip


def _project(folder: Path, data: dict, layers=None, **training) -> str:
    project = {
        "studio": 1,
        "name": "shapes",
        "data": {"source": "segmentation", "batch_size": 8, **data},
        "model": {"layers": layers or _small_net()},
        "training": {
            "epochs": 8,
            "loss": {"type": "CrossEntropyLoss"},
            "optimizer": {"type": "Adam", "args": {"lr": 0.01}},
            "seed": 0,
            **training,
        },
    }
    path = folder / "shapes.json"
    path.write_text(json.dumps(project))
    return str(path)


def _train(capsys, project: str, runs: Path) -> Path:
    assert main(["train", project, "--runs-dir", str(runs)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return sorted(runs.iterdir())[-1]


def test_masks_train_per_pixel_and_are_scored_evaluated_and_predicted(tmp_path, capsys):
    options = write_mask_folders(tmp_path / "shapes", count=48, size=32)
    project = _project(
        tmp_path, {"options": options, "augment": [{"type": "RandomHorizontalFlip"}]}
    )
    described = _json(capsys, "datasets", project)
    assert described["task"] == "segmentation" and described["classes"] == CLASSES
    assert described["input_shape"] == [3, 32, 32]
    assert described["pixel_counts"]["background"] > described["pixel_counts"]["square"] > 0
    assert main(["summary", project]) == 0
    assert "Output: [3, 32, 32]" in capsys.readouterr().out  # the dense output shape
    run = _train(capsys, project, tmp_path / "runs")
    epochs = [e for e in read_metrics(run) if e["event"] == "epoch"]
    last = epochs[-1]
    for key in (
        "val_miou",
        "val_pixel_acc",
        "val_iou_background",
        "val_iou_square",
        "val_iou_disc",
    ):
        assert 0.0 <= last[key] <= 1.0, key
    assert last["val_miou"] > epochs[0]["val_miou"] and last["val_miou"] > 0.5, last
    report = _json(capsys, "evaluate", str(run))
    assert report["task"] == "segmentation"
    assert report["miou"] == pytest.approx(last["val_miou"], abs=1e-6)  # the same definition
    assert [c["class"] for c in report["per_class"]] == CLASSES
    assert all({"iou", "dice", "pixels"} <= set(c) for c in report["per_class"])
    matrix = np.asarray(report["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == sum(c["pixels"] for c in report["per_class"])
    assert report["worst"] and report["worst"][0]["miou"] <= report["worst"][-1]["miou"]
    assert main(["runs", str(tmp_path / "runs"), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)["runs"]
    assert listed["metric"] == "val_miou" and listed["best"] == max(e["val_miou"] for e in epochs)

    # a photo of another size: the mask comes back at its size, with each class's pixels
    image, _ = scene(np.random.default_rng(7), 48)
    Image.fromarray(image).save(tmp_path / "photo.png")
    said = _json(
        capsys, "predict", str(run), str(tmp_path / "photo.png"), "--out", str(tmp_path / "out")
    )
    (answer,) = said["predictions"]
    mask = np.asarray(Image.open(answer["mask"]))
    assert mask.shape == (48, 48) and set(np.unique(mask)) <= {0, 1, 2}
    assert sum(c["pixels"] for c in answer["classes"]) == 48 * 48
    assert Image.open(answer["overlay"]).size == (48, 48)
    assert {c["class"] for c in answer["classes"]} <= set(CLASSES)
    explained = [
        str(run),
        str(tmp_path / "photo.png"),
        "--explain",
        str(tmp_path),
        "--out",
        str(tmp_path),
    ]
    assert main(["predict", *explained]) == 2
    assert "--explain explains a class, a value or a label" in capsys.readouterr().err


def test_masks_move_with_their_images_under_augmentation(tmp_path):
    """Flips, rotations and crops: after each, the pixels a mask calls 'square' are red."""
    from studio.core.data import load_dataset
    from studio.core.data.batches import Batches
    from studio.core.project.reading import parse_project

    options = write_mask_folders(tmp_path / "shapes", count=16, size=32)
    augment = [
        {"type": "RandomHorizontalFlip", "args": {"p": 1.0}},
        {"type": "RandomRotation", "args": {"degrees": 30}},
        {"type": "RandomResizedCrop", "args": {"size": [32, 32], "scale": [0.5, 1.0]}},
    ]
    project = parse_project(
        json.loads(Path(_project(tmp_path, {"options": options, "augment": augment})).read_text())
    )
    dataset = load_dataset(project.data, base_dir=tmp_path)
    batches = Batches(dataset, dataset.train, 8, augment=project.data.augment)
    for x, y in batches:
        mean = torch.tensor(dataset.mean).view(1, 3, 1, 1)
        std = torch.tensor(dataset.std).view(1, 3, 1, 1)
        pixels = (x * std + mean).permute(0, 2, 3, 1)  # back to [0, 1] colours
        assert y.dtype == torch.uint8 and set(torch.unique(y).tolist()) <= {0, 1, 2, 255}
        red, blue = pixels[y == 1], pixels[y == 2]
        assert (red[:, 0] > red[:, 2]).float().mean() > 0.9  # the square's pixels are red
        assert (blue[:, 2] > blue[:, 0]).float().mean() > 0.9  # the disc's blue


def test_the_pascal_voc_layout_loads_with_torchvision_and_trains(tmp_path, capsys):
    write_voc(tmp_path / "voc", train=12, val=6)
    data = {"options": {"format": "voc", "root": str(tmp_path / "voc")}}
    project = _project(tmp_path, data, layers=_small_net(21), epochs=1)
    described = _json(capsys, "datasets", project)
    assert described["classes"][:3] == ["background", "aeroplane", "bicycle"]
    assert len(described["classes"]) == 21
    assert described["samples"]["test"] == 6  # VOC's val set, evaluated on
    assert described["samples"]["train"] + described["samples"]["val"] == 12
    assert described["pixel_counts"]["(ignored)"] > 0  # VOC's 255 borders
    run = _train(capsys, project, tmp_path / "runs")
    assert _json(capsys, "evaluate", str(run))["split"] == "test"


@pytest.mark.parametrize("fmt", ["state_dict", "safetensors", "onnx", "pt2", "python"])
def test_a_segmentation_run_exports_to_every_format_checked(tmp_path, capsys, fmt, shapes_run):
    out = tmp_path / f"model.{fmt}"
    report = _json(capsys, "export", str(shapes_run), "--format", fmt, "-o", str(out))
    assert any("checked on" in c for c in report["checks"]), report
    if fmt in ("onnx", "pt2", "state_dict"):  # predict reads the export by its sidecar
        image = shapes_run.parent.parent / "shapes" / "images" / "000.png"
        said = _json(capsys, "predict", report["path"], str(image), "--out", str(tmp_path))
        assert Path(said["predictions"][0]["mask"]).is_file()


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shapes-run")
    options = write_mask_folders(folder / "shapes", count=24, size=32)
    project = _project(folder, {"options": options}, epochs=1)
    assert main(["train", project, "--runs-dir", str(folder / "runs")]) == 0
    return sorted((folder / "runs").iterdir())[-1]


def test_torchvision_segmentation_models_are_a_layer_with_weights_from_the_hub_cache(
    tmp_path, capsys
):
    from torchvision import models

    from studio.core.model.backbones import cache_file, weights_url

    options = write_mask_folders(tmp_path / "shapes", count=16, size=32)
    layer = {"type": "Segmenter", "args": {"name": "lraspp_mobilenet_v3_large", "num_classes": 3}}
    project = _project(tmp_path, {"options": options}, layers=[layer], epochs=1)
    # offline with an empty cache: one line that says where the file goes
    assert main(["train", project, "--runs-dir", str(tmp_path / "runs")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in the cache" in err, err
    # COCO-trained weights (21 classes) in torch's hub cache fit 3 classes: the last layer is new
    url = weights_url("lraspp_mobilenet_v3_large", "DEFAULT")
    coco = models.get_model("lraspp_mobilenet_v3_large", weights=None, weights_backbone=None)
    key = "backbone.0.0.weight"  # the first convolution: marked, to be found after training
    with torch.no_grad():
        coco.get_parameter(key).add_(1.0)
    cache_file(url).parent.mkdir(parents=True, exist_ok=True)
    torch.save(coco.state_dict(), cache_file(url))
    run = _train(capsys, project, tmp_path / "runs")
    started = next(e for e in read_metrics(run) if e["event"] == "start")
    assert "its last layer untrained for 3 classes" in json.dumps(started), started
    trained = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    moved = (trained[f"0.model.{key}"] - coco.get_parameter(key)).abs().max()
    assert moved < 0.1, moved  # the file's weights, trained a little (not a fresh start)
    summary = _json(capsys, "summary", project)
    assert summary["output_shape"] == [3, 32, 32]
    report = _json(capsys, "export", str(run), "--format", "python", "-o", str(tmp_path / "m.py"))
    assert any("runs on its own" in c for c in report["checks"])


def _write_pair(folder: Path, name: str, image_size=(32, 32), mask=None, mode="P") -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", image_size, (90, 90, 90)).save(folder / "images" / f"{name}.png")
    if mask is None:
        return
    if mode == "P":
        save_mask(mask, folder / "masks" / f"{name}.png")
    else:
        Image.fromarray(np.stack([mask] * 3, axis=2)).save(folder / "masks" / f"{name}.png")


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("no mask", "a.png: no mask of the same name in"),
        ("size", "a.png: 16x16 but its image a.png is 32x32"),
        ("class id", "a.png: class id 7 in the mask, but there are 3 classes"),
        ("rgb", "a.png: a RGB mask holds colours, not class ids"),
        ("no classes", "options.classes names the classes, id 0 first"),
    ],
)
def test_a_bad_mask_folder_is_one_line_naming_the_file(tmp_path, capsys, case, said):
    folder = tmp_path / "set"
    good = np.zeros((32, 32), dtype=np.uint8)
    mask = {"no mask": None, "size": np.zeros((16, 16), np.uint8),
            "class id": np.full((32, 32), 7, np.uint8)}.get(case, good)  # fmt: skip
    _write_pair(folder, "a", mask=mask, mode="RGB" if case == "rgb" else "P")
    _write_pair(folder, "b", mask=good)
    options = {"images": str(folder / "images"), "masks": str(folder / "masks")}
    if case != "no classes":
        options["classes"] = CLASSES
    assert main(["datasets", _project(tmp_path, {"options": options})]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err, err


@pytest.mark.parametrize(
    ("last", "said"),
    [
        ({"type": "Conv2d", "args": {"out_channels": 5, "kernel_size": 1}},
         "needs [3, 32, 32], a score per class at every pixel: end with a Conv2d with out_channels 3"),
        ({"type": "MaxPool2d", "args": {"kernel_size": 2}},
         "Upsample or ConvTranspose2d bring a smaller map back up"),
    ],
)  # fmt: skip
def test_a_model_whose_output_is_not_a_score_a_class_a_pixel_names_the_fix(
    tmp_path, capsys, last, said
):
    options = write_mask_folders(tmp_path / "shapes", count=12, size=32)
    layers = [*_small_net(), last]
    assert main(["train", _project(tmp_path, {"options": options}, layers=layers)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err, err


def test_check_lr_find_early_stopping_and_the_template(tmp_path, capsys):
    from tests.datafiles import write_example_data

    write_example_data(tmp_path)
    example = json.loads((ROOT / "examples" / "shapes-unet.json").read_text())
    template = json.loads((ROOT / "resources" / "templates" / "segment-unet.json").read_text())
    assert example["model"]["layers"] == template["model"]["layers"]
    assert template["training"]["early_stopping"]["monitor"] == "val_miou"
    example["training"]["epochs"] = 2
    project = tmp_path / "unet.json"
    project.write_text(json.dumps(example))
    checks = _json(capsys, "check", str(project))
    by_name = {c["name"]: c for c in checks["checks"]}
    assert by_name["labels"]["passed"] and by_name["labels"]["value"] == [0, 2]
    assert by_name["overfit_one_batch"]["passed"], by_name["overfit_one_batch"]
    found = _json(capsys, "lr-find", str(project))
    assert found["suggestion"] > 0 and len(found["losses"]) > 10
    example["training"]["early_stopping"] = {"monitor": "val_acc", "patience": 2}
    project.write_text(json.dumps(example))
    assert main(["train", str(project), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "a segmentation task reports val_loss, train_loss, val_miou, val_pixel_acc" in err


def test_a_sweep_maximises_val_miou_and_runs_stop_early_and_diff_on_it(tmp_path, capsys):
    options = write_mask_folders(tmp_path / "shapes", count=16, size=32)
    stopping = {"monitor": "val_miou", "patience": 1}
    _project(tmp_path, {"options": options}, epochs=2, early_stopping=stopping)  # shapes.json
    sweep = {
        "studio_sweep": 1,
        "project": "shapes.json",
        "trials": 2,
        "objective": {"metric": "val_miou"},  # maximised: a higher IoU is better
        "space": {"training.optimizer.args.lr": {"log_uniform": [1e-3, 3e-2]}},
        "pruner": "none",
    }
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    study = _json(capsys, "sweep", str(tmp_path / "sweep.json"))
    assert study["direction"] == "maximize" and len(study["trials"]) == 2
    values = [t["value"] for t in study["trials"]]
    assert study["best"]["value"] == max(values) and all(0 <= v <= 1 for v in values)
    a, b = (t["run"] for t in study["trials"])
    for run in (a, b):
        epochs = [e for e in read_metrics(run) if e["event"] == "epoch"]
        assert max(e["val_miou"] for e in epochs) == pytest.approx(
            next(t["value"] for t in study["trials"] if t["run"] == run)
        )
    difference = _json(capsys, "diff", a, b)
    assert "val_miou" in json.dumps(difference), difference


def test_a_one_bit_mask_is_ids_0_and_1_and_a_rotation_brings_in_ignored_pixels(tmp_path):
    from studio.core.data import load_dataset
    from studio.core.data.batches import Batches
    from studio.core.project.reading import parse_project

    folder = tmp_path / "set"
    for name in ("a", "b", "c"):
        _write_pair(folder, name)
        mask = np.zeros((32, 32), dtype=bool)
        mask[8:24, 8:24] = True
        Image.fromarray(mask).convert("1").save(folder / "masks" / f"{name}.png")
    options = {"images": str(folder / "images"), "masks": str(folder / "masks"),
               "classes": ["background", "thing"]}  # fmt: skip
    rotate = [{"type": "RandomRotation", "args": {"degrees": [45, 45]}}]
    spec = json.loads(Path(_project(tmp_path, {"options": options, "augment": rotate})).read_text())
    project = parse_project(spec)
    dataset = load_dataset(project.data, base_dir=tmp_path)
    n = len(dataset.train)  # the training split's masks
    assert dataset.pixel_counts == {"background": n * (1024 - 256), "thing": n * 256}
    _, y = next(iter(Batches(dataset, dataset.train, 8, augment=project.data.augment)))
    assert (y[:, 0, 0] == 255).all()  # a rotated corner is no pixel of the background class
    assert set(torch.unique(y).tolist()) == {0, 1, 255}


def test_a_set_past_the_memory_limit_is_one_line_with_the_size_that_fits(
    tmp_path, capsys, monkeypatch
):
    options = write_mask_folders(tmp_path / "shapes", count=12, size=32)
    monkeypatch.setenv("STUDIO_MEMORY_LIMIT", str(12 * 4 * 16 * 16))  # room for 16x16 pictures
    assert main(["datasets", _project(tmp_path, {"options": options})]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set options.size to at most [16, 16]" in err, err
    options["size"] = [16, 16]
    assert _json(capsys, "datasets", _project(tmp_path, {"options": options}))["input_shape"] == [
        3,
        16,
        16,
    ]
