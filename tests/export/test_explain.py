"""Why a prediction was made: `studio predict --explain` on models that learned where the
evidence is, so the explanation can be checked against it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from studio.cli.main import main
from studio.core.use.explain import explain
from studio.core.use.predict import open_predictor, read_inputs
from studio.core.use.trained import load_trained
from tests.conftest import train_once
from tests.datafiles import write_csv, write_reviews


def squares(root, per_class: int = 40, size: int = 16):
    """Two classes of dark noisy images: a bright square top-left ("left") or bottom-right
    ("right"). A model that learns them must look at the square's corner."""
    rng = np.random.default_rng(0)
    for name, corner in (("left", (1, 1)), ("right", (size - 6, size - 6))):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size, size)).astype(np.uint8)
            y, x = corner
            pixels[y : y + 5, x : x + 5] = 230
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
    return root


SHAPES = {
    "plus": np.array([[0, 0, 1, 0, 0]] * 2 + [[1] * 5] + [[0, 0, 1, 0, 0]] * 2),
    "ring": np.array([[1] * 5] + [[1, 0, 0, 0, 1]] * 3 + [[1] * 5]),
}


def shapes(root, per_class: int = 40, size: int = 16) -> dict[str, tuple[int, int]]:
    """A plus or a ring, bright, somewhere on dark noise; returns where each class's first image
    has its shape (top-left corner)."""
    rng = np.random.default_rng(0)
    where = {}
    for name, shape in SHAPES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size, size)).astype(np.uint8)
            y, x = (int(v) for v in rng.integers(0, size - 5, 2))
            pixels[y : y + 5, x : x + 5][shape == 1] = 230
            Image.fromarray(pixels, "L").save(root / name / f"{i}.png")
            where.setdefault(name, (y, x))
    return where


def image_project(layers) -> dict:
    return {
        "studio": 1,
        "name": "squares",
        "data": {"source": "image_folder", "options": {"path": "squares"}, "batch_size": 16},
        "model": {"layers": layers},
        "training": {"epochs": 15, "optimizer": {"type": "Adam", "args": {"lr": 0.01}}},
    }


