"""Several labels a sample (data.task "multilabel") and several values a sample (a list of
regression targets), through `studio datasets`, `summary`, `train`, `evaluate`, `predict` and
`export`: a table whose target cells hold `a;b`, a table of 0/1 columns, an image folder with a
labels CSV, and a regression of two targets of very different scales."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import numpy as np
import pytest

from studio.cli.main import main
from tests.datafiles import write_csv

LABELS = ("a", "b", "c")


def _mlp(out: int) -> list[dict]:
    return [
        {"type": "Linear", "args": {"out_features": 32}},
        {"type": "ReLU"},
        {"type": "Linear", "args": {"out_features": out}},
    ]


def _project(folder: Path, data: dict, layers: list[dict], loss="BCEWithLogitsLoss", **train):
    project = {
        "studio": 1,
        "name": "labels",
        "data": {"batch_size": 32, **data},
        "model": {"layers": layers},
        "training": {
            "epochs": 30,
            "loss": {"type": loss},
            "optimizer": {"type": "Adam", "args": {"lr": 0.01}},
            "seed": 0,
            **train,
        },
    }
    path = folder / "project.json"
    path.write_text(json.dumps(project))
    return str(path)


def _json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _train(capsys, project: str, folder: Path) -> Path:
    runs = folder / "runs"
    assert main(["train", project, "--runs-dir", str(runs)]) == 0
    capsys.readouterr()
    (run,) = runs.iterdir()
    return run


def _rows(count: int, seed: int = 0) -> list[tuple[list[float], dict[str, bool]]]:
    """Four features; label a when x1 > 0, b when x2 + x3 > 0, c when x4 > 0.5."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        x = [rng.uniform(-1, 1) for _ in range(4)]
        out.append((x, {"a": x[0] > 0, "b": x[1] + x[2] > 0, "c": x[3] > 0.5}))
    return out


def _write_label_table(path: Path, count: int = 600) -> None:
    rows = [
        [*(f"{v:.4f}" for v in x), ";".join(k for k in LABELS if said[k])]
        for x, said in _rows(count)
    ]
    write_csv(path, ["x1", "x2", "x3", "x4", "tags"], rows)


def test_a_table_of_label_sets_trains_evaluates_and_predicts(tmp_path, capsys):
    _write_label_table(tmp_path / "tags.csv")
    data = {"source": "csv", "options": {"path": "tags.csv", "target": "tags"}}
    project = _project(tmp_path, data, _mlp(3))
    described = _json(capsys, "datasets", project)
    assert described["task"] == "multilabel" and described["classes"] == list(LABELS)
    truth = _rows(600)
    assert sum(described["class_counts"]) < sum(sum(s.values()) for _, s in truth)  # train only
    assert main(["datasets", project]) == 0
    assert "labels (training samples with each): a " in capsys.readouterr().out
    assert _json(capsys, "summary", project)["labels"] == list(LABELS)
    run = _train(capsys, project, tmp_path)
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [e for e in epochs if e.get("event") == "epoch"][-1]
    assert last["val_f1"] > 0.8 and last["val_map"] > 0.9, last
    report = _json(capsys, "evaluate", str(run))
    assert report["task"] == "multilabel" and report["threshold"] == 0.5
    assert report["macro_f1"] > 0.8 and report["micro_f1"] > 0.8 and report["map"] > 0.9, report
    assert report["exact_match"] > 0.5
    assert [r["label"] for r in report["per_label"]] == list(LABELS)
    assert set(report["per_label"][0]) == {"label", "precision", "recall", "f1", "ap", "support"}
    assert main(["evaluate", str(run)]) == 0
    said = capsys.readouterr().out
    assert "micro F1" in said and "exact match" in said and "\nb " in said, said
    write_csv(tmp_path / "new.csv", ["x1", "x2", "x3", "x4"], [[0.9, 0.6, 0.5, 0.9]])
    (row,) = _json(capsys, "predict", str(run), str(tmp_path / "new.csv"))["predictions"]
    assert {s["label"] for s in row["labels"]} == set(LABELS)  # a, b and c all hold
    assert len(row["scores"]) == 3
    argv = ["predict", str(run), str(tmp_path / "new.csv"), "--explain", str(tmp_path), "--json"]
    assert main(argv) == 0
    (why,) = json.loads(capsys.readouterr().out)["predictions"]
    assert why["explanation"]["target"] == row["scores"][0]["label"]  # the likeliest label's
    assert why["explanation"]["features"][0]["feature"] in ("x1", "x2", "x3", "x4")
    (high,) = _json(
        capsys, "predict", str(run), str(tmp_path / "new.csv"), "--threshold", "0.999999"
    )["predictions"]
    assert len(high["labels"]) < 3
    print(f"label table: macro F1 {report['macro_f1']:.3f}, mAP {report['map']:.3f}")


