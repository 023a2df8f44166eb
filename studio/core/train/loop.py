"""The training loop: one `fit` for the GUI, the command line and torchrun.

Observers get plain-Python events (CLI.md); a TrainControl pauses or stops it between batches.
Metrics accumulate on the device and reach the host only when reported (a few times a second
and at epoch end), so the loop runs as fast as one written by hand.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from studio import __version__
from studio.core.build import build_model
from studio.core.data import Dataset, load_dataset
from studio.core.data.batches import Batches, make_generator
from studio.core.devices import check_precision, resolve_device
from studio.core.errors import DataError, StudioError
from studio.core.files import atomic_save
from studio.core.project import Project, parse_project
from studio.core.runs import create_run_dir
from studio.core.train import distributed
from studio.core.train.callbacks import Callback, MetricsFile, TensorBoardLogger
from studio.core.train.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from studio.core.train.control import TrainControl
from studio.core.train.setup import PER_BATCH, Targets, make_loss, make_optimizer, make_scheduler
from studio.core.trained import Preprocessing

REPORT_SECONDS = 0.25  # step events at most four times a second
_MAXIMISE = {"val_acc", "train_acc"}


class TrainingFailed(StudioError):
    """Training started and then failed (out of memory, a kernel error): exit status 1."""


@dataclass
class FitResult:
    reason: str
    message: str
    run_dir: Path | None
    model: nn.Module
    dataset: Dataset
    epochs_done: int
    step: int
    last_epoch: dict[str, Any] | None = None
    best: float | None = None


@dataclass
class _Progress:
    """What a checkpoint restores: where the loop is and what it has seen."""

    epoch: int = 0  # completed epochs
    step: int = 0
    batches_done: int = 0  # into the current epoch, when stopped mid-epoch
    best: float | None = None
    bad_epochs: int = 0
    epoch_generator: torch.Tensor | None = None
    partial: list[float] = field(
        default_factory=lambda: [0.0, 0.0, 0.0, 0.0]
    )  # loss, correct, count, seconds


def fit(
    project: Project,
    callbacks: Iterable[Callback] = (),
    control: TrainControl | None = None,
    runs_dir: str | Path | None = None,
    resume: str | Path | None = None,
    base_dir: str | Path | None = None,
    write_run: bool = True,
    report_seconds: float = REPORT_SECONDS,
) -> FitResult:
    """Train `project`; returns how it ended. User mistakes raise before the first step.

    With `resume`, training continues from that checkpoint (load its project with
    `checkpoint_project` to train exactly what it was, perhaps with more epochs).

    `step` events come at most every `report_seconds`; each costs one host synchronisation.
    """
    run = _Fit(
        project, list(callbacks), control or TrainControl(), runs_dir, resume, base_dir, write_run
    )
    run.report_seconds = report_seconds
    return run.run()


class _Fit:
    def __init__(self, project, callbacks, control, runs_dir, resume, base_dir, write_run):
        self.control = control
        self.world = distributed.world_from_env()
        self.resume_state = load_checkpoint(resume) if resume else None
        self.project = project
        spec = project.training
        self.device = (
            distributed.start(self.world, spec.device)
            if self.world.distributed
            else resolve_device(spec.device)
        )
        check_precision(self.device, spec.precision)
        _seed_everything(spec.seed)
        dataset = load_dataset(project.data, spec.seed, base_dir)
        self.base_dir = str(Path(base_dir or ".").resolve())
        self.preprocessing = Preprocessing.from_dataset(dataset).to_json()
        self.dataset = dataset.to(self.device) if _fits(dataset, self.device) else dataset
        self._reconcile_input_shape()
        self.model = build_model(project.model, seed=spec.seed, device=self.device)
        self.targets = Targets(self.dataset.task, spec.loss.type, self.dataset.num_classes)
        self.targets.check_output(_output_shape(self.model, self.dataset, self.device))
        self.loss_fn = make_loss(project)
        self.optimizer = make_optimizer(project, self.model)
        self.generator = make_generator(spec.seed, self.device)
        self.train_batches = Batches(
            self.dataset,
            self.dataset.train,
            project.data.batch_size,
            shuffle=True,
            generator=self.generator,
            augment=project.data.augment,
            shard=(self.world.rank, self.world.size),
            device=self.device,
        )
        val = self.dataset.val
        self.val_batches = (
            Batches(self.dataset, val, max(256, project.data.batch_size), device=self.device)
            if val is not None and len(val)
            else None
        )
        self.scheduler = make_scheduler(
            project, self.optimizer, len(self.train_batches), spec.epochs
        )
        self.scaler = torch.amp.GradScaler(self.device.type) if spec.precision == "fp16" else None
        self.progress = _Progress()
        if self.resume_state is not None:
            self._restore(self.resume_state)
        self.run_dir = None
        self._interrupted = ("stopped", "stopped")
        self.report_seconds, self.last_report = REPORT_SECONDS, time.perf_counter()
        self.callbacks: list[Callback] = []
        if self.world.is_main:
            if write_run:
                self.run_dir = self._run_dir(runs_dir, resume)
                self.callbacks.append(MetricsFile(self.run_dir))
                if TensorBoardLogger.available():
                    self.callbacks.append(TensorBoardLogger(self.run_dir))
            self.callbacks += callbacks
        if self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    # ------------------------------------------------------------------ set-up helpers

    def _reconcile_input_shape(self) -> None:
        model, shape = self.project.model, self.dataset.input_shape
        if model.input_shape is None:
            model.input_shape = list(shape)
        elif list(model.input_shape) != list(shape):
            raise DataError(
                f"model.input_shape is {model.input_shape} but {self.project.data.source} "
                f"gives samples of shape {shape}: set model.input_shape to {shape}"
            )

    def _run_dir(self, runs_dir, resume) -> Path:
        if resume is not None:
            run = Path(resume).resolve().parent.parent
            for stale in (run / "checkpoints").glob(".*.tmp"):  # a write cut short by a crash
                stale.unlink(missing_ok=True)
            return run
        return create_run_dir(Path(runs_dir or "runs"), self.project)

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        p = state["progress"]
        self.progress = _Progress(
            epoch=p["epoch"],
            step=p["step"],
            batches_done=p["batches_done"],
            best=p["best"],
            bad_epochs=p["bad_epochs"],
            partial=list(p["partial"]),
        )
        self.generator.set_state(state["generator"])
        restore_rng(state["rng"])

    # ------------------------------------------------------------------ the loop

    def run(self) -> FitResult:
        spec = self.project.training
        raw = self.model.module if self.world.distributed else self.model
        self.emit(
            {
                "event": "start",
                "time": time.time(),
                "project": self.project.name,
                "device": str(self.device),
                "world_size": self.world.size,
                "params": sum(p.numel() for p in raw.parameters()),
                "steps_per_epoch": len(self.train_batches),
                "epochs": spec.epochs,
                "resumed_at_epoch": self.progress.epoch if self.resume_state else None,
            }
        )
        reason, message, last = "completed", f"trained {spec.epochs} epochs", None
        try:
            while self.progress.epoch < spec.epochs:
                finished, last = self._epoch()
                if not finished:
                    reason, message = self._interrupted
                    break
                if self._early_stop():
                    reason = "early_stopping"
                    message = (
                        f"{spec.early_stopping.monitor} did not improve for "
                        f"{spec.early_stopping.patience} epochs"
                    )
                    break
        except torch.OutOfMemoryError:
            reason = "error"
            message = (
                f"out of memory on {self.device} with batches of {self.project.data.batch_size}: "
                "try a smaller data.batch_size"
            )
        except RuntimeError as exc:  # a kernel failure mid-run: reported, the last checkpoint kept
            reason, message = "error", str(exc).strip().splitlines()[0][:300]
        if reason in ("completed", "early_stopping") and self.run_dir is not None:
            self._save_weights(raw)
        stop: dict[str, Any] = {
            "event": "stop",
            "reason": reason,
            "message": message,
            "epoch": self.progress.epoch,
            "step": self.progress.step,
        }
        if self.world.distributed:
            stop["weights_in_sync"] = distributed.weights_in_sync(self.world, raw)
        self.emit(stop)
        for callback in self.callbacks:
            callback.close()
        distributed.finish(self.world)
        if reason == "error":
            raise TrainingFailed(message)
        return FitResult(
            reason,
            message,
            self.run_dir,
            raw,
            self.dataset,
            self.progress.epoch,
            self.progress.step,
            last,
            self.progress.best,
        )

    def emit(self, event: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_event(event)

    def _epoch(self) -> tuple[bool, dict[str, Any] | None]:
        """Train one epoch, then validate; False when stopped or ended before the end."""
        spec, p = self.project.training, self.progress
        p.epoch_generator = self.generator.get_state()  # the permutation this epoch draws
        autocast = _autocast(self.device, spec.precision)
        per_batch = self.scheduler is not None and spec.scheduler.type in PER_BATCH
        clip, classify = spec.grad_clip, self.targets.task == "classification"
        model, loss_fn, optimizer, scaler, targets = (
            self.model,
            self.loss_fn,
            self.optimizer,
            self.scaler,
            self.targets,
        )
        control, window = self.control, _Window()
        totals = list(p.partial)  # loss sum, correct, count, seconds of the epoch so far
        model.train()
        started = time.perf_counter()
        step = p.step
        if control.stop_requested:
            return self._stop_between_batches(p.batches_done, step, window, totals, started)
        for i, (x, y) in enumerate(
            self.train_batches.epoch(skip=p.batches_done), start=p.batches_done
        ):
            with autocast:
                output, target = targets.for_loss(model(x), y)
                loss = loss_fn(output, target)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                if clip:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            if per_batch:
                self.scheduler.step()
            step += 1
            window.add(
                loss.detach(), len(y), targets.predictions(output.detach()) if classify else None, y
            )
            if control.paused:
                paused_at = time.perf_counter()
                control.wait_while_paused()
                started += time.perf_counter() - paused_at
            if control.stop_requested:  # checked before the next batch is drawn
                return self._stop_between_batches(i + 1, step, window, totals, started)
            now = time.perf_counter()
            if now - self.last_report >= self.report_seconds:
                before = list(totals)
                bad = window.flush_into(totals, step)
                if bad is not None:
                    p.step = step
                    return self._non_finite(bad)
                self.emit(
                    {
                        "event": "step",
                        "epoch": p.epoch + 1,
                        "step": step,
                        "train_loss": (totals[0] - before[0]) / max(1, totals[2] - before[2]),
                        "lr": self._lr(),
                        "batch": i + 1,
                        "batches": len(self.train_batches),
                    }
                )
                self.last_report = now
        p.step = step
        bad = window.flush_into(totals, step)
        if bad is not None:
            return self._non_finite(bad)
        seconds = time.perf_counter() - started + totals[3]
        loss_sum, correct, count = distributed.sum_across(
            self.world, torch.tensor(totals[:3], dtype=torch.float64, device=self.device)
        ).tolist()
        p.batches_done, p.partial = 0, [0.0, 0.0, 0.0, 0.0]
        event = {
            "event": "epoch",
            "epoch": p.epoch + 1,
            "step": step,
            "train_loss": loss_sum / max(1, count),
        }
        if classify:
            event["train_acc"] = correct / max(1, count)
        validation = self._validate()
        event.update(validation or {})
        event.update(
            {
                "lr": self._lr(),
                "epoch_seconds": seconds,
                "samples_per_second": count / seconds if seconds > 0 else 0.0,
            }
        )
        if self.scheduler is not None and not per_batch:
            if spec.scheduler.type != "ReduceLROnPlateau":
                self.scheduler.step()
            elif event.get(self._monitor()) is not None:
                self.scheduler.step(event[self._monitor()])
        p.epoch += 1
        improved = validation is not None and self._track_best(event)
        self.emit(event)
        self._checkpoint(improved)
        if validation is None:  # stopped during validation: the epoch's training is kept whole
            self._interrupted = (
                control.reason,
                f"stopped after epoch {p.epoch}, during validation",
            )
            return False, event
        return True, event

    def _stop_between_batches(
        self, batches_done, step, window, totals, started
    ) -> tuple[bool, None]:
        """Keep a checkpoint that resumes exactly here: the epoch's permutation, position and sums."""
        p = self.progress
        p.step = step
        bad = window.flush_into(totals, step)
        if bad is not None:
            return self._non_finite(bad)
        totals[3] += time.perf_counter() - started
        p.batches_done, p.partial = batches_done, totals
        self.generator.set_state(p.epoch_generator)
        self._interrupted = (self.control.reason, f"stopped at epoch {p.epoch + 1}, step {step}")
        self._checkpoint(improved=False)
        return False, None

    def _validate(self) -> dict[str, float] | None:
        """Loss (and accuracy) on the validation split; None when stopped part-way."""
        if self.val_batches is None:
            return {}
        split = self.dataset.val
        model, targets = self.model, self.targets
        model.eval()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.float64)
        autocast = _autocast(self.device, self.project.training.precision)
        try:
            with torch.no_grad():
                for x, y in self.val_batches:
                    if self.control.stop_requested:
                        return None
                    with autocast:
                        output, target = targets.for_loss(model(x), y)
                        loss_sum += self.loss_fn(output, target).double() * len(y)
                    if targets.task == "classification":
                        correct += (targets.predictions(output) == y).sum()
        finally:
            model.train()
        out = {"val_loss": loss_sum.item() / len(split)}
        if targets.task == "classification":
            out["val_acc"] = correct.item() / len(split)
        return out

    # ------------------------------------------------------------------ stopping, checkpoints

    def _non_finite(self, step: int) -> tuple[bool, None]:
        self._interrupted = (
            "non_finite_loss",
            f"the loss became NaN or infinite at step {step}; the last checkpoint "
            "is from before it (try a smaller learning rate or gradient clipping)",
        )
        return False, None

    def _monitor(self) -> str:
        stopping = self.project.training.early_stopping
        if stopping is not None:
            return stopping.monitor
        return (
            "val_loss" if self.dataset.val is not None and len(self.dataset.val) else "train_loss"
        )

    def _track_best(self, event: dict[str, Any]) -> bool:
        monitor, p = self._monitor(), self.progress
        value = event.get(monitor)
        if value is None:
            return False
        delta = (
            self.project.training.early_stopping.min_delta
            if self.project.training.early_stopping
            else 0.0
        )
        sign = -1 if monitor in _MAXIMISE else 1
        if p.best is None or sign * (value - p.best) < -delta:
            p.best, p.bad_epochs = value, 0
            return True
        p.bad_epochs += 1
        return False

    def _early_stop(self) -> bool:
        """`patience` epochs in a row without improvement (0: the first one without)."""
        stopping, bad = self.project.training.early_stopping, self.progress.bad_epochs
        return stopping is not None and bad > 0 and bad >= stopping.patience

    def _checkpoint(self, improved: bool) -> None:
        if self.run_dir is None:
            return
        raw = self.model.module if self.world.distributed else self.model
        p = self.progress
        state = {
            "studio_version": __version__,
            "project": self.project.to_dict(),
            "model": raw.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng_state(),
            "generator": self.generator.get_state(),  # for the next epoch to draw
            "progress": {
                "epoch": p.epoch,
                "step": p.step,
                "batches_done": p.batches_done,
                "best": p.best,
                "bad_epochs": p.bad_epochs,
                "partial": p.partial,
            },
            "preprocessing": self.preprocessing,
            "base_dir": self.base_dir,
        }
        for name in ("last.pt", "best.pt") if improved else ("last.pt",):
            path = self.run_dir / "checkpoints" / name
            save_checkpoint(path, state)
            self.emit(
                {
                    "event": "checkpoint",
                    "epoch": p.epoch,
                    "path": str(path),
                    "best": name == "best.pt",
                }
            )

    def _save_weights(self, model: nn.Module) -> None:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        metadata = {
            "project": self.project.to_json(),
            "classes": "\n".join(self.dataset.classes),
            "preprocessing": json.dumps(self.preprocessing),
            "base_dir": self.base_dir,
        }
        payload = save(tensors, metadata=metadata)
        atomic_save(self.run_dir / "model.safetensors", lambda handle: handle.write(payload))

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


