"""The live plots survive a long run (PySide6 6.12.0 crashed the process after ~25 redraws)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_plots_survive_hundreds_of_updates_in_a_fresh_process(tmp_path):
    script = textwrap.dedent("""
        from PySide6.QtWidgets import QApplication
        from studio.gui.views.plots import TrainingPlots
        app = QApplication([])
        plots = TrainingPlots()
        plots.resize(900, 300)
        plots.show()
        plots.add_event({"event": "start", "steps_per_epoch": 10})
        for epoch in range(1, 201):
            plots.add_event({"event": "step", "epoch": epoch, "step": epoch * 10 - 5, "train_loss": 1 / epoch, "lr": 0.01})
            plots.add_event({"event": "epoch", "epoch": epoch, "step": epoch * 10, "train_loss": 1 / epoch,
                             "train_acc": 0.5, "val_loss": 1 / epoch, "val_acc": 0.6, "lr": 0.01})
            plots.flush()
            app.processEvents()
        plots.save_csv(__import__("pathlib").Path(r"%s"))
        print("ok", len(plots.epochs))
    """) % (tmp_path / "curves.csv")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env
    )
    assert result.returncode == 0, result.stderr[-1500:]
    assert "ok 200" in result.stdout
    lines = (tmp_path / "curves.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,train_loss") and len(lines) == 201
