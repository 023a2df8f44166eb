"""Background work: training (core.train.fit) and dataset loading, in QThreads.

Workers never touch widgets. They queue plain-Python events and signal at most every ~100 ms;
the GUI drains the queue in a slot of its own. Errors become readable messages, never a silent
death, and stop is cooperative (TrainControl), so closing the window can wait for the thread.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

SIGNAL_SECONDS = 0.1
_URGENT = {"start", "epoch", "stop", "checkpoint"}


class TrainingWorker(QObject):
    """Runs fit() for one project; `eventsReady` says the queue has something new."""

    eventsReady = Signal()
    failed = Signal(str)
    done = Signal(dict)
    finished = Signal()

    def __init__(self, project, runs_dir: Path, base_dir: Path, report_seconds: float = 0.1):
        super().__init__()
        from studio.core.train import TrainControl

        self.project = project
        self.runs_dir, self.base_dir, self.report_seconds = runs_dir, base_dir, report_seconds
        self.control = TrainControl()
        self._events: deque[dict[str, Any]] = deque()
        self._last_signal = 0.0

    # called by fit() in the worker thread
    def on_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        now = time.monotonic()
        if event["event"] in _URGENT or now - self._last_signal >= SIGNAL_SECONDS:
            self._last_signal = now
            self.eventsReady.emit()

    def close(self) -> None:
        pass

    def take_events(self) -> list[dict[str, Any]]:
        taken = []
        while self._events:
            taken.append(self._events.popleft())
        return taken

    @Slot()
    def run(self) -> None:
        from studio.core.errors import StudioError
        from studio.core.train import fit

        try:
            result = fit(
                self.project,
                callbacks=[self],
                control=self.control,
                runs_dir=self.runs_dir,
                base_dir=self.base_dir,
                report_seconds=self.report_seconds,
            )
            self.eventsReady.emit()
            self.done.emit(
                {
                    "reason": result.reason,
                    "message": result.message,
                    "run_dir": str(result.run_dir) if result.run_dir else None,
                }
            )
        except StudioError as exc:
            self.eventsReady.emit()
            self.failed.emit(str(exc))
        except Exception as exc:  # the boundary that shows it: the window stays usable
            self.eventsReady.emit()
            self.failed.emit(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=3)}")
        finally:
            self.finished.emit()


class DatasetWorker(QObject):
    """Loads a project's dataset with progress and cancel."""

    progress = Signal(str, int, int)
    loaded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, project, base_dir: Path):
        super().__init__()
        self.project, self.base_dir = project, base_dir
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        from studio.core.data import load_project_data
        from studio.core.errors import StudioError

        try:
            dataset = load_project_data(
                self.project,
                self.base_dir,
                progress=lambda what, done, total: self.progress.emit(what, done, total),
                cancelled=self._cancel.is_set,
            )
            self.loaded.emit(dataset)
        except StudioError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # shown in the data panel; the window stays usable
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.emit()


class TaskWorker(QObject):
    """Runs one slow call (evaluate, export, predict) off the GUI thread; its result or error as a signal."""

    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, task):
        super().__init__()
        self.task = task

    @Slot()
    def run(self) -> None:
        from studio.core.errors import StudioError

        try:
            self.succeeded.emit(self.task())
        except StudioError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # shown by the view that asked; the window stays usable
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.emit()


def start_in_thread(worker: QObject, owner: QObject) -> QThread:
    """Run `worker.run` in a new QThread that quits and cleans up when the worker finishes."""
    thread = QThread(owner)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # quit() is thread-safe; a direct call lets closeEvent wait() on the thread without deadlock
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(worker.deleteLater)
    thread.start()
    return thread


class _Relay(QObject):
    """Lives on the GUI thread and hands one task's result to its callbacks there.

    (PySide6's sender() is None in a queued slot, so each task gets a receiver of its own.)
    """

    def __init__(self, parent: QObject, done, error):
        super().__init__(parent)
        self.done, self.error = done, error

    @Slot(object)
    def succeeded(self, result) -> None:
        self.done(result)

    @Slot(str)
    def failed(self, message: str) -> None:
        self.error(message)


class BackgroundTasks(QObject):
    """Runs TaskWorkers, a thread each, and calls their callbacks back on the GUI thread."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._running: list[tuple[QThread, TaskWorker, _Relay]] = []  # references keep them alive
        self._closed = False

    def start(self, task, done, error) -> None:
        if self._closed:  # the window is closing: nothing new starts
            return
        self._forget_finished()
        worker, relay = TaskWorker(task), _Relay(self, done, error)
        worker.succeeded.connect(relay.succeeded)
        worker.failed.connect(relay.failed)
        thread = start_in_thread(worker, self)
        self._running.append((thread, worker, relay))

    def threads(self) -> list[QThread]:
        self._forget_finished()
        return [thread for thread, _, _ in self._running]

    def shutdown(self) -> None:
        """Start nothing more, and wait for what is running."""
        self._closed = True
        for thread, _, _ in self._running:
            thread.wait()

    def _forget_finished(self) -> None:
        self._running = [entry for entry in self._running if not entry[0].isFinished()]
