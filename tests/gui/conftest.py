"""GUI fixtures: the real window, offscreen, with private runs and autosave folders, and a check
(napari's `_dangling_qthreads`, widened) that fails any GUI test which leaves a QThread, a thread
pool's runnable, a QProcess or a Python thread of its own running."""

from __future__ import annotations

import os
import sys
import threading
from weakref import WeakKeyDictionary

import pytest
from PySide6.QtCore import QProcess, QThread, QThreadPool, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_AUTOSAVE", str(tmp_path / "autosave.json"))
    monkeypatch.setenv("STUDIO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("STUDIO_CONFIG_DIR", str(tmp_path / "settings"))


def _started_at() -> str:
    """Where the project's own code started it (the first frame outside Qt and the tests' fixtures)."""
    frame = sys._getframe(2)
    while frame is not None and not (
        frame.f_code.co_filename.startswith(ROOT) and "conftest" not in frame.f_code.co_filename
    ):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "?"


@pytest.fixture(autouse=True)
def _nothing_left_running(monkeypatch, qtbot):
    """Records what each test starts; after it (and after make_window closed its windows),
    anything still running fails the test, naming where it was started."""
    started: WeakKeyDictionary = WeakKeyDictionary()
    threads_before = set(threading.enumerate())
    pool = QThreadPool.globalInstance()
    for cls in (QThread, QProcess):
        original = cls.start

        def start(self, *args, _original=original, **kwargs):
            started[self] = _started_at()
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "start", start)
    yield
    QApplication.processEvents()
    running = [f"{type(obj).__name__} started at {where}" for obj, where in started.items()
               if _running(obj)]  # fmt: skip
    running += [f"thread {t.name}" for t in set(threading.enumerate()) - threads_before
                if t.is_alive() and not _ends_by_itself(t)]  # fmt: skip
    if pool.activeThreadCount():
        running.append(f"{pool.activeThreadCount()} QThreadPool runnable(s)")
    assert not running, "a test left background work running: " + "; ".join(running)


def _running(obj) -> bool:
    try:
        if isinstance(obj, QProcess):
            return obj.state() != QProcess.ProcessState.NotRunning
        return obj.isRunning()
    except RuntimeError:  # its C++ object is gone: it is not running
        return False


def _ends_by_itself(thread: threading.Thread) -> bool:
    """Threads libraries keep for themselves (torch's and TensorBoard's writers end on their own)."""
    return not thread.name.startswith("studio-") and thread.daemon


@pytest.fixture
def make_window(qtbot):
    """Build main windows; each is closed (its background work stopped and waited for) at the end."""
    from studio.gui.app import create_main_window

    windows = []

    def make(path=None):
        window = create_main_window(path)  # closed below, not by qtbot: closing may ask to save
        window.show()
        windows.append(window)
        qtbot.waitUntil(
            lambda: window.training is None or not window.training.loading, timeout=20000
        )
        return window

    yield make
    for window in windows:
        if window.document is not None:
            window.document.undo_stack.setClean()
        window.close()
        assert window.tasks.running() == [], "closing the window left a task running"


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


def answer_next_file_dialog(path) -> None:
    """Answer the next file dialog that opens (a save or open dialog) with `path`."""

    def answer() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QFileDialog) and widget.isVisible():
                widget.findChild(QLineEdit, "fileNameEdit").setText(str(path))
                widget.accept()
                return
        QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)


def drop_files(window, paths) -> None:
    """Drop files on the window as a file manager would (what predicts them)."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
