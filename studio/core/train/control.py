"""Pause, resume and stop a running fit from another thread; the loop checks every batch."""

from __future__ import annotations

import threading


class TrainControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.reason = "stopped"

    def stop(self, reason: str = "stopped") -> None:
        self.reason = reason
        self._stop.set()
        self._running.set()  # a paused loop wakes up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        while not self._running.wait(timeout=0.1):
            pass
