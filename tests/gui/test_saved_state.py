"""What the window remembers between sessions, and what it refuses to remember: the layout and
geometry come back, a saved state that would leave the window unusable is ignored, View > Reset
layout gives the default back, and none of it ever reaches the user's own settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

from studio.gui.settings import settings
from tests.conftest import USER_FOLDERS, snapshot

LEFT, RIGHT = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
DOCKS = ("paletteDock", "formDock", "dataDock", "trainingDock")


def docks(window) -> dict[str, QDockWidget]:
    return {d.objectName(): d for d in window.findChildren(QDockWidget)}


def shown(window) -> list[str]:
    return sorted(name for name, dock in docks(window).items() if dock.isVisible())


def test_the_layout_comes_back_as_it_was_left(make_window):
    window = make_window()
    window.addDockWidget(RIGHT, docks(window)["paletteDock"])  # the user moves the palette
    window.close()
    again = make_window()
    assert again.dockWidgetArea(docks(again)["paletteDock"]) == RIGHT
    assert shown(again) == sorted(DOCKS)


def test_a_saved_state_that_hides_every_dock_is_ignored(make_window):
    window = make_window()
    for dock in docks(window).values():
        dock.toggleViewAction().trigger()  # View > each panel, off
    assert shown(window) == []
    window.close()
    again = make_window()
    assert shown(again) == sorted(DOCKS)  # every panel, as on a first start
    assert again.dockWidgetArea(docks(again)["paletteDock"]) == LEFT


def test_a_state_saved_by_another_layout_version_is_ignored(make_window):
    window = make_window()
    window.addDockWidget(RIGHT, docks(window)["paletteDock"])
    window.close()
    settings().setValue("windowState", window.saveState(1))  # as an older studio saved it
    again = make_window()
    assert again.dockWidgetArea(docks(again)["paletteDock"]) == LEFT
    assert shown(again) == sorted(DOCKS)


def test_a_window_or_panel_from_a_screen_that_is_gone_comes_back_onto_this_one(make_window):
    window = make_window()
    palette = docks(window)["paletteDock"]
    palette.setFloating(True)
    palette.move(9000, 7000)  # on a second monitor, since unplugged
    window.move(8000, 6000)
    window.close()
    again = make_window()
    area = again.screen().availableGeometry()
    assert area.contains(again.frameGeometry())
    palette = docks(again)["paletteDock"]
    assert palette.isVisible() and area.contains(palette.frameGeometry().center())


def test_view_reset_layout_restores_the_default(make_window, qtbot):
    window = make_window()
    names = docks(window)
    window.addDockWidget(RIGHT, names["paletteDock"])
    names["formDock"].toggleViewAction().trigger()
    names["dataDock"].setFloating(True)
    reset = next(a for a in window.findChildren(QAction) if a.objectName() == "resetLayoutAction")
    reset.trigger()
    qtbot.waitUntil(lambda: shown(window) == sorted(DOCKS), timeout=5000)
    assert window.dockWidgetArea(names["paletteDock"]) == LEFT
    assert not names["dataDock"].isFloating()
    assert window.tabifiedDockWidgets(names["dataDock"]) == [names["trainingDock"]]


def test_the_users_own_settings_are_untouched_by_the_window_and_the_app(make_window, tmp_path):
    """The window in this process and the app in a process of its own (`studio p.json
    --smoke`, as tests/cli does) write their settings, layout, recent files and autosave where
    $STUDIO_CONFIG_DIR says; the user's folders stay as they were."""
    before = snapshot(USER_FOLDERS)
    window = make_window()
    window.close()
    project = tmp_path / "p.json"
    project.write_text(json.dumps({
        "studio": 1, "name": "p", "data": {"source": "digits"},
        "model": {"layers": [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 10}}]},
    }))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "studio", str(project), "--smoke"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert snapshot(USER_FOLDERS) == before
    written = Path(os.environ["STUDIO_CONFIG_DIR"]) / "torch-studio.ini"
    assert "windowState" in written.read_text()  # it was remembered, where it should be