CNN = [
    {"type": "Conv2d", "args": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
    {"type": "ReLU"},
    {"type": "Conv2d", "args": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
    {"type": "ReLU"},
    {"type": "AdaptiveAvgPool2d", "args": {"output_size": 1}},
    {"type": "Flatten"},
    {"type": "Linear", "args": {"out_features": 2}},
]
MLP = [
    {"type": "Flatten"},
    {"type": "Linear", "args": {"out_features": 32}},
    {"type": "ReLU"},
    {"type": "Linear", "args": {"out_features": 2}},
]


def explained(tmp_path, capsys, layers, inputs, classes):
    """Train, predict `inputs` with --explain (checking the PNGs and the JSON), and return the
    heat maps the overlays were drawn from."""
    run = train_once(image_project(layers), tmp_path / "runs", base_dir=tmp_path)
    paths = [str(tmp_path / "squares" / name) for name in inputs]
    assert main(["predict", str(run), *paths, "--explain", str(tmp_path / "why"), "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["top"][0]["class"] for p in predictions][-1] == classes[-1]
    for prediction in predictions:
        why = prediction["explanation"]
        assert why["target"] == prediction["top"][0]["class"]
        picture = np.asarray(Image.open(why["image"]))
        assert picture.shape == (224, 448, 3)  # the image and its overlay, enlarged 14x
        assert np.abs(picture[:, 224:].astype(int) - picture[:, :224]).sum() > 0
    trained, predictor = load_trained(run), open_predictor(run)
    _, raw = read_inputs(paths, predictor)
    return [p["explanation"]["method"] for p in predictions], explain(
        trained.model, trained.preprocessing, raw
    )


def test_grad_cam_finds_the_shape_that_decided_wherever_it_is(tmp_path, capsys):
    where = shapes(tmp_path / "squares")
    methods, explanations = explained(
        tmp_path, capsys, CNN, ["plus/0.png", "ring/0.png"], ["plus", "ring"]
    )
    assert "Grad-CAM on layer 2 (Conv2d)" in methods  # where it finds evidence for the class;
    assert set(methods) <= {  # where the class won on the other's absence: integrated gradients
        "Grad-CAM on layer 2 (Conv2d)",
        "integrated gradients (Grad-CAM found no evidence for the class)",
    }
    for explanation, (y, x) in zip(explanations, [where["plus"], where["ring"]], strict=True):
        heat = explanation.heat
        assert heat.shape == (16, 16) and heat.max() == 1.0
        assert heat[y : y + 5, x : x + 5].mean() > 2 * heat.mean()  # on the shape


def test_integrated_gradients_point_at_the_corner_an_mlp_looks_at(tmp_path, capsys):
    squares(tmp_path / "squares")
    methods, explanations = explained(
        tmp_path, capsys, MLP, ["left/0.png", "right/0.png"], ["left", "right"]
    )
    assert methods == ["integrated gradients"] * 2
    for explanation, (y, x) in zip(explanations, [(1, 1), (10, 10)], strict=True):
        assert explanation.heat[y : y + 5, x : x + 5].mean() > 2 * explanation.heat.mean()


def test_the_terminal_names_each_overlay(tmp_path, capsys, monkeypatch):
    shapes(tmp_path / "squares", per_class=8)
    project = image_project(CNN)
    project["training"]["epochs"] = 1
    run = train_once(project, tmp_path / "runs", base_dir=tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(run), "squares/ring/1.png", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "why (" in out and ", for '" in out
    assert "explanations/000-1.png" in out and (tmp_path / "explanations" / "000-1.png").is_file()


def test_explanations_into_a_file_are_one_line(tmp_path, capsys):
    """--explain naming a file (or a folder that cannot be written): one line, no traceback."""
    shapes(tmp_path / "squares", per_class=8)
    project = image_project(CNN)
    project["training"]["epochs"] = 1
    run = train_once(project, tmp_path / "runs", base_dir=tmp_path)
    (tmp_path / "taken").write_text("a file, not a folder")
    image = str(tmp_path / "squares" / "ring" / "1.png")
    assert main(["predict", str(run), image, "--explain", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the explanation there" in err, err


def test_a_table_row_names_the_column_that_decided_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(200):
        signal = rng.normal()
        rows.append([f"{rng.normal():.3f}", f"{signal:.3f}", rng.choice(["x", "y", "z"]),
                     "high" if signal > 0 else "low"])  # fmt: skip
    write_csv(tmp_path / "table.csv", ["noise", "signal", "colour", "label"], rows)
    project = {
        "studio": 1,
        "name": "table",
        "data": {"source": "csv", "options": {"path": "table.csv", "target": "label"}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 2}}]},
        "training": {"epochs": 30, "optimizer": {"type": "Adam", "args": {"lr": 0.05}}},
    }
    run = train_once(project, tmp_path / "runs", base_dir=tmp_path)
    assert main(["predict", str(run), str(tmp_path / "table.csv"), "--explain", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"][:20]
    for prediction in predictions:
        features = prediction["explanation"]["features"]
        assert {f["feature"] for f in features} == {"noise", "signal", "colour"}
        assert features[0]["feature"] == "signal" and features[0]["attribution"] > 0
    assert main(["predict", str(run), str(tmp_path / "table.csv"), "--explain"]) == 0
    assert "why (integrated gradients, for 'high'): signal=" in capsys.readouterr().out


def test_explaining_an_onnx_export_says_what_to_give_instead(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    project = image_project(MLP)
    project["training"]["epochs"] = 1
    squares(tmp_path / "squares", per_class=8)
    run = train_once(project, tmp_path / "runs", base_dir=tmp_path)
    onnx = tmp_path / "model.onnx"
    assert main(["export", str(run), "--format", "onnx", "-o", str(onnx)]) == 0
    capsys.readouterr()
    image = str(tmp_path / "squares" / "left" / "0.png")
    assert main(["predict", str(onnx), image, "--explain"]) == 2
    assert "--explain needs the model's weights" in capsys.readouterr().err


def test_a_text_names_the_words_that_decided_it(tmp_path, capsys):
    project = write_reviews(tmp_path)
    run = train_once(project, tmp_path / "runs", base_dir=tmp_path)
    texts = ["the acting was dull and boring", "what a great fun story"]
    assert main(["predict", str(run), *texts, "--explain", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["top"][0]["class"] for p in predictions] == ["bad", "good"]
    for prediction, deciding in zip(
        predictions, [{"dull", "boring"}, {"great", "fun"}], strict=True
    ):
        words = prediction["explanation"]["features"]
        assert prediction["explanation"]["method"] == "integrated gradients on the embedding"
        assert words[0]["feature"] in deciding and words[0]["attribution"] > 0
        assert deciding <= {w["feature"] for w in words[:3]}
    assert main(["predict", str(run), texts[0], "--explain"]) == 0
    out = capsys.readouterr().out
    assert "why (integrated gradients on the embedding, for 'bad'): " in out
    assert "dull (+" in out and "boring (+" in out
