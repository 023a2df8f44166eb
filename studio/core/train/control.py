"""Pause, resume and stop a running fit: from another thread (the window, Ctrl-C) or from a
handler inside the loop (early stopping, the non-finite guard). The loop checks every batch."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class StopRequest:
    """Why a run should end, asked for by a user or a handler."""

    reason: str  # stopped | early_stopping | non_finite_loss (docs/cli.md, the `stop` event)
    message: str = ""  # empty: the loop says where it stopped
    resumable: bool = True  # False: what the run holds now is not worth a checkpoint


class TrainControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.held = threading.Event()  # set while the loop waits out a pause
        self.request: StopRequest | None = None

    def stop(self, reason: str = "stopped", message: str = "", resumable: bool = True) -> None:
        """Ask the loop to stop before its next batch. A request that is not resumable (a run
        gone bad) is final: a later stop does not turn it into one that keeps a checkpoint."""
        if self.request is None or self.request.resumable:
            self.request = StopRequest(reason, message, resumable)
        self._stop.set()
        self._running.set()  # a paused loop wakes up to stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def reason(self) -> str:
        return self.request.reason if self.request is not None else "stopped"

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_for_stop(self, seconds: float) -> bool:
        """Wait up to `seconds` for a stop to be asked for; True when one was."""
        return self._stop.wait(seconds)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        self.held.set()
        try:
            while not self._running.wait(timeout=0.1):
                pass
        finally:
            self.held.clear()
