"""`studio predict`: image files, CSV rows and texts through a run or any export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from studio.cli.main import main
from studio.core.data import load_dataset
from studio.core.use.trained import load_trained
from tests.conftest import train_once
from tests.datafiles import write_csv, write_reviews
from tests.export.conftest import regression_run


def _digit_pngs(run, folder, count=6):
    """Validation digits written as 32x32 PNGs (as a user would save them), with the model's answers."""
    trained = load_trained(run)
    dataset = load_dataset(trained.project.data, 0, None)
    x, y = dataset.val.x[:count], dataset.val.y[:count]
    with torch.no_grad():
        expected = trained.model(dataset.prepare(x)).argmax(dim=1).tolist()
    paths = []
    for i in range(count):
        pixels = (x[i, 0].numpy().astype(float) * 255 / dataset.scale).round().astype(np.uint8)
        path = folder / f"digit{i}_{int(y[i])}.png"
        Image.fromarray(pixels).resize((32, 32), Image.Resampling.NEAREST).convert("RGB").save(path)
        paths.append(str(path))
    return paths, [dataset.classes[c] for c in expected]


def _predict_json(capsys, *argv) -> list[dict]:
    assert main(["predict", *argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)["predictions"]


@pytest.mark.parametrize("source", ["run", "onnx", "pt2", "state_dict"])
def test_image_files_get_the_classes_the_model_gives(digits_run, tmp_path, capsys, source):
    paths, expected = _digit_pngs(digits_run, tmp_path)
    target = str(digits_run)
    if source != "run":
        assert (
            main(
                ["export", str(digits_run), "--format", source, "-o", str(tmp_path / f"m.{source}")]
            )
            == 0
        )
        target = next(
            str(p)
            for p in tmp_path.iterdir()
            if p.name.startswith("m.") and not p.name.endswith(".json")
        )
    capsys.readouterr()
    predictions = _predict_json(capsys, target, *paths, "--top", "2")
    assert [p["input"] for p in predictions] == [p.split("/")[-1] for p in paths]
    assert [p["top"][0]["class"] for p in predictions] == expected
    for p in predictions:
        assert len(p["top"]) == 2 and p["top"][0]["probability"] >= p["top"][1]["probability"]


def test_text_prints_one_line_per_input(digits_run, tmp_path, capsys):
    paths, expected = _digit_pngs(digits_run, tmp_path, count=2)
    assert main(["predict", str(digits_run), *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("digit0_") and f": {expected[0]} " in lines[0]


def test_csv_rows_and_a_regression_value(tmp_path, capsys):
    run = regression_run(tmp_path)
    write_csv(
        tmp_path / "new.csv", ["a", "b", "y"], [[0.5, 0.2, 0], [1.0, 0.4, 0]]
    )  # target column ignored
    predictions = _predict_json(capsys, str(run), str(tmp_path / "new.csv"))
    assert [p["input"] for p in predictions] == ["new.csv:2", "new.csv:3"]
    trained = load_trained(run)
    dataset = load_dataset(trained.project.data, 0, tmp_path)
    with torch.no_grad():
        standardised = trained.model(dataset.prepare(torch.tensor([[0.5, 0.2], [1.0, 0.4]])))
    mean, std = dataset.target_scale  # the model learnt (y - mean) / std: answers are in y's units
    expected = (standardised.flatten().double() * std + mean).tolist()
    assert [p["value"] for p in predictions] == pytest.approx(expected, abs=1e-5)


def test_text_classifier_takes_a_sentence(tmp_path, capsys):
    project = write_reviews(tmp_path)
    run = train_once(project, tmp_path / "runs", base_dir=tmp_path)
    (tmp_path / "mine.txt").write_text("what a great and fun story")
    predictions = _predict_json(
        capsys, str(run), "such a boring and dull film", str(tmp_path / "mine.txt"), "--top", "1"
    )
    assert [p["top"][0]["class"] for p in predictions] == ["bad", "good"]
    assert predictions[1]["input"] == "mine.txt"


def test_a_file_that_is_not_an_image_is_one_clear_line(digits_run, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not really a picture")
    assert main(["predict", str(digits_run), str(tmp_path / "notes.png")]) == 2
    err = capsys.readouterr().err
    assert "notes.png: not a readable image" in err and err.count("\n") == 1


@pytest.mark.parametrize("source", ["digits", "csv"])
def test_a_sample_normalised_for_training_equals_it_normalised_from_an_export_sidecar(
    source, digits_run, tmp_path, capsys
):
    """Training and prediction share one normalisation: what a training batch becomes is what
    predict makes of the same raw sample with nothing but the export and its sidecar."""
    from studio.core.use.trained import Preprocessing

    run = digits_run if source == "digits" else regression_run(tmp_path)
    out = tmp_path / "exported" / "model.pt"
    assert main(["export", str(run), "--format", "state_dict", "-o", str(out)]) == 0, (
        capsys.readouterr().err
    )
    sidecar = json.loads((tmp_path / "exported" / "model.pt.json").read_text())
    from_sidecar = Preprocessing.from_json(sidecar["preprocessing"])
    trained = load_trained(run)
    dataset = load_dataset(trained.project.data, trained.project.training.seed, trained.base_dir)
    raw = dataset.val.x[:16]
    training = dataset.prepare(raw)
    assert training.abs().sum() > 0 and not torch.equal(training, raw.float())  # really normalised
    assert torch.equal(training, from_sidecar.normalise(raw))
