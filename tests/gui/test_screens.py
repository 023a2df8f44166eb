"""The window on ordinary screens: it opens inside the screen's available area, never grows past
it while a user adds layers and trains, and no two visible panels overlap. Each size runs in a
process of its own, on Qt's offscreen platform given a screen of that size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys, time
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QApplication, QDockWidget
    from studio.gui.app import apply_theme, create_main_window

    app = QApplication([])
    apply_theme(app)
    window = create_main_window()
    window.show()
    app.processEvents()
    area = app.primaryScreen().availableGeometry()
    frames = [window.frameGeometry()]

    def panels():
        central = window.centralWidget()
        found = {"central": QRect(central.mapTo(window, central.rect().topLeft()), central.size())}
        for dock in window.findChildren(QDockWidget):
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                found[dock.objectName()] = QRect(dock.mapTo(window, dock.rect().topLeft()), dock.size())
        return found

    for kind in ("Conv2d", "BatchNorm1d", "GELU", "Dropout", "Linear", "LayerNorm"):
        window.layer_actions.add(kind)
        app.processEvents()
        frames.append(window.frameGeometry())
    error = window.report.error  # a Conv2d cannot take the flat output before it: the error bar
    assert error is not None and window.views.stack.error_bar.isVisibleTo(window), error
    while window.document.undo_stack.canUndo():  # back to the project as it opened
        window.document.undo_stack.undo()
        app.processEvents()
        frames.append(window.frameGeometry())
    assert window.report.error is None
    window.views.training_panel.epochs.setValue(1)
    window.train()
    deadline = time.monotonic() + 180
    while window.training.running and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    assert not window.training.running, "training did not end within 3 minutes"
    window.views.plots.flush()
    app.processEvents()
    frames.append(window.frameGeometry())
    shown = panels()
    names = sorted(shown)
    overlapping = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
                   if shown[a].intersects(shown[b])]
    print(json.dumps({
        "area": [area.x(), area.y(), area.width(), area.height()],
        "frames": [[f.x(), f.y(), f.width(), f.height()] for f in frames],
        "inside": all(area.contains(f) for f in frames),
        "panels": names, "overlapping": overlapping,
        "progress": window.views.training_panel.progress.format(),
    }))
    window.document.undo_stack.setClean()
    window.close()
""")


@pytest.mark.parametrize(
    "size", [(1280, 720), (1366, 768), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_the_window_fits_the_screen_and_its_panels_do_not_overlap(size, tmp_path):
    width, height = size
    config = tmp_path / "screen.json"
    screen = {"name": "screen", "x": 0, "y": 0, "width": width, "height": height,
              "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}  # fmt: skip
    config.write_text(json.dumps({"screens": [screen]}))
    env = {
        **os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
        "STUDIO_AUTOSAVE": str(tmp_path / "autosave.json"), "STUDIO_RUNS_DIR": str(tmp_path / "runs"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["area"] == [0, 0, width, height]
    assert result["inside"], result["frames"]
    assert len({tuple(f[2:]) for f in result["frames"]}) == 1  # it never resized itself
    assert {"central", "paletteDock", "formDock"} <= set(result["panels"])
    assert result["overlapping"] == []
    assert "completed" in result["progress"]
