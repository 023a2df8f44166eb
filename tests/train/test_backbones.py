"""Pretrained backbones through the project file and the command line. Nothing is downloaded from
the internet here: the weights are a seeded model's state dict written where torch's hub cache
keeps them (under a temporary TORCH_HOME) or beside the project, and a download is served by a
local HTTP server."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torchvision import models

from studio.cli.main import main
from studio.core.errors import WeightsError
from studio.core.model import backbones
from studio.core.train.checkpoint import load_checkpoint
from tests.datafiles import write_image_folder

MODEL = "mobilenet_v3_small"  # the smallest torchvision model: quick on a CPU


def seeded_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return models.get_model(MODEL, weights=None).state_dict()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty hub cache of our own."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def cached_weights(torch_home) -> Path:
    """MODEL's DEFAULT weights as if torchvision had downloaded them: its file name, its place."""
    target = backbones.cache_file(backbones.weights_url(MODEL, "DEFAULT"))
    target.parent.mkdir(parents=True)
    torch.save(seeded_state(), target)
    return target


def photo_project(folder: Path, **training) -> Path:
    write_image_folder(folder / "photos", classes=("cat", "dog"), per_class=12, size=(60, 48))
    project = {
        "studio": 1,
        "name": "photos",
        "data": {"source": "image_folder", "options": {"path": "photos"}, "batch_size": 8},
        "model": {
            "layers": [
                {"type": "Backbone", "args": {"name": MODEL}},
                {"type": "Linear", "args": {"out_features": 2}},
            ]
        },
        "training": {"epochs": 2, "device": "cpu", **training},
    }
    path = folder / "photos.json"
    path.write_text(json.dumps(project))
    return path


def test_the_cache_and_a_file_beside_the_project_give_the_same_weights(cached_weights, tmp_path):
    torch.save(seeded_state(), tmp_path / "mine.pth")
    save_file(seeded_state(), str(tmp_path / "mine.safetensors"))
    from_cache = backbones.pretrained_state(MODEL, "DEFAULT", tmp_path)
    for name in ("mine.pth", "mine.safetensors"):
        from_file = backbones.pretrained_state(MODEL, name, tmp_path)
        assert from_file.keys() == from_cache.keys()
        assert all(torch.equal(from_file[k], from_cache[k]) for k in from_cache)
    model = torch.nn.Sequential(backbones_block())
    backbones.load_pretrained(model, tmp_path)
    loaded = model[0].model.state_dict()
    assert all(torch.equal(loaded[k], from_cache[k]) for k in loaded)  # the classifier left out
    assert "classifier.3.weight" in from_cache and "classifier.3.weight" not in loaded


def backbones_block():
    from studio.core.model.blocks import Backbone

    return Backbone(MODEL, "DEFAULT")


