"""The cycle collector runs on the GUI thread only, while a window is open.

Python's cyclic garbage collector runs on whichever thread happens to allocate when a generation
fills up, and the training thread allocates all the time. A reference cycle holding a Python-side
QObject (a closed dialog, a view's replaced items) would then be destroyed on that thread: the
deadlock tasks.py exists to prevent. So while a window is open automatic collection is off, and a
GUI-thread timer collects instead, generation by generation as the automatic collector would
(pyqtgraph's GarbageCollector does the same, but cannot be undone; a process that opens and
closes windows, as the tests do, needs automatic collection back once the last one closes).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000
_open = 0  # collectors running (one a window)
_was_enabled = True  # whether automatic collection was on before the first one started


class GuiThreadCollector(QObject):
    def __init__(self, parent: QObject) -> None:
        global _open, _was_enabled
        super().__init__(parent)
        if _open == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _open += 1
        self._running = True
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(INTERVAL_MS)

    def collect(self) -> None:
        """What the automatic collector would have done by now, here on the GUI thread."""
        first, second, third = gc.get_threshold()
        young, middle, old = gc.get_count()
        if young > first:
            gc.collect(2 if middle > second and old > third else 1 if middle > second else 0)

    def stop(self) -> None:
        """The window closes: the last one to close turns automatic collection back on."""
        global _open
        if not self._running:
            return
        self._running = False
        self._timer.stop()
        _open -= 1
        if _open == 0 and _was_enabled:
            gc.enable()
            gc.collect()
