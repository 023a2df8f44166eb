"""Numbers float32 training cannot take: regression targets near 1e308 were blamed on the learning
rate, in a message naming a checkpoint that did not exist. Through `studio train`."""

from __future__ import annotations

import json

import pytest

from studio.cli.main import main
from tests.datafiles import write_csv


def _train(tmp_path, capsys, rows, header, target) -> tuple[int, str]:
    write_csv(tmp_path / "table.csv", header, rows)
    project = {
        "studio": 1,
        "name": "table",
        "data": {"source": "csv", "options": {"path": "table.csv", "target": target}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 1}}]},
        "training": {"epochs": 2, "loss": {"type": "MSELoss"}},
    }
    (tmp_path / "project.json").write_text(json.dumps(project))
    code = main(["train", str(tmp_path / "project.json"), "--runs-dir", str(tmp_path / "runs")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1.5e308", "values as large as 1.5e+308 make the squared error overflow in float32"),
        ("3.5e37", "scale the column (divide it by 1e+34) or take its logarithm"),
        ("1e309", "holds inf; a regression needs finite numbers"),
    ],
)
def test_a_regression_target_float32_cannot_square_is_one_line_before_training(
    tmp_path, capsys, value, said
):
    rows = [[i % 7, (i * 3) % 5, f"{i * 1.5:.1f}"] for i in range(40)]
    rows[7][2] = value
    code, err = _train(tmp_path, capsys, rows, ["a", "b", "price"], "price")
    assert code == 2 and err.count("\n") == 1, err
    assert "column 'price' (the target)" in err and said in err, err
    assert not (tmp_path / "runs").exists()  # refused before a run folder is made


def test_a_loss_not_finite_at_the_first_step_blames_the_data_not_the_learning_rate(
    tmp_path, capsys
):
    rows = [[i % 7, (i * 3) % 5, f"{i * 1.5:.1f}"] for i in range(40)]
    rows[3][0] = "1e39"  # a feature beyond float32: infinite once loaded
    code, err = _train(tmp_path, capsys, rows, ["a", "b", "price"], "price")
    assert code == 1, err
    assert "before any update: the data or the model gives it" in err, err
    assert "a lower learning rate" not in err and "smaller learning rate" not in err, err
    assert "checkpoint" not in err, err
