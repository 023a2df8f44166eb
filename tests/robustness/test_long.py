"""The long robustness checks (`make test-long`): kill -9 at random moments during training, and a
100,000-step run watched by the GUI. Each prints its figures."""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core.project import load_project
from studio.core.runs import METRICS, read_metrics
from studio.core.train import checkpoint_project, fit
from studio.core.train.checkpoint import load_checkpoint
from tests.conftest import TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
KILLS = 20
SOAK_STEPS = 100_000

pytestmark = pytest.mark.long


def test_kill_9_at_random_moments_always_leaves_a_checkpoint_that_resumes(tmp_path):
    rng = random.Random(2026)
    broken_tails = resumed = 0
    for n in range(KILLS):
        runs = tmp_path / f"kill{n}"
        process = subprocess.Popen([sys.executable, "-m", "studio", "train", str(DIGITS), "--epochs", "100000",
                                    "--json", "--runs-dir", str(runs)], stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
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
        leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name not in ("last.pt", "best.pt")]
        epoch = state["progress"]["epoch"]
        project = checkpoint_project(last)
        project.training.epochs = epoch + 1
        result = fit(project, resume=last, runs_dir=runs)
        assert result.reason == "completed" and result.epochs_done == epoch + 1
        assert not list((run / "checkpoints").glob(".*.tmp"))  # the resume cleared a cut-short write
        resumed += 1
        print(f"kill {n + 1}: after epoch {epoch}, metrics lines {len(events)}, temp files left {leftovers}")
    print(f"{KILLS} kills: {resumed} resumed from last.pt, {broken_tails} metrics files ended mid-line "
          "(read back without that line)")
    assert resumed == KILLS


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")
def test_soak_100k_steps_in_the_gui_memory_redraws_and_lateness_stay_flat(make_window, qtbot, tmp_path):
    from PySide6.QtCore import QElapsedTimer, QTimer

    project = load_project(DIGITS)
    project.data.batch_size = 16
    steps_per_epoch = 90  # 1,437 training digits in batches of 16
    project.training.epochs = SOAK_STEPS // steps_per_epoch + 1
    path = tmp_path / "soak.json"
    path.write_text(project.to_json())
    window = make_window(path)
    from studio.gui.plots import _TimedPlotWidget

    plots = window.plots
    redraws: list[tuple[int, float]] = []

    def timed_redraw() -> None:
        """The redraw plus the painting it caused (what the plots' own budget counts)."""
        if not plots._dirty:
            return
        painted = _TimedPlotWidget.cost[0]
        started = time.perf_counter()
        plots.redraw()
        redraws.append((len(plots.steps), time.perf_counter() - started + painted))

    plots._timer.timeout.disconnect()
    plots._timer.timeout.connect(timed_redraw)
    memory: list[tuple[float, float]] = []
    lateness: list[tuple[float, float]] = []
    clock, last = QElapsedTimer(), [0]
    probe = QTimer()
    probe.setInterval(10)

    def tick() -> None:
        now = clock.elapsed()
        lateness.append((now, max(0, now - last[0] - 10)))
        last[0] = now
        if len(lateness) % 100 == 0:
            memory.append((now, _rss_mb()))

    probe.timeout.connect(tick)
    clock.start()
    probe.start()
    window.train()
    qtbot.waitUntil(lambda: window.thread is None, timeout=1_800_000)
    probe.stop()
    step = plots.epochs[-1]["step"] if plots.epochs else 0
    assert step >= SOAK_STEPS, step
    total = lateness[-1][0]
    warm = [mb for at, mb in memory if at > 0.1 * total]
    growth = max(warm) - warm[0]
    late = sorted(v for at, v in lateness if at > 1000)
    p99 = late[int(0.99 * (len(late) - 1))]
    durations = [d for _, d in redraws]
    fifth = max(1, len(durations) // 5)
    early, late_redraw = statistics.median(durations[:fifth]), statistics.median(durations[-fifth:])
    print(f"soak: {step:,} steps in {total / 1000:.0f} s; memory after warm-up {warm[0]:.0f} -> {max(warm):.0f} MB "
          f"(growth {growth:.1f} MB); redraw median first fifth {early * 1000:.1f} ms, last fifth "
          f"{late_redraw * 1000:.1f} ms over {len(durations)} redraws; event-loop lateness p99 {p99:.0f} ms, "
          f"max {late[-1]:.0f} ms")
    assert growth < 50
    assert late_redraw < 2 * early + 0.005  # flat: clip-to-view and downsampling keep it bounded
    assert p99 <= 50
