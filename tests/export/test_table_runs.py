"""A table trained end to end: its column encoding travels with the run (checkpoint, weights,
every export's sidecar, the Python script), so raw rows with strings and blanks are predicted
exactly as evaluation scores them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from studio.cli.main import main
from studio.core.data.loading import split_indices
from studio.core.train.checkpoint import load_checkpoint
from studio.core.use.trained import load_trained
from tests.conftest import train_once
from tests.datafiles import PENGUIN_HEADER, write_penguins

MESSY_ROWS = [
    "Adelie, Dream ,39.0,NA,181,3750,male,2007",
    ",Atlantis,,18,?,,,2008",  # an island never seen, blanks everywhere, no species
    "Gentoo,Biscoe,50.5,15.1,230,5000,female,2009",
]


@pytest.fixture(scope="module")
def penguin_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("penguins")
    write_penguins(folder / "penguins.csv")
    project = {
        "studio": 1, "name": "penguins",
        "data": {"source": "csv", "options": {"path": "penguins.csv", "target": "species"}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 32}}, {"type": "ReLU"},
                             {"type": "Linear", "args": {"out_features": 3}}]},
        "training": {"epochs": 8, "optimizer": {"type": "Adam", "args": {"lr": 0.01}}},
    }  # fmt: skip
    return train_once(project, folder / "runs", base_dir=folder), folder


def _json(capsys, *argv):
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_predicting_the_raw_file_gives_what_evaluation_scored(penguin_run, capsys):
    run, folder = penguin_run
    evaluation = _json(capsys, "evaluate", str(run))
    predictions = _json(capsys, "predict", str(run), str(folder / "penguins.csv"), "--top", "1")
    project = load_trained(run).project
    y = torch.tensor(_targets(folder))  # the split is the training's: same rows, same seed
    _, val = split_indices(y, "classification", project.data.val_fraction, project.training.seed)
    rows = predictions["predictions"]
    assert len(rows) == 344
    truth = _species(folder)
    hits = sum(rows[i]["top"][0]["class"] == truth[i] for i in val.tolist())
    assert evaluation["split"] == "val" and evaluation["samples"] == len(val) == 69
    assert hits / len(val) == pytest.approx(evaluation["accuracy"])
    assert evaluation["accuracy"] > 0.8


def test_messy_rows_predict_like_the_same_rows_inside_the_training_file(
    penguin_run, tmp_path, capsys
):
    run, folder = penguin_run
    messy = tmp_path / "messy.csv"
    messy.write_text(",".join(PENGUIN_HEADER) + "\n" + "\n".join(MESSY_ROWS) + "\n")
    alone = _json(capsys, "predict", str(run), str(messy))["predictions"]
    joined = tmp_path / "joined.csv"
    joined.write_text((folder / "penguins.csv").read_text() + "\n".join(MESSY_ROWS) + "\n")
    inside = _json(capsys, "predict", str(run), str(joined))["predictions"][-3:]
    assert [p["input"] for p in alone] == ["messy.csv:2", "messy.csv:3", "messy.csv:4"]
    for a, b in zip(alone, inside, strict=True):
        assert [t["class"] for t in a["top"]] == [t["class"] for t in b["top"]]
        expected = [t["probability"] for t in b["top"]]
        assert [t["probability"] for t in a["top"]] == pytest.approx(expected, abs=1e-6)


def test_the_encoding_travels_with_the_run_and_every_export(penguin_run, tmp_path, capsys):
    run, _ = penguin_run
    columns = load_checkpoint(run / "checkpoints" / "last.pt")["preprocessing"]["table"]["columns"]
    assert [c["name"] for c in columns][:2] == ["island", "bill_length_mm"]
    with safe_open(str(run / "model.safetensors"), framework="pt") as handle:
        assert json.loads(handle.metadata()["preprocessing"])["table"]["columns"] == columns
    for fmt, ext in (
        ("onnx", ".onnx"),
        ("pt2", ".pt2"),
        ("safetensors", ".safetensors"),
        ("state_dict", ".pt"),
    ):
        out = tmp_path / f"model{ext}"
        assert main(["export", str(run), "--format", fmt, "-o", str(out)]) == 0, (
            capsys.readouterr().err
        )
        sidecar = json.loads((tmp_path / f"model{ext}.json").read_text())
        assert sidecar["preprocessing"]["table"]["columns"] == columns, fmt


def test_the_python_export_reads_raw_rows_as_studio_predict_does(penguin_run, tmp_path, capsys):
    run, _ = penguin_run
    messy = tmp_path / "messy.csv"
    messy.write_text(",".join(PENGUIN_HEADER) + "\n" + "\n".join(MESSY_ROWS) + "\n")
    script = tmp_path / "export" / "penguins.py"
    assert main(["export", str(run), "--format", "python", "-o", str(script)]) == 0
    capsys.readouterr()
    studio = _json(capsys, "predict", str(run), str(messy))["predictions"]
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(messy)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-1000:]
    answers = [
        ast.literal_eval(line.split(": ", 1)[1]) for line in done.stdout.strip().splitlines()
    ]
    assert len(answers) == len(studio) == 3
    for answer, expected in zip(answers, studio, strict=True):
        assert [c for c, _ in answer] == [t["class"] for t in expected["top"]]
        assert [p for _, p in answer] == pytest.approx(
            [t["probability"] for t in expected["top"]], abs=1e-6
        )


def _species(folder) -> list[str]:
    return [line.split(",")[0] for line in (folder / "penguins.csv").read_text().splitlines()[1:]]


def _targets(folder) -> list[int]:
    names = sorted(set(_species(folder)))
    return [names.index(s) for s in _species(folder)]
