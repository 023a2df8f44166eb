"""GUI fixtures: the real window, offscreen, with private settings, runs and autosave folders,
and a check that no test leaves a QThread running."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_AUTOSAVE", str(tmp_path / "autosave.json"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings")
    )


@pytest.fixture
def make_window(qtbot):
    """Build main windows; each is closed (and its threads waited for) at the end."""
    from studio.gui.app import create_main_window

    windows = []

    def make(path=None):
        window = create_main_window(path)  # closed below, not by qtbot: closing may ask to save
        window.show()
        windows.append(window)
        qtbot.waitUntil(
            lambda: window.controller is None or window.controller.data_thread is None,
            timeout=20000,
        )
        return window

    yield make
    for window in windows:
        if window.document is not None:
            window.document.undo_stack.setClean()
        window.close()
    threads = [t for w in windows for t in w.threads()]
    assert not [t for t in threads if t.isRunning()], "a test left a QThread running"


def answer_next_box(button: QMessageBox.StandardButton, name: str | None = None) -> list[str]:
    """Click `button` on the next message box that opens (they are modal); returns its text."""
    seen: list[str] = []

    def click() -> None:
        for widget in QApplication.topLevelWidgets():
            if (
                isinstance(widget, QMessageBox)
                and widget.isVisible()
                and (name is None or widget.objectName() == name)
            ):
                seen.append(widget.text())
                widget.button(button).click()
                return
        QTimer.singleShot(20, click)

    QTimer.singleShot(20, click)
    return seen
