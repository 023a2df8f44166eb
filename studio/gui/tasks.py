"""Background work for the window: one runner, in the shape superqt's workers have.

The work is a plain function run in a plain Python thread. It never touches a widget or a QObject:
it gets plain data and reports through its `Task`, whose signals live on a QObject that the GUI
thread made, owns and deletes. So every Python-side QObject is created, used and destroyed on the
GUI thread, and no Qt mutex is ever held by a worker while it waits for the interpreter (the
deadlock of a worker thread destroying a Python QObject while the GUI thread, holding the
interpreter, waits for that mutex).

Each task's callbacks (`done`, `failed`, `progress`) run on the GUI thread. A failure is a message
(a StudioError's own, or the exception's type, text and a short traceback), never a silent death:
this is the one error boundary of background work. The runner keeps every task until it has
ended, and `shutdown` (the window closing) cancels them all and waits for their threads.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

Work = Callable[["Task"], Any]
SHUTDOWN_SECONDS = 30  # closing the window waits this long for its background work


def guarded(call: Callable[[], Any]) -> tuple[Any, str]:
    """The one error boundary of the window's work: `(result, "")`, or `(None, message)` with a
    StudioError's own message, or any other exception's type, text and a short traceback."""
    from studio.core.errors import StudioError

    try:
        return call(), ""
    except StudioError as exc:
        return None, str(exc)
    except Exception as exc:  # the boundary that shows it: the window stays usable
        return None, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=-4)}"


class Task(QObject):
    """One piece of background work. The work gets the task: `report(value)` sends a progress
    value to the GUI thread, `cancelled` says whether it was asked to stop."""

    _progressed = Signal(object)
    _ended = Signal(object, str)  # the result, and an error message ("" when it succeeded)

    def __init__(
        self,
        runner: TaskRunner,
        name: str,
        work: Work,
        done: Callable[[Any], None] | None,
        failed: Callable[[str], None] | None,
        progress: Callable[[Any], None] | None,
        on_cancel: Callable[[], None] | None,
    ) -> None:
        super().__init__(runner)  # the runner owns it: only the GUI thread deletes it
        self.name = name
        self._work, self._runner = work, runner
        self._done, self._failed, self._progress = done, failed, progress
        self._on_cancel = on_cancel
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"studio-{name}", daemon=True)
        # both ends on this object, which lives on the GUI thread: emitted from the worker thread,
        # the slots run queued, on the GUI thread
        self._progressed.connect(self._deliver_progress)
        self._ended.connect(self._deliver_end)

    # ---------------------------------------------------------------- in the worker thread

    def report(self, value: Any) -> None:
        self._progressed.emit(value)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _run(self) -> None:
        result, message = None, "the work was interrupted"  # by a SystemExit or the like
        try:
            result, message = guarded(lambda: self._work(self))
        finally:  # whatever happens, the GUI thread hears that it ended
            self._ended.emit(result, message)

    # ---------------------------------------------------------------- on the GUI thread

    def cancel(self) -> None:
        """Ask the work to stop (it checks `cancelled`, or `on_cancel` tells it)."""
        self._cancel.set()
        if self._on_cancel is not None:
            self._on_cancel()

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, seconds: float | None = None) -> bool:
        """Wait for the work's thread to end; True when it has."""
        self._thread.join(seconds)
        return not self._thread.is_alive()

    @Slot(object)
    def _deliver_progress(self, value: Any) -> None:
        if self._progress is not None and not self._runner.closed:
            self._progress(value)

    @Slot(object, str)
    def _deliver_end(self, result: Any, message: str) -> None:
        self._thread.join()  # it emitted this as its last act: it is ending now
        self._runner._forget(self)
        if self._runner.closed:
            return
        if message:
            if self._failed is not None:
                self._failed(message)
        elif self._done is not None:
            self._done(result)


class TaskRunner(QObject):
    """Every background task of the window; `shutdown` cancels and waits for them all."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: list[Task] = []
        self.closed = False

    def run(
        self,
        name: str,
        work: Work,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        progress: Callable[[Any], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> Task | None:
        """Start `work(task)` in a thread of its own; None when the window is closing."""
        if self.closed:
            return None
        task = Task(self, name, work, done, failed, progress, on_cancel)
        self._tasks.append(task)
        task._thread.start()
        return task

    def running(self) -> list[Task]:
        """The tasks whose work has not ended (their callbacks may still be on their way)."""
        return [task for task in self._tasks if task.running()]

    def busy(self, name: str) -> bool:
        return any(task.name == name for task in self._tasks)

    def _forget(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
            task.deleteLater()

    def shutdown(self, seconds: float = SHUTDOWN_SECONDS) -> list[str]:
        """The window closes: nothing new starts, everything running is cancelled and waited for,
        `seconds` at most in all. Returns the names of the tasks still running then (work that
        cannot be cancelled, an evaluation say: its thread is a daemon and ends with the app)."""
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        deadline = time.monotonic() + seconds
        for task in list(self._tasks):
            task.wait(max(0.0, deadline - time.monotonic()))
        return [task.name for task in self._tasks if task.running()]
