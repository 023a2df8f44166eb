"""Soak (`make test-long`): a 100,000-step training run watched by the window, offscreen. Memory,
redraw time and event-loop lateness must stay flat; the figures are printed."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from studio.core.project.reading import load_project
from tests.conftest import TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
SOAK_STEPS = 100_000

pytestmark = pytest.mark.long


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")
def test_soak_100k_steps_in_the_gui_memory_redraws_and_lateness_stay_flat(
    make_window, qtbot, tmp_path
):
    from PySide6.QtCore import QElapsedTimer, QTimer

    project = load_project(DIGITS)
    project.data.batch_size = 16
    steps_per_epoch = 90  # 1,437 training digits in batches of 16
    project.training.epochs = SOAK_STEPS // steps_per_epoch + 1
    path = tmp_path / "soak.json"
    path.write_text(project.to_json())
    window = make_window(path)
    plots = window.views.plots
    redraws: list[tuple[int, float]] = []  # (points on the curve, the redraw with its painting)
    plots.redrawn.connect(lambda points, seconds: redraws.append((points, seconds)))
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
    qtbot.waitUntil(lambda: not window.training.running, timeout=1_800_000)
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
    print(
        f"soak: {step:,} steps in {total / 1000:.0f} s; memory after warm-up {warm[0]:.0f} -> {max(warm):.0f} MB "
        f"(growth {growth:.1f} MB); redraw median first fifth {early * 1000:.1f} ms, last fifth "
        f"{late_redraw * 1000:.1f} ms over {len(durations)} redraws; event-loop lateness p99 {p99:.0f} ms, "
        f"max {late[-1]:.0f} ms"
    )
    assert growth < 50
    assert late_redraw < 2 * early + 0.005  # flat: clip-to-view and downsampling keep it bounded
    assert p99 <= 50