def test_missing_weights_are_one_line_naming_the_file_its_place_and_the_ways_out(
    torch_home, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        backbones, "weights_url", lambda name, weights: "http://127.0.0.1:9/w-0a1b2c3d.pth"
    )
    project = photo_project(tmp_path)
    assert main(["train", str(project)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (
        f"{MODEL} weights DEFAULT are not in the cache ({torch_home}/hub/checkpoints/w-0a1b2c3d.pth)"
        in err
    )
    assert "weights to null (untrained) or to a .pth/.safetensors file" in err
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A local HTTP server in torchvision's place: `put(name)` serves the seeded weights as NAME
    (its hash prefix computed when NAME is None) and points the weights' URL at it."""
    import hashlib

    folder = tmp_path / "served"
    folder.mkdir()
    payload = tmp_path / "payload.pth"
    torch.save(seeded_state(), payload)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def put(name: str | None = None) -> tuple[str, int]:
        digest = hashlib.sha256(payload.read_bytes()).hexdigest()
        name = name or f"{MODEL}-{digest[:8]}.pth"
        (folder / name).write_bytes(payload.read_bytes())
        url = f"http://127.0.0.1:{server.server_address[1]}/{name}"
        monkeypatch.setattr(backbones, "weights_url", lambda n, w: url)
        return name, payload.stat().st_size

    yield put
    server.shutdown()


def test_a_download_lands_in_the_hub_cache_with_progress_and_its_hash_checked(
    torch_home, tmp_path, served
):
    name, size = served()
    seen = []
    state = backbones.pretrained_state(MODEL, "DEFAULT", tmp_path, lambda *p: seen.append(p))
    assert torch.load(torch_home / "hub" / "checkpoints" / name)["features.0.0.weight"].equal(
        seeded_state()["features.0.0.weight"]
    )
    assert seen and seen[-1] == (f"downloading {name}", size, size)
    assert torch.equal(state["features.0.0.weight"], seeded_state()["features.0.0.weight"])
    bad, _ = served(f"{MODEL}-ffffffff.pth")  # a file whose hash is not the one its name promises
    with pytest.raises(WeightsError, match="damaged"):
        backbones.pretrained_state(MODEL, "DEFAULT", tmp_path)
    assert not (torch_home / "hub" / "checkpoints" / bad).exists()


def test_studio_train_shows_the_download_then_trains_from_the_cache(
    torch_home, tmp_path, served, capsys
):
    name, size = served()
    project = photo_project(tmp_path, epochs=1)
    assert main(["train", str(project)]) == 0
    out, err = capsys.readouterr()
    assert f"downloading {name}: {size / 2**20:.1f} MiB" in err.splitlines()
    assert f"{MODEL} is frozen and the images are not augmented" in out  # the features line
    assert main(["train", str(project)]) == 0  # the second run reads the cache
    assert "downloading" not in capsys.readouterr().err


def test_summary_needs_no_weights_and_shows_frozen_parameters_apart(torch_home, tmp_path, capsys):
    project = photo_project(tmp_path)
    assert main(["summary", str(project), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["input_shape"] == [3, 224, 224]  # the weights' crop, not the photos' size
    assert summary["layers"][0]["output_shape"] == [1024]
    assert summary["trainable_params"] == 1024 * 2 + 2 < summary["total_params"]
    assert not (torch_home / "hub").exists()  # nothing fetched


@pytest.mark.parametrize(
    ("args", "shape", "problem"),
    [
        ({"name": MODEL}, [1, 64, 64], "takes colour images [3, height, width]"),
        (
            {"name": MODEL, "weights": "IMAGENET21K"},
            [3, 64, 64],
            "weights 'IMAGENET21K' are neither",
        ),
        ({"name": "vit_b_16", "weights": None}, [3, 64, 64], "needs images of at least 224x224"),
    ],
)
def test_an_input_or_weights_the_backbone_cannot_take_is_one_error_on_its_row(
    args, shape, problem, write_project, capsys
):
    project = {
        "studio": 1, "data": {"source": "digits"},
        "model": {"input_shape": shape, "layers": [{"type": "Backbone", "args": args}]},
    }  # fmt: skip
    assert main(["summary", str(write_project(project))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "layer 0 (Backbone)" in err and problem in err


def test_a_frozen_backbone_trains_its_head_on_features_computed_once(
    cached_weights, tmp_path, capsys
):
    project = photo_project(tmp_path)
    assert main(["train", str(project), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (features,) = [e for e in events if e["event"] == "features"]
    assert features["samples"] == 24 and features["shape"] == [1024]
    (run,) = (tmp_path / "runs").iterdir()
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    untouched = seeded_state()
    assert all(
        torch.equal(state["model"][f"0.model.{k}"], v)
        for k, v in untouched.items()
        if "classifier.3" not in k
    )
    assert state["preprocessing"]["resize"] == 256 and state["preprocessing"]["input_shape"] == [
        3,
        224,
        224,
    ]
    assert state["preprocessing"]["mean"] == pytest.approx([0.485, 0.456, 0.406])


def test_fine_tuning_unfreezes_the_backbone_after_its_frozen_epochs(
    cached_weights, tmp_path, capsys
):
    project = photo_project(tmp_path, epochs=2, fine_tune={"frozen_epochs": 1, "lr_factor": 0.1})
    assert main(["train", str(project), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert not [e for e in events if e["event"] == "features"]  # the backbone changes: no cache
    (tuned,) = [e for e in events if e["event"] == "fine_tune"]
    assert tuned["epoch"] == 1 and MODEL in tuned["message"]
    (run,) = (tmp_path / "runs").iterdir()
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    groups = state["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([0.001, 0.0001])
    moved = [k for k, v in seeded_state().items() if "classifier.3" not in k and v.is_floating_point()
             and not torch.equal(state["model"][f"0.model.{k}"], v)]  # fmt: skip
    assert moved  # the backbone trained in epoch 2


def test_a_backbone_run_evaluates_exports_everywhere_and_predicts_image_files(
    cached_weights, tmp_path, capsys
):
    project = photo_project(tmp_path, epochs=1)
    assert main(["train", str(project)]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 4
    for fmt, ext in (
        ("onnx", ".onnx"),
        ("pt2", ".pt2"),
        ("python", ".py"),
        ("state_dict", ".pt"),
        ("safetensors", ".safetensors"),
    ):
        out = tmp_path / "exports" / f"model{ext}"
        assert main(["export", str(run), "--format", fmt, "-o", str(out), "--json"]) == 0, (
            capsys.readouterr().err
        )
        result = json.loads(capsys.readouterr().out)
        assert result["max_abs_diff"] <= 1e-4, fmt
        assert (
            json.loads((out.parent / f"model{ext}.json").read_text())["preprocessing"]["resize"]
            == 256
        )
    assert (
        "torchvision.models.mobilenet_v3_small(weights=None)"
        in (tmp_path / "exports" / "model.py").read_text()
    )
    assert (
        main(
            [
                "export",
                str(run),
                "--format",
                "state_dict",
                "--quantize",
                "dynamic",
                "-o",
                str(tmp_path / "q.pt"),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["quantized_layers"]
    photos = sorted((tmp_path / "photos" / "cat").glob("*.png"))[:2]
    for where in (run, tmp_path / "exports" / "model.onnx"):
        assert main(["predict", str(where), *map(str, photos), "--json"]) == 0
        answers = json.loads(capsys.readouterr().out)["predictions"]
        assert [a["input"] for a in answers] == [p.name for p in photos]
        assert all(a["top"][0]["class"] in ("cat", "dog") for a in answers)


def test_a_frozen_backbone_on_augmented_images_keeps_its_weights_and_statistics(
    cached_weights, tmp_path, capsys
):
    project = photo_project(tmp_path, epochs=1)
    spec = json.loads(project.read_text())
    spec["data"]["augment"] = [{"type": "RandomHorizontalFlip"}]
    project.write_text(json.dumps(spec))
    assert main(["train", str(project), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert not [e for e in events if e["event"] == "features"]  # new images each epoch: no cache
    (run,) = (tmp_path / "runs").iterdir()
    state = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    untouched = {k: v for k, v in seeded_state().items() if "classifier.3" not in k}
    assert any("running_mean" in k for k in untouched)
    assert all(torch.equal(state[f"0.model.{k}"], v) for k, v in untouched.items())
