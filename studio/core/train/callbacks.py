"""Observers of a fit: each gets every event (a dict of plain values, docs/cli.md) as it happens."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

from studio.core.errors import RunWriteError
from studio.core.files import written
from studio.core.runs.folder import METRICS


class Callback:
    """Receives the loop's events; the base does nothing."""

    def on_event(self, event: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class History(Callback):
    """Keeps every event in memory (what tests and the GUI's plots read)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


class MetricsFile(Callback):
    """metrics.jsonl: one JSON object a line, flushed as it goes, appended on resume."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / METRICS
        with written(self.path, "nothing was trained"):
            self._handle: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._broken = False

    def on_event(self, event: dict[str, Any]) -> None:
        if self._broken:  # failed once (the run is ending for it): the rest is not recorded
            return
        try:
            with written(self.path, "the last complete checkpoint is kept"):
                self._handle.write(json.dumps(event) + "\n")
                self._handle.flush()
        except RunWriteError:
            self._broken = True
            raise

    def close(self) -> None:
        try:
            with written(self.path, "the last complete checkpoint is kept"):
                self._handle.close()  # writes what a failed flush left in the buffer
        except RunWriteError:
            if not self._broken:
                raise


class TensorBoardLogger(Callback):
    """Event files under the run's tensorboard/ folder, when the tensorboard package is installed."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        _quiet_writer_threads()
        self._writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    @staticmethod
    def available() -> bool:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            return False
        return True

    def on_event(self, event: dict[str, Any]) -> None:
        try:
            self._log(event)
        except OSError:  # its writer thread failed (a full disk): metrics.jsonl says it
            return

    def _log(self, event: dict[str, Any]) -> None:
        kind, step = event["event"], event.get("step", 0)
        if kind == "step":
            self._writer.add_scalar("loss/train_step", event["train_loss"], step)
            self._writer.add_scalar("lr", event["lr"], step)
        elif kind == "epoch":
            for key in ("train_loss", "val_loss", "train_acc", "val_acc", "samples_per_second"):
                if event.get(key) is not None:
                    group = key.split("_")[-1] if key != "samples_per_second" else "speed"
                    self._writer.add_scalar(f"{group}/{key}", event[key], event["epoch"])
            self._writer.flush()
        elif kind == "health":
            self._health(event)

    def _health(self, event: dict[str, Any]) -> None:
        """Each layer's measures as scalars, its activations and output gradients as histograms."""
        step = event["step"]
        for layer in event["layers"]:
            name = f"layer {layer['path']} {layer['type']}"
            for key in ("grad_norm", "update_ratio", "dead_fraction", "act_std"):
                if layer.get(key) is not None:
                    self._writer.add_scalar(f"health/{key}/{name}", layer[key], step)
            for key, tag in (("act_hist", "activations"), ("grad_hist", "output_gradients")):
                if layer.get(key):
                    self._histogram(f"{tag}/{name}", layer[key], step)

    def _histogram(self, tag: str, histogram: dict[str, Any], step: int) -> None:
        counts, low, high = histogram["counts"], histogram["min"], histogram["max"]
        width = (high - low) / len(counts)
        centres = [low + width * (i + 0.5) for i in range(len(counts))]
        self._writer.add_histogram_raw(
            tag,
            min=low,
            max=high,
            num=sum(counts),
            sum=sum(c * x for c, x in zip(counts, centres, strict=True)),
            sum_squares=sum(c * x * x for c, x in zip(counts, centres, strict=True)),
            bucket_limits=[low + width * (i + 1) for i in range(len(counts))],
            bucket_counts=counts,
            global_step=step,
        )

    def close(self) -> None:
        try:
            self._writer.close()
        except OSError:  # a full disk: the run's own files said so, in one line
            return


def _quiet_writer_threads() -> None:
    """TensorBoard writes from a thread of its own, which a full disk ends with a traceback on
    stderr: the run's own files report the same failure in one line, so that one is not shown."""
    previous = threading.excepthook
    if getattr(previous, "studio_quiet", False):
        return

    def hook(args) -> None:
        if (
            isinstance(args.exc_value, OSError)
            and type(args.thread).__name__ == "_AsyncWriterThread"
        ):
            return
        previous(args)

    hook.studio_quiet = True
    threading.excepthook = hook
