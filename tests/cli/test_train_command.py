"""`studio train` as a process: the JSON stream, Ctrl-C, exit codes, and torchrun with two ranks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio.core.runs.metrics import read_metrics
from studio.core.train.events import describe
from tests.conftest import TEMPLATES, minimal_project

DIGITS = str(next(p for p in TEMPLATES if p.name == "digits-mlp.json"))


def _env(tmp_path):
    return {**os.environ, "STUDIO_RUNS_DIR": str(tmp_path / "runs"), "PYTHONUNBUFFERED": "1"}


def test_train_json_streams_the_metrics_events(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "studio", "train", DIGITS, "--epochs", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events if e["event"] in ("start", "stop")] == ["start", "stop"]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    (run,) = (tmp_path / "runs").iterdir()
    assert read_metrics(run) == events  # the stream and the file say the same


def test_train_prints_a_line_per_epoch_and_where_the_run_went(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            "train",
            DIGITS,
            "--epochs",
            "1",
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1  loss" in result.stdout and "val_acc" in result.stdout
    assert f"completed: trained 1 epochs -> {tmp_path}" in result.stdout
    (run,) = tmp_path.iterdir()
    events = read_metrics(run)
    said = [describe(e, 1) for e in events if describe(e, 1) and e["event"] != "stop"]
    assert said and [line for line in result.stdout.splitlines() if line in said] == said


def test_ctrl_c_stops_after_the_batch_writes_a_checkpoint_and_exits_130(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "train", DIGITS, "--epochs", "100000", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    for line in process.stdout:
        if json.loads(line)["event"] == "epoch":
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    stop = json.loads(out.splitlines()[-1])
    assert stop["event"] == "stop" and stop["reason"] == "stopped"
    (run,) = (tmp_path / "runs").iterdir()
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            "train",
            DIGITS,
            "--resume",
            str(run / "checkpoints" / "last.pt"),
            "--epochs",
            str(stop["epoch"] + 2),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["reason"] == "completed"


def test_bad_project_and_bad_checkpoint_exit_2_with_one_line(tmp_path, write_project):
    bad = write_project(minimal_project([{"type": "Linear", "args": {"out_features": "ten"}}]))
    result = subprocess.run(
        [sys.executable, "-m", "studio", "train", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "model.layers[0].args.out_features" in result.stderr
    junk = tmp_path / "last.pt"
    junk.write_bytes(b"not a checkpoint")
    result = subprocess.run(
        [sys.executable, "-m", "studio", "train", DIGITS, "--resume", str(junk)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "not a readable Torch Studio checkpoint" in result.stderr


def test_torchrun_two_gloo_ranks_train_one_run_with_identical_weights(tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "studio",
        "train",
        DIGITS,
        "--epochs",
        "2",
        "--device",
        "cpu",
    ]
    env = {**_env(tmp_path), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # rank 0 alone writes the run directory
    events = read_metrics(runs[0])
    assert events[0]["world_size"] == 2
    stop = events[-1]
    assert stop["reason"] == "completed" and stop["weights_in_sync"] is True
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 2 and epochs[-1]["val_acc"] > 0.5
    assert (
        torch.load(runs[0] / "checkpoints" / "last.pt", weights_only=True)["progress"]["epoch"] == 2
    )


def test_resuming_a_finished_run_says_so_or_goes_on_to_the_project_files_epochs(tmp_path, capsys):
    from studio.cli.main import main

    project = json.loads(Path(DIGITS).read_text())
    project["training"]["epochs"] = 1
    one = tmp_path / "one.json"
    one.write_text(json.dumps(project))
    assert main(["train", str(one), "--runs-dir", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    last = str(run / "checkpoints" / "last.pt")
    capsys.readouterr()
    assert main(["train", str(one), "--resume", last]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "has already trained all 1 epochs" in err and "--epochs 11" in err
    )
    project["training"]["epochs"] = 2
    two = tmp_path / "two.json"
    two.write_text(json.dumps(project))
    assert main(["train", str(two), "--resume", last]) == 0
    out = capsys.readouterr().out
    assert (
        f"resuming after epoch 1, on to the 2 epochs of {two}" in out
        and "completed: trained 2 epochs" in out
    )
    assert [e["epoch"] for e in read_metrics(run) if e["event"] == "epoch"] == [1, 2]


def test_an_embedding_smaller_than_the_vocabulary_is_one_line_before_training(tmp_path):
    """The text example with more distinct words than its Embedding has rows: said before the
    first step (it used to end mid-step in an IndexError traceback)."""
    import shutil

    from tests.conftest import EXAMPLES
    from tests.datafiles import write_csv

    example = next(p for p in EXAMPLES if p.name == "text-lstm.json")
    rows = [[" ".join(f"w{i * 7 + k}" for k in range(7)), i % 2] for i in range(900)]  # 6,300 words
    write_csv(tmp_path / "reviews.csv", ["review", "sentiment"], rows)
    shutil.copy(example, tmp_path / "text.json")
    shipped = _train(tmp_path / "text.json", tmp_path, "--epochs", "1")
    assert shipped.returncode == 0, shipped.stderr  # as shipped: 5000 words, 5000 rows
    project = json.loads(example.read_text())
    project["data"]["options"]["vocab_size"] = 10000  # more words than the Embedding has rows
    (tmp_path / "text.json").write_text(json.dumps(project))
    done = _train(tmp_path / "text.json", tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    said = re.search(
        r"vocabulary has (\d+) words .* rows for 5000: set num_embeddings to (\d+)", done.stderr
    )
    assert "model.layers[0].args.num_embeddings" in done.stderr and said, done.stderr
    assert int(said.group(1)) == int(said.group(2)) > 5000  # the training rows' words


def test_a_table_whose_target_has_one_class_is_refused_in_one_line(tmp_path):
    from tests.datafiles import write_csv

    write_csv(tmp_path / "one.csv", ["a", "label"], [[i, "cat"] for i in range(30)])
    project = {"studio": 1, "name": "one", "data": {"source": "csv", "options": {"path": "one.csv"}},
               "model": {"layers": [{"type": "Linear", "args": {"out_features": 2}}]}}  # fmt: skip
    (tmp_path / "one.json").write_text(json.dumps(project))
    done = _train(tmp_path / "one.json", tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "holds one class (cat)" in done.stderr


def _train(project, tmp_path, *extra) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "studio", "train", str(project), "--runs-dir", str(tmp_path)]
    command += extra
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "case", ["read-only folder", "a file in the way", "a long name", "a lone surrogate"]
)
def test_a_run_folder_that_cannot_be_made_is_one_line_and_nothing_half_made(case, tmp_path):

    project = json.loads(Path(DIGITS).read_text())
    project["training"]["epochs"] = 1
    runs = tmp_path / "runs"
    runs.mkdir()
    if case == "a file in the way":
        runs.rmdir()
        runs.write_text("not a folder")
    elif case == "a long name":
        project["name"] = "n" * 240
    else:
        project["name"] = "bad \ud800 name"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(project))  # json escapes the surrogate as \ud800
    done = _train(path, runs)
    if case == "a long name":  # cut to fit a file name: it trains
        assert done.returncode == 0, done.stderr
        (run,) = runs.iterdir()
        assert len(run.name) < 120 and (run / "project.json").is_file()
        return
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    if runs.is_dir():
        assert list(runs.iterdir()) == []  # no folder without its project.json
