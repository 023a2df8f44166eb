"""`studio check` and `studio lr-find`: verdicts on real projects, healthy and broken."""

from __future__ import annotations

import json
import math

import pytest
import torch

from studio.cli.main import main
from studio.core.project.reading import parse_project
from studio.core.train.loop import prepare
from studio.core.train.lr_find import END_LR, START_LR, range_test, valley
from tests.conftest import TEMPLATES
from tests.datafiles import write_csv

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
NAMES = [
    "finite_inputs", "labels", "class_balance", "initial_loss", "overfit_one_batch", "zero_input",
]  # fmt: skip


def digits(layers=None, **training) -> dict:
    project = json.loads(DIGITS.read_text())
    project["training"].update(training)
    if layers is not None:
        project["model"]["layers"] = layers
    return project


def check(project: dict, tmp_path, capsys) -> tuple[int, dict[str, dict]]:
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project))
    code = main(["check", str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in out["checks"]}


def test_the_default_project_passes_every_check(tmp_path, capsys):
    code, checks = check(digits(), tmp_path, capsys)
    assert code == 0 and list(checks) == NAMES
    assert all(c["passed"] for c in checks.values())
    assert all(
        c.keys() == {"name", "passed", "value", "expected", "message"} for c in checks.values()
    )
    init = checks["initial_loss"]
    assert init["expected"] == pytest.approx(math.log(10))
    assert abs(init["value"] - math.log(10)) < 0.5
    overfit = checks["overfit_one_batch"]
    assert overfit["value"] <= overfit["expected"] == pytest.approx(0.1 * init["value"])
    assert "(100% right): it can learn" in overfit["message"]
    assert checks["zero_input"]["value"] > checks["overfit_one_batch"]["value"]
    assert checks["labels"]["value"] == [0, 9] and checks["labels"]["expected"] == [0, 9]


def terminal(command: str, tmp_path, capsys) -> str:
    """What `studio COMMAND` prints for the default project."""
    path = tmp_path / "project.json"
    path.write_text(json.dumps(digits()))
    assert main([command, str(path)]) == 0
    return capsys.readouterr().out


def test_the_terminal_gives_a_verdict_and_why_for_each_check(tmp_path, capsys):
    out = terminal("check", tmp_path, capsys)
    assert "pass  initial_loss" in out and "near chance (ln 10 = 2.303)" in out
    assert "6 of 6 checks passed" in out


def test_a_model_that_discards_its_input_fails_overfitting_and_the_zero_baseline(tmp_path, capsys):
    layers = [
        {"type": "Flatten"},
        {"type": "Threshold", "args": {"threshold": 1e9, "value": 0.0}},  # every input -> 0
        {"type": "Linear", "args": {"out_features": 10}},
    ]
    code, checks = check(digits(layers), tmp_path, capsys)
    assert code == 1
    assert checks["initial_loss"]["passed"] and checks["labels"]["passed"]
    overfit = checks["overfit_one_batch"]
    assert (
        not overfit["passed"]
        and "points to a bug in the data, the model or the loss" in (overfit["message"])
    )
    zero = checks["zero_input"]
    assert not zero["passed"] and "not using its input" in zero["message"]


def test_an_output_smaller_than_the_labels_fails_the_labels_check(tmp_path, capsys):
    layers = [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 5}}]
    code, checks = check(digits(layers), tmp_path, capsys)
    assert code == 1
    labels = checks["labels"]
    assert not labels["passed"] and labels["value"] == [0, 9] and labels["expected"] == [0, 4]
    assert "set the last layer's out_features to 10" in labels["message"]


def test_imbalanced_classes_and_non_finite_inputs_are_named(tmp_path, capsys):
    rows = [[i % 7, (i * 3) % 5, "common"] for i in range(190)]
    rows += [[i, 1, "rare"] for i in range(10)]
    for row in rows[:40:2]:
        row[0] = "1e39"  # beyond float32: infinite once loaded
    write_csv(tmp_path / "table.csv", ["a", "b", "kind"], rows)
    project = {
        "studio": 1,
        "name": "table",
        "data": {"source": "csv", "options": {"path": "table.csv", "target": "kind"}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 2}}]},
    }
    code, checks = check(project, tmp_path, capsys)
    assert code == 1
    assert not checks["finite_inputs"]["passed"] and checks["finite_inputs"]["value"] >= 1
    balance = checks["class_balance"]
    assert not balance["passed"] and balance["value"] > 10
    assert "'common'" in balance["message"] and "'rare'" in balance["message"]
    assert "overfit_one_batch" not in checks  # training on NaN would say nothing


def test_lr_find_sweeps_from_1e7_to_10_and_suggests_a_rate_in_the_falling_part(tmp_path, capsys):
    path = tmp_path / "project.json"
    path.write_text(json.dumps(digits()))
    assert main(["lr-find", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    lrs, losses = result["lrs"], result["losses"]
    assert lrs[0] == pytest.approx(START_LR) and len(lrs) == len(losses) <= 100
    ratios = [b / a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert ratios == pytest.approx([(END_LR / START_LR) ** (1 / 99)] * len(ratios))  # exponential
    assert result["suggestion"] in lrs and 1e-4 < result["suggestion"] < 1
    at = lrs.index(result["suggestion"])
    assert losses[at] < losses[0]  # on the way down, not in the flat start or the blow-up
    assert result["min_over_10"] == pytest.approx(lrs[losses.index(min(losses))] / 10)
    assert result["current"] == 0.001
    assert not list(tmp_path.glob("runs"))  # a range test writes no run


def test_lr_find_stops_when_the_loss_diverges_and_puts_the_weights_back():
    project = parse_project(digits(optimizer={"type": "SGD", "args": {"lr": 0.1}}))
    setup, _ = prepare(project)
    before = {k: v.clone() for k, v in setup.raw_model.state_dict().items()}
    result = range_test(setup, project)
    assert result.stopped_early and len(result.lrs) < 100
    assert result.losses[-1] > 4 * min(result.losses)
    for key, value in setup.raw_model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert setup.optimizer.param_groups[0]["lr"] == 0.1 and not setup.optimizer.state


def test_the_terminal_shows_the_curve_with_the_suggestion_marked(tmp_path, capsys):
    out = terminal("lr-find", tmp_path, capsys)
    assert "suggested learning rate" in out and "the project uses 1.00e-03" in out
    assert "^ " in out and "lr 1e-07" in out


def test_valley_picks_the_rate_half_way_down_the_longest_fall_as_fastai_does():
    lrs = [10 ** (-7 + i * 8 / 99) for i in range(100)]
    losses = [2.0] * 30 + [2.0 - 0.05 * i for i in range(30)] + [0.5 + 0.3 * i for i in range(40)]
    # the longest falling run: from the last 2.0 (step 29) to the 0.5 of step 60, 31 steps;
    # fastai's valley takes a third of it and half a third again: 29 + 10 + 5
    assert lrs.index(valley(lrs, losses)) == 44
