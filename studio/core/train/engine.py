"""The training loop proper: `step` does one optimisation step, `train_epoch` runs them over an
epoch, `end_epoch` validates and reports. Everything else (best tracking, early stopping,
checkpoints, the learning-rate schedule, the non-finite guard) is a handler observing `Event`s.

Metrics stay on the device and reach the host only when read (a few times a second and at the end
of an epoch), so the loop runs as fast as one written by hand.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any

import torch
from torch import nn

from studio.core.train import distributed
from studio.core.train.checkpoint import restore_rng, rng_state
from studio.core.train.control import TrainControl
from studio.core.train.events import EpochEvent, MetricsEvent, StepEvent
from studio.core.train.setup import Setup
from studio.core.train.state import LossesRead, Progress, StepWindow, Totals


class Event(Enum):
    STARTED = "started"  # before the first step of this call (a resumed state already restored)
    ITERATION_STARTED = "iteration_started"  # before every step, cheap; may return a context
    ITERATION_COMPLETED = "iteration_completed"  # after every step: handlers here must be cheap
    LOSSES_READ = "losses_read"  # the losses since the last read reached the host: a LossesRead
    EPOCH_COMPLETED = "epoch_completed"  # after validation and the `epoch` event: an EpochEnd
    INTERRUPTED = "interrupted"  # stopped part-way, with a state that resumes exactly there
    FINISHED = "finished"  # the run is over: its reason


@dataclass
class EpochEnd:
    """What EPOCH_COMPLETED handlers see, and tell each other."""

    metrics: EpochEvent
    validated: bool  # False when a stop came during validation
    improved: bool = False  # set by best tracking: the monitored metric is the best so far


class Trainer:
    """Runs the epochs of one Setup; handlers attach to its events with `on`."""

    def __init__(
        self,
        setup: Setup,
        control: TrainControl,
        epochs: int,
        emit: Callable[[MetricsEvent], None],  # the metrics events (events.py), to the callbacks
        report_seconds: float = 0.25,  # `step` events at most this often
    ) -> None:
        self.setup, self.control, self.epochs = setup, control, epochs
        self.emit, self.report_seconds = emit, report_seconds
        self.progress = Progress()
        self.where_stopped = ""  # said in the stop event when a user's stop ended the run
        self.last_epoch: dict[str, Any] | None = None  # the latest `epoch` event
        self._handlers: dict[Event, list[Callable[..., None]]] = {}

    def on(self, event: Event, handler: Callable[..., None]) -> None:
        self._handlers.setdefault(event, []).append(handler)

    def fire(self, event: Event, *args: Any) -> None:
        for handler in self._handlers.get(event, ()):
            handler(self, *args)

    # ------------------------------------------------------------------ one step

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step on one batch; the loss and the output come back detached."""
        s = self.setup
        if s.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with s.autocast():
            output, target = s.task.train_output(s.model, x, y)
            loss = s.loss_fn(output, target)
        s.optimizer.zero_grad(set_to_none=True)
        if s.scaler is not None:
            s.scaler.scale(loss).backward()
            if s.grad_clip:
                s.scaler.unscale_(s.optimizer)
                nn.utils.clip_grad_norm_(s.model.parameters(), s.grad_clip)
            s.scaler.step(s.optimizer)
            s.scaler.update()
        else:
            loss.backward()
            if s.grad_clip:
                nn.utils.clip_grad_norm_(s.model.parameters(), s.grad_clip)
            s.optimizer.step()
        if isinstance(output, dict):  # a detector's losses
            return loss.detach(), {k: v.detach() for k, v in output.items()}
        return loss.detach(), output.detach()

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        """Train until the epochs are done or a stop is asked for (the reason is in `control`)."""
        self.fire(Event.STARTED)
        while self.progress.epoch < self.epochs:
            totals = self.train_epoch()
            if totals is None or not self.end_epoch(totals, self.validate()):
                return
            if self.control.stop_requested:
                self.where_stopped = f"stopped after epoch {self.progress.epoch}"
                return

    def train_epoch(self) -> Totals | None:
        """The current epoch's remaining batches: their totals, or None when stopped part-way."""
        s, p, control = self.setup, self.progress, self.control
        epoch_generator = s.generator.get_state()  # the permutation this epoch draws
        before_step = self._handlers.get(Event.ITERATION_STARTED, ())
        iteration_handlers = self._handlers.get(Event.ITERATION_COMPLETED, ())
        totals, window = replace(p.partial), StepWindow()
        done, started, last_report = p.batches_done, time.perf_counter(), time.perf_counter()
        stopped = control.stop_requested  # asked for before this epoch began
        batches = () if stopped else s.train_batches.epoch(skip=p.batches_done)
        s.model.train()
        for x, y in batches:
            around = (  # no handler (health off): nothing at all is done per step
                [c for c in (handler(self) for handler in before_step) if c is not None]
                if before_step
                else ()
            )
            if around:  # a handler's context wraps this step (hooks it removes whatever happens)
                with contextlib.ExitStack() as stack:
                    for context in around:
                        stack.enter_context(context)
                    loss, output = self.step(x, y)
            else:
                loss, output = self.step(x, y)
            p.step += 1
            done += 1
            window.add(loss, len(y), s.task.hits(output, y))
            for handler in iteration_handlers:
                handler(self)
            if control.paused:
                paused_at = time.perf_counter()
                control.wait_while_paused()
                started += time.perf_counter() - paused_at
            if (
                not control.stop_requested
                and time.perf_counter() - last_report >= self.report_seconds
            ):
                self._report(window, totals, done)
                last_report = time.perf_counter()
            if control.stop_requested:  # before the next batch is drawn
                stopped = True
                break
        self._read(window, totals)
        totals.seconds += time.perf_counter() - started
        if stopped and _resumable(control):  # keep exactly this: the permutation, position, sums
            p.batches_done, p.partial = done, totals
            s.generator.set_state(epoch_generator)
            self.where_stopped = f"stopped at epoch {p.epoch + 1}, step {p.step}"
            self.fire(Event.INTERRUPTED)
        return None if stopped or not _resumable(control) else totals

    def _report(self, window: StepWindow, totals: Totals, done: int) -> None:
        read = self._read(window, totals)
        if read is None or self.control.stop_requested:
            return
        self.emit(
            StepEvent(
                event="step",
                epoch=self.progress.epoch + 1,
                step=self.progress.step,
                train_loss=read.totals.loss,
                lr=self.lr(),
                batch=done,
                batches=len(self.setup.train_batches),
            )
        )

    def _read(self, window: StepWindow, totals: Totals) -> LossesRead | None:
        read = window.read(self.progress.step)
        if read is not None:
            totals.add(read.totals)
            self.fire(Event.LOSSES_READ, read)
        return read

    def validate(self) -> dict[str, float] | None:
        """Loss and the task's scores on the validation split; None when stopped part-way."""
        s = self.setup
        if s.val_batches is None:
            return {}
        loss_sum = torch.zeros((), device=s.device, dtype=torch.float64)
        scores = s.task.scores()
        s.model.eval()
        try:
            with torch.no_grad():
                for x, y in s.val_batches:
                    if self.control.stop_requested:
                        return None
                    with s.autocast():
                        output, target = s.task.for_loss(s.model(x), y)
                        loss = s.task.loss_of(s.model, s.loss_fn, x, output, target)
                        loss_sum += loss.double() * len(y)
                    scores.add(output, y)
        finally:
            s.model.train()
        return {"val_loss": loss_sum.item() / s.val_count, **scores.result(s.val_count)}

    def end_epoch(self, totals: Totals, validation: dict[str, float] | None) -> bool:
        """Report the epoch and let the handlers act on it; False when stopped in validation."""
        s, p = self.setup, self.progress
        world = s.world
        summed = torch.tensor([totals.loss_sum, totals.correct, totals.count], dtype=torch.float64)
        loss_sum, correct, count = distributed.sum_across(world, summed.to(s.device)).tolist()
        p.batches_done, p.partial = 0, Totals()
        p.epoch += 1
        metrics = EpochEvent(
            event="epoch", epoch=p.epoch, step=p.step, train_loss=loss_sum / max(1, count)
        )
        if s.task.train_metric is not None:
            metrics[s.task.train_metric] = correct / max(1, count)
        metrics.update(validation or {})
        if hasattr(s.loss_fn, "parts"):  # a detector's losses, each (loss_classifier, ...)
            metrics.update(s.loss_fn.parts())
        seconds = totals.seconds
        metrics["lr"] = self.lr()
        metrics["epoch_seconds"] = seconds
        metrics["samples_per_second"] = count / seconds if seconds > 0 else 0.0
        self.last_epoch = metrics
        self.emit(metrics)
        self.fire(Event.EPOCH_COMPLETED, EpochEnd(metrics, validated=validation is not None))
        if validation is None:  # the epoch's training is kept whole
            self.where_stopped = f"stopped after epoch {p.epoch}, during validation"
            return False
        return True

    def lr(self) -> float:
        return float(self.setup.optimizer.param_groups[0]["lr"])

    # ------------------------------------------------------------------ checkpoint state

    def state_dict(self) -> dict[str, Any]:
        """What resumes this run exactly: weights, optimizer, schedule, scaler, random state, progress."""
        s = self.setup
        return {
            "model": s.raw_model.state_dict(),
            "optimizer": s.optimizer.state_dict(),
            "scheduler": s.scheduler.state_dict() if s.scheduler is not None else None,
            "scaler": s.scaler.state_dict() if s.scaler is not None else None,
            "rng": rng_state(),
            "generator": s.generator.get_state(),  # for the next epoch to draw
            "progress": asdict(self.progress),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        s = self.setup
        s.raw_model.load_state_dict(state["model"])
        s.optimizer.load_state_dict(state["optimizer"])
        if s.scheduler is not None and state.get("scheduler") is not None:
            s.scheduler.load_state_dict(state["scheduler"])
        if s.scaler is not None and state.get("scaler") is not None:
            s.scaler.load_state_dict(state["scaler"])
        s.generator.set_state(state["generator"])
        restore_rng(state["rng"])
        self.progress = Progress.from_dict(state["progress"])


def _resumable(control: TrainControl) -> bool:
    return control.request is None or control.request.resumable
