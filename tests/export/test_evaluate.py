"""`studio evaluate`: the numbers a user reads after training, checked against the run's own."""

from __future__ import annotations

import json

import pytest
import torch

from studio.cli.main import main
from studio.core.data import load_dataset
from studio.core.runs.metrics import read_metrics
from studio.core.use.evaluate import evaluate
from studio.core.use.trained import load_trained


def _cli_json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_json_agrees_with_the_validation_of_the_run(digits_run, capsys):
    report = _cli_json(capsys, "evaluate", str(digits_run), "--json")
    epoch = next(e for e in read_metrics(digits_run) if e["event"] == "epoch")
    assert report["split"] == "val"
    assert abs(report["accuracy"] - epoch["val_acc"]) < 1e-9
    assert abs(report["loss"] - epoch["val_loss"]) < 1e-4
    matrix = torch.tensor(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == report["samples"]
    assert abs(float(matrix.diag().sum()) / report["samples"] - report["accuracy"]) < 1e-9
    supports = [c["support"] for c in report["per_class"]]
    assert supports == matrix.sum(dim=1).tolist()
    for c, row in zip(report["per_class"], matrix.tolist(), strict=True):
        assert 0 <= c["precision"] <= 1 and 0 <= c["recall"] <= 1
        if c["support"]:
            assert abs(c["recall"] - row[report["classes"].index(c["name"])] / c["support"]) < 1e-9


def test_worst_samples_are_wrong_and_most_confident_first(digits_run):
    result = evaluate(load_trained(digits_run), worst=8)
    assert result.worst and all(w.true != w.predicted for w in result.worst)
    confidences = [w.confidence for w in result.worst]
    assert confidences == sorted(confidences, reverse=True)
    assert result.worst[0].view.shape == (8, 8)  # an image the GUI grid can show


def test_evaluate_prints_a_table_and_the_confusion_matrix(digits_run, capsys):
    assert main(["evaluate", str(digits_run / "checkpoints" / "last.pt")]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "recall" in out and "confusion matrix" in out
    assert "accuracy" in out


def test_regression_reports_mse_mae_and_r2(tmp_path, capsys):
    from tests.export.conftest import regression_run

    run = regression_run(tmp_path)
    report = _cli_json(capsys, "evaluate", str(run), "--json")
    assert report["task"] == "regression" and "accuracy" not in report
    dataset = load_dataset(load_trained(run).project.data, 0, tmp_path)
    assert report["samples"] == len(dataset.val)
    _, std = dataset.target_scale  # trained on standardised targets, scored in their own units
    assert report["mse"] == pytest.approx(report["loss"] * std**2, rel=1e-4)
    assert report["mae"] >= 0 and report["r2"] <= 1


def test_a_missing_run_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing" in err