class _Window:
    """Per-step results kept on the device until the next report: one host sync per report."""

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self.predictions: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def add(
        self, loss: torch.Tensor, size: int, predictions: torch.Tensor | None, y: torch.Tensor
    ) -> None:
        self.losses.append(loss)
        self.sizes.append(size)
        if predictions is not None:
            self.predictions.append(predictions)
            self.targets.append(y)

    def flush_into(self, totals: list[float], last_step: int) -> int | None:
        """Add the window to (loss sum, correct, count); the first non-finite step, if any."""
        if not self.losses:
            return None
        losses = torch.stack(self.losses).double().cpu()
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            return last_step - len(self.losses) + 1 + int((~finite).nonzero()[0])
        sizes = torch.tensor(self.sizes, dtype=torch.float64)
        totals[0] += float((losses * sizes).sum())
        totals[2] += float(sizes.sum())
        if self.predictions:
            totals[1] += float((torch.cat(self.predictions) == torch.cat(self.targets)).sum())
        for kept in (self.losses, self.sizes, self.predictions, self.targets):
            kept.clear()
        return None


def checkpoint_project(path: str | Path) -> Project:
    """The project a checkpoint was trained from."""
    return parse_project(load_checkpoint(path)["project"])


def _fits(dataset: Dataset, device: torch.device) -> bool:
    """Whether the whole dataset can live on the device, leaving room for the model to train."""
    if device.type != "cuda":
        return True  # CPU and MPS share host memory
    needed = sum(
        s.x.numel() * s.x.element_size() if isinstance(s.x, torch.Tensor) else 0
        for s in (dataset.train, dataset.val, dataset.test)
        if s is not None
    )
    free, _ = torch.cuda.mem_get_info(device)
    return needed * 3 < free


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _output_shape(model: nn.Module, dataset: Dataset, device: torch.device) -> list[int]:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        sample = dataset.prepare(dataset.train.x[:2]) if len(dataset.train) >= 2 else None
        if sample is None:
            raise DataError(f"{dataset.source}: too few training samples")
        out = model(sample.to(device))
    model.train(was_training)
    return list(out.shape[1:])