def test_zero_one_columns_are_labels_named_by_the_columns(tmp_path, capsys):
    rows = [[*(f"{v:.4f}" for v in x), *(int(said[k]) for k in LABELS)] for x, said in _rows(500)]
    write_csv(tmp_path / "flags.csv", ["x1", "x2", "x3", "x4", *LABELS], rows)
    data = {"source": "csv", "options": {"path": "flags.csv", "target": list(LABELS)}}
    project = _project(tmp_path, data, _mlp(3), epochs=25)
    described = _json(capsys, "datasets", project)
    assert described["task"] == "multilabel" and described["classes"] == list(LABELS)
    run = _train(capsys, project, tmp_path)
    assert "threshold" not in json.loads((run / "project.json").read_text())["data"]  # 0.5
    report = _json(capsys, "evaluate", str(run), "--threshold", "0.4")
    assert report["threshold"] == 0.4 and report["macro_f1"] > 0.8, report


def _write_squares(folder: Path, count: int = 96, seed: int = 0) -> list[tuple[str, set[str]]]:
    """16x16 pictures on a grey ground with a red square (label red), a blue one (blue), both or
    none, each somewhere at random; the labels CSV says which."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    said = []
    for i in range(count):
        pixels = np.full((16, 16, 3), 128, dtype=np.uint8) + rng.integers(
            0, 20, (16, 16, 3)
        ).astype(np.uint8)
        labels = {name for name, on in (("red", i % 2), ("blue", (i // 2) % 2)) if on}
        for name in labels:
            top, left = rng.integers(0, 11, 2)
            pixels[top : top + 5, left : left + 5] = (
                (230, 20, 20) if name == "red" else (20, 20, 230)
            )
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
        said.append((f"{i:03d}.png", labels))
    return said


CNN = [
    {"type": "Conv2d", "args": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
    {"type": "ReLU"},
    {"type": "AdaptiveMaxPool2d", "args": {"output_size": 1}},
    {"type": "Flatten"},
    {"type": "Linear", "args": {"out_features": 2}},
]


def test_an_image_folder_with_a_labels_file(tmp_path, capsys):
    said = _write_squares(tmp_path / "pictures")
    lines = ["file,labels"] + [f"{name},{';'.join(sorted(labels))}" for name, labels in said]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    data = {"source": "image_folder", "options": {"path": "pictures", "labels": "labels.csv"},
            "threshold": 0.6}  # fmt: skip
    project = _project(tmp_path, data, CNN, epochs=40)
    described = _json(capsys, "datasets", project)
    assert described["task"] == "multilabel" and described["classes"] == ["blue", "red"]
    assert described["input_shape"] == [3, 16, 16]
    run = _train(capsys, project, tmp_path)
    report = _json(capsys, "evaluate", str(run))
    assert report["threshold"] == 0.6 and report["macro_f1"] > 0.8, report
    both = str(tmp_path / "pictures" / "003.png")  # i = 3: red and blue
    (row,) = _json(capsys, "predict", str(run), both)["predictions"]
    assert {s["label"] for s in row["labels"]} == {"red", "blue"}, row
    (none,) = _json(capsys, "predict", str(run), both, "--threshold", "0.9999999")["predictions"]
    kept = [s for s in none["scores"] if s["probability"] >= 0.9999999]
    assert none["labels"] == kept  # the threshold given, not the run's, decides
    assert main(["predict", str(run), both]) == 0
    assert "red" in capsys.readouterr().out
    assert main(["predict", str(run), both, "--threshold", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threshold: expected a probability" in err, err
    assert json.loads((run / "project.json").read_text())["data"]["threshold"] == 0.6
    # a header of 0/1 columns says the same
    wide = ["file,blue,red"] + [
        f"{n},{int('blue' in labels)},{int('red' in labels)}" for n, labels in said
    ]
    (tmp_path / "labels.csv").write_text("\n".join(wide) + "\n")
    again = _json(capsys, "datasets", project)
    assert (
        again["classes"] == ["blue", "red"] and again["class_counts"] == described["class_counts"]
    )
    print(f"squares: macro F1 {report['macro_f1']:.3f}, mAP {report['map']:.3f}")


def _write_two_scales(path: Path, rows: int = 600, seed: int = 0) -> None:
    rng = random.Random(seed)
    table = []
    for _ in range(rows):
        x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
        big = 1000 * x1 + 500 * x2 + rng.gauss(0, 10)
        small = 0.01 * x1 - 0.02 * x2 + rng.gauss(0, 0.0002)
        table.append([f"{x1:.4f}", f"{x2:.4f}", f"{big:.3f}", f"{small:.6f}"])
    write_csv(path, ["x1", "x2", "big", "small"], table)


def test_a_regression_of_two_targets_of_very_different_scales(tmp_path, capsys):
    _write_two_scales(tmp_path / "two.csv")
    data = {"source": "csv", "options": {"path": "two.csv", "target": ["big", "small"]}}
    project = _project(tmp_path, data, _mlp(2), loss="MSELoss", epochs=40)
    described = _json(capsys, "datasets", project)
    assert described["task"] == "regression" and described["targets"] == ["big", "small"]
    assert _json(capsys, "summary", project)["targets"] == ["big", "small"]
    run = _train(capsys, project, tmp_path)
    report = _json(capsys, "evaluate", str(run))
    r2 = {t["target"]: t["r2"] for t in report["targets"]}
    assert r2["big"] > 0.9 and r2["small"] > 0.9, report
    assert report["r2"] == pytest.approx((r2["big"] + r2["small"]) / 2)
    assert main(["evaluate", str(run)]) == 0
    assert "small" in capsys.readouterr().out
    write_csv(tmp_path / "new.csv", ["x1", "x2"], [[0.5, -0.5], [-0.2, 0.4]])
    rows = _json(capsys, "predict", str(run), str(tmp_path / "new.csv"))["predictions"]
    first = rows[0]["values"]
    assert first["big"] == pytest.approx(250, abs=60), first  # 1000 * 0.5 - 500 * 0.5
    assert first["small"] == pytest.approx(0.015, abs=0.003), first  # 0.005 + 0.01
    exported = _json(capsys, "export", str(run), "--format", "python")
    spec = importlib.util.spec_from_file_location("exported", exported["path"])
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    x = script.preprocess(script.encode_rows(script.read_rows(tmp_path / "new.csv")))
    values = script.predict(script.load(), x)
    for own, theirs in zip(rows, values, strict=True):
        assert theirs == pytest.approx(own["values"], rel=1e-4), (theirs, own)
    print(f"two scales: R² big {r2['big']:.3f}, small {r2['small']:.3f}")


def test_bad_inputs_are_one_line_each(tmp_path, capsys):
    _write_two_scales(tmp_path / "two.csv", rows=40)
    text = (tmp_path / "two.csv").read_text().splitlines()
    text = [text[0] + ",kind"] + [f"{line},{'xy'[i % 2]}" for i, line in enumerate(text[1:])]
    (tmp_path / "two.csv").write_text("\n".join(text) + "\n")

    def one_line(project: str, said: str, *argv: str) -> None:
        assert main([*(argv or ("train",)), project, "--runs-dir", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err

    words = {"source": "csv", "options": {"path": "two.csv", "target": ["big", "kind"]}}
    one_line(
        _project(tmp_path, words, _mlp(2), loss="MSELoss"), "column 'kind' (a target) holds words"
    )
    _write_label_table(tmp_path / "tags.csv", count=60)
    tags = {"source": "csv", "options": {"path": "tags.csv", "target": "tags"}}
    one_line(_project(tmp_path, tags, _mlp(3), loss="CrossEntropyLoss"), "use BCEWithLogitsLoss")
    one_line(_project(tmp_path, {**tags, "threshold": 1.5}, _mlp(3)), "data.threshold")
    _write_squares(tmp_path / "pictures", count=8)
    (tmp_path / "labels.csv").write_text("000.png,red\n404.png,blue\n")
    pictures = {"source": "image_folder", "options": {"path": "pictures", "labels": "labels.csv"}}
    one_line(_project(tmp_path, pictures, CNN), "row 2 names '404.png', which is not a file")


def test_the_preview_names_each_samples_labels_or_values(tmp_path):
    """The Data panel's preview grid: a multi-label sample is labelled with its labels, a sample
    of several targets with its values."""
    from studio.core.data import load_project_data
    from studio.core.project.reading import load_project

    _write_label_table(tmp_path / "tags.csv", count=40)
    data = {"source": "csv", "options": {"path": "tags.csv"}}
    dataset = load_project_data(load_project(_project(tmp_path, data, _mlp(3))), tmp_path)
    labels = [label for _, label in dataset.preview()]
    assert "a, b" in labels or "a, b, c" in labels, labels
    assert all(set(label.split(", ")) <= {"a", "b", "c", "(none)"} for label in labels)
    _write_two_scales(tmp_path / "two.csv", rows=40)
    data = {"source": "csv", "options": {"path": "two.csv", "target": ["big", "small"]}}
    dataset = load_project_data(load_project(_project(tmp_path, data, _mlp(2))), tmp_path)
    assert all(label.count(", ") == 1 for _, label in dataset.preview())
