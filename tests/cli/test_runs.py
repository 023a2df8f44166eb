"""`studio runs` and `studio diff` on real runs: trained, stopped, cut short, still growing."""

from __future__ import annotations

import json
import os
import time

import pytest

from studio.cli.main import main
from studio.core.project.reading import parse_project
from studio.core.runs.metrics import read_metrics
from studio.core.train.callbacks import Callback
from studio.core.train.control import TrainControl
from studio.core.train.loop import fit
from tests.conftest import TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")


def digits(lr: float = 0.001, hidden: int = 64, dropout: bool = True, epochs: int = 2) -> dict:
    project = json.loads(DIGITS.read_text())
    project["training"].update(epochs=epochs, optimizer={"type": "Adam", "args": {"lr": lr}})
    project["model"]["layers"][1]["args"]["out_features"] = hidden
    if not dropout:
        del project["model"]["layers"][3]
    return project


class StopAfterFirstEpoch(Callback):
    def __init__(self, control: TrainControl) -> None:
        self.control = control

    def on_event(self, event: dict) -> None:
        if event["event"] == "epoch":
            self.control.stop("stopped")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Four runs of the digits project: two rates, a wider layer, one stopped by its user."""
    folder = tmp_path_factory.mktemp("runs")
    made = {}
    for key, project in (
        ("slow", digits(lr=0.001)),
        ("fast", digits(lr=0.01)),
        ("wide", digits(lr=0.001, hidden=128)),
    ):
        made[key] = fit(parse_project(project), runs_dir=folder).run_dir  # within a second or so
    control = TrainControl()
    made["stopped"] = fit(
        parse_project(digits(lr=0.003, epochs=5)),
        callbacks=[StopAfterFirstEpoch(control)],
        control=control,
        runs_dir=folder,
    ).run_dir
    return folder, made


def rows_of(folder, capsys) -> dict:
    assert main(["runs", str(folder), "--json"]) == 0
    return {row["path"]: row for row in json.loads(capsys.readouterr().out)["runs"]}


def test_runs_lists_each_run_with_its_result_and_what_varies(runs, capsys):
    folder, made = runs
    rows = rows_of(folder, capsys)
    assert len(rows) == 4
    slow, stopped = rows[str(made["slow"])], rows[str(made["stopped"])]
    epochs = [e for e in read_metrics(made["slow"]) if e["event"] == "epoch"]
    assert slow["status"] == "completed" and slow["epochs"] == 2 and slow["metric"] == "val_acc"
    assert slow["best"] == max(e["val_acc"] for e in epochs)
    assert slow["final"] == epochs[-1]["val_acc"]
    assert slow["params"] == 4810 and slow["device"] == "cpu" and slow["seconds"] > 0
    assert stopped["status"] == "stopped" and stopped["epochs"] == 1
    assert set(slow["varying"]) == {
        "training.optimizer.args.lr", "model.layers.1.args.out_features", "training.epochs",
    }  # fmt: skip
    assert rows[str(made["fast"])]["varying"]["training.optimizer.args.lr"] == 0.01
    assert rows[str(made["wide"])]["varying"]["model.layers.1.args.out_features"] == 128
    assert [r["path"] for r in rows.values()][0] == str(made["stopped"])  # newest first


def test_an_older_run_without_a_lock_is_running_while_it_grows_and_failed_once_it_stops(
    runs, capsys, tmp_path
):
    """Run folders from before writer.lock (lock.py) are judged by their metrics growing."""
    folder, made = runs
    import shutil

    live = tmp_path / "runs" / made["slow"].name
    shutil.copytree(made["slow"], live)
    (live / "writer.lock").unlink()
    (live / "writer.json").unlink()
    lines = (live / "metrics.jsonl").read_text().splitlines()
    (live / "metrics.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # no stop event yet
    assert rows_of(tmp_path / "runs", capsys)[str(live)]["status"] == "running"
    old = time.time() - 3600
    os.utime(live / "metrics.jsonl", (old, old))  # an hour without a line: the process died
    assert rows_of(tmp_path / "runs", capsys)[str(live)]["status"] == "failed"


def test_runs_prints_a_table_with_the_varying_settings_as_columns(runs, capsys):
    folder, made = runs
    assert main(["runs", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:9] == [
        "run",
        "started",
        "status",
        "epochs",
        "best",
        "final",
        "params",
        "time",
        "device",
    ]
    assert {"lr", "1.out_features", "epochs"} <= set(header[9:])
    fast = next(line for line in lines if line.split()[0] == made["fast"].name)
    assert "completed" in fast and " 0.01" in fast and "%" in fast
    assert lines[-1] == "best and final: val_acc"


def test_diff_says_only_what_differs(runs, capsys):
    folder, made = runs
    assert main(["diff", str(made["slow"]), str(made["wide"]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(c["path"], c["a"], c["b"]) for c in result["changes"]] == [
        ("model.layers.1.args.out_features", 64, 128)
    ]
    metrics = result["metrics"]
    assert metrics["metric"] == "val_acc"
    assert metrics["delta"]["best"] == pytest.approx(metrics["b"]["best"] - metrics["a"]["best"])
    assert metrics["a"]["epochs"] == metrics["b"]["epochs"] == 2  # counts, as docs/cli.md says
    assert metrics["a"]["status"] == "completed" and metrics["a"]["params"] == 4810
    assert main(["diff", str(made["slow"]), str(made["fast"])]) == 0
    out = capsys.readouterr().out
    assert "training.optimizer.args.lr: 0.001 -> 0.01" in out and "best val_acc:" in out


def test_diff_matches_layers_so_an_inserted_one_is_one_change(tmp_path, capsys):
    a = fit(parse_project(digits(dropout=False, epochs=1)), runs_dir=tmp_path / "a").run_dir
    b = fit(parse_project(digits(epochs=1)), runs_dir=tmp_path / "b").run_dir
    assert main(["diff", str(a), str(b), "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["path"], c["a"], c["said"]) for c in changes] == [
        ("model.layers.3", None, "layer 3 (Dropout) added")
    ]
    assert changes[0]["b"] == {"type": "Dropout", "args": {"p": 0.1}}


def test_diff_of_something_that_is_not_a_run_says_so(tmp_path, capsys):
    assert main(["diff", str(tmp_path), str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_metrics_file_with_its_keys_in_another_order_reads_the_same(runs, capsys, tmp_path):
    """metrics.jsonl is JSON lines: another tool may write the keys in any order and spacing."""
    import shutil

    folder, made = runs
    before = rows_of(folder, capsys)[str(made["slow"])]
    other = tmp_path / "runs" / made["slow"].name
    shutil.copytree(made["slow"], other)
    events = read_metrics(other)
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":")) for e in events]
    assert lines[0].startswith('{"device"')  # "event" is no longer the first key
    (other / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    after = rows_of(tmp_path / "runs", capsys)[str(other)]
    for key in ("status", "epochs", "metric", "best", "final", "params", "device", "started"):
        assert after[key] == before[key], key
