"""Faults around a run's folder that must not leave a lie behind: two writers of one run, a
writer killed, a disk that fills up while checkpointing. Each through the `studio` command."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from studio.cli.main import main
from studio.core.runs.metrics import read_metrics
from studio.core.train.checkpoint import load_checkpoint


def _copy_of(run, tmp_path):
    copy = tmp_path / "runs" / run.name
    shutil.copytree(run, copy)
    return copy


def _status(capsys, runs_dir) -> str:
    assert main(["runs", str(runs_dir), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["runs"]
    return row["status"]


def _studio(*argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "studio", *argv],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
        **kwargs,
    )


def test_a_run_has_one_writer_and_a_killed_one_is_not_running(digits_run, tmp_path, capsys):
    """Two resumes of one checkpoint once wrote into one folder (epochs 2,2,3,3); and a run whose
    process was killed showed as running for two minutes after (metrics "grew recently")."""
    run = _copy_of(digits_run, tmp_path)
    checkpoint, project = run / "checkpoints" / "last.pt", run / "project.json"
    first = _studio(
        "train", str(project), "--resume", str(checkpoint), "--epochs", "100000", "--json",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        for line in first.stdout:  # the start event comes once the run's folder is locked
            if json.loads(line)["event"] == "start":
                break
        code = main(["train", str(project), "--resume", str(checkpoint), "--epochs", "2"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert f"process {first.pid} on " in err and "is training this run" in err, err
        assert _status(capsys, run.parent) == "running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        first.stdout.close()
    assert _status(capsys, run.parent) == "failed"  # at once: nobody holds its lock
    epochs = [e["epoch"] for e in read_metrics(run) if e["event"] == "epoch"]
    assert epochs == sorted(set(epochs))  # one writer: no epoch twice


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE: Linux")
@pytest.mark.parametrize("full", ["at a checkpoint", "at a metrics line"])
def test_a_run_file_that_cannot_be_written_fails_the_run_in_one_line(
    digits_run, tmp_path, capsys, full
):
    """The disk full while checkpointing: once an OSError traceback and a run "running" for
    ever. The kernel refuses the write here through a file-size limit on the process (what a
    full disk does to the same write, without mounting one)."""
    import resource

    run = _copy_of(digits_run, tmp_path)
    checkpoint = run / "checkpoints" / "last.pt"
    before = load_checkpoint(checkpoint)["progress"]["epoch"]
    metrics = run / "metrics.jsonl"
    if full == "at a checkpoint":  # more than the metrics will grow, less than a checkpoint
        limit, failing = checkpoint.stat().st_size // 2, checkpoint
    else:  # a metrics line after the start is past it
        limit, failing = metrics.stat().st_size + 400, metrics  # the start line fits

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    train = _studio(
        "train", str(run / "project.json"), "--resume", str(checkpoint), "--epochs", "3",
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, preexec_fn=small_files,
    )  # fmt: skip
    _, err = train.communicate(timeout=300)
    assert train.returncode == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{failing}: cannot be written (File too large)" in err, err
    if full == "at a checkpoint":
        assert "the previous last.pt is kept" in err
        stop = read_metrics(run)[-1]
        assert stop["event"] == "stop" and stop["reason"] == "error", stop
    assert _status(capsys, run.parent) == "failed"
    assert load_checkpoint(checkpoint)["progress"]["epoch"] == before  # whole, and the last good
    assert not list((run / "checkpoints").glob(".*.tmp"))
