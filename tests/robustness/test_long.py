"""kill -9 at random moments during training (`make test-long`): the last checkpoint always loads
and resumes, metrics.jsonl always reads back. Prints what each kill left."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from studio.core.runs.folder import METRICS
from studio.core.runs.metrics import read_metrics
from studio.core.train.checkpoint import load_checkpoint
from studio.core.train.loop import checkpoint_project, fit
from tests.conftest import TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
KILLS = 20

pytestmark = pytest.mark.long


def test_kill_9_at_random_moments_always_leaves_a_checkpoint_that_resumes(tmp_path):
    rng = random.Random(2026)
    broken_tails = 0
    resumed_at: list[int] = []  # the epoch of the checkpoint each kill left
    for n in range(KILLS):
        runs = tmp_path / f"kill{n}"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "studio",
                "train",
                str(DIGITS),
                "--epochs",
                "100000",
                "--json",
                "--runs-dir",
                str(runs),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for line in process.stdout:  # wait for the first checkpoint, then kill somewhere later
            if json.loads(line)["event"] == "checkpoint":
                break
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        (run,) = runs.iterdir()
        lines = (run / METRICS).read_bytes().split(b"\n")
        for line in lines[:-1]:
            json.loads(line)  # every line before the last newline is whole
        broken_tails += bool(lines[-1])
        events = read_metrics(run)
        assert events[0]["event"] == "start"
        last = run / "checkpoints" / "last.pt"
        state = load_checkpoint(last)
        leftovers = [
            p.name for p in (run / "checkpoints").iterdir() if p.name not in ("last.pt", "best.pt")
        ]
        epoch = state["progress"]["epoch"]
        project = checkpoint_project(last)
        project.training.epochs = epoch + 1
        result = fit(project, resume=last, runs_dir=runs)
        assert result.reason == "completed" and result.epochs_done == epoch + 1
        assert not list(
            (run / "checkpoints").glob(".*.tmp")
        )  # the resume cleared a cut-short write
        after = read_metrics(run)
        assert after[-1]["event"] == "stop" and after[-1]["reason"] == "completed"
        assert [e["epoch"] for e in after if e["event"] == "epoch"][-1] == epoch + 1
        resumed_at.append(epoch)
        print(
            f"kill {n + 1}: after epoch {epoch}, metrics lines {len(events)}, temp files left {leftovers}"
        )
    print(
        f"{KILLS} kills resumed from last.pt after epochs {resumed_at}, {broken_tails} metrics files ended mid-line "
        "(read back without that line)"
    )
    assert len(set(resumed_at)) > 1  # the kills landed at different moments of training
