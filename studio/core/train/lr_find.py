"""The learning-rate range test (Leslie Smith, 2015; fastai's `lr_find`, torch-lr-finder): train
for up to 100 steps while the learning rate grows exponentially from 1e-7 to 10, stop once the
smoothed loss passes 4x its best, put the weights and the optimizer back, and suggest a rate.

The suggestion is fastai's "valley": the longest run of falling losses, half way
down it (fastai found it the most reliable of its rules); the rate at the lowest loss divided by
ten, the older rule, is given too. Steps go through the run's own `Trainer.step`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from studio.core.project.spec import Project
from studio.core.train.control import TrainControl
from studio.core.train.engine import Trainer
from studio.core.train.setup import Setup

START_LR, END_LR, STEPS = 1e-7, 10.0, 100
DIVERGED = 4.0  # stop once the smoothed loss passes this many times its best
BETA = 0.98  # smoothing of the loss (fastai's Recorder)


@dataclass
class LrFind:
    suggestion: float | None  # the valley rule's rate
    min_over_10: float | None  # the rate at the lowest smoothed loss, divided by ten
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # smoothed, one per step taken
    current: float | None = None  # the project's learning rate now
    stopped_early: bool = False  # the loss diverged before the last step
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestion": self.suggestion,
            "min_over_10": self.min_over_10,
            "lrs": self.lrs,
            "losses": self.losses,
            "current": self.current,
            "stopped_early": self.stopped_early,
            "message": self.message,
        }


def lr_find(
    project: Project,
    base_dir: str | Path | None = None,
    steps: int = STEPS,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> LrFind:
    """The range test on `project`'s model, data, loss and optimizer (see the module)."""
    from studio.core.train.loop import prepare

    setup, _ = prepare(project, base_dir)
    return range_test(setup, project, steps, progress, cancelled)


def range_test(
    setup: Setup,
    project: Project,
    steps: int = STEPS,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> LrFind:
    model, optimizer = setup.raw_model, setup.optimizer
    weights = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(optimizer.state_dict())
    generator = setup.generator.get_state()
    factors = [group["lr"] / optimizer.param_groups[0]["lr"] for group in optimizer.param_groups]
    current = float(project.training.optimizer.args.get("lr", optimizer.param_groups[0]["lr"]))
    trainer = Trainer(
        replace(setup, scheduler=None, per_batch_scheduler=False),
        TrainControl(),
        epochs=1,
        emit=lambda event: None,
    )
    lrs, losses = [], []
    average, best, stopped = 0.0, math.inf, False
    try:
        batches = _forever(setup)
        for i in range(steps):
            if cancelled():
                break
            lr = START_LR * (END_LR / START_LR) ** (i / (steps - 1))
            for group, factor in zip(optimizer.param_groups, factors, strict=True):
                group["lr"] = lr * factor
            loss = float(trainer.step(*next(batches))[0])
            average = BETA * average + (1 - BETA) * loss
            smoothed = average / (1 - BETA ** (i + 1))
            if not math.isfinite(smoothed):
                stopped = True
                break
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if progress is not None:
                progress(i + 1, steps)
            if smoothed > DIVERGED * best:
                stopped = True
                break
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(state)
        setup.generator.set_state(generator)
    suggestion = valley(lrs, losses)
    low = min(range(len(losses)), key=losses.__getitem__) if losses else None
    result = LrFind(
        suggestion=suggestion,
        min_over_10=lrs[low] / 10 if low is not None else None,
        lrs=lrs,
        losses=losses,
        current=current,
        stopped_early=stopped,
    )
    result.message = _message(result)
    return result


def _forever(setup: Setup) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches, epoch after epoch (a small dataset has fewer than 100 batches)."""
    while True:
        empty = True
        for batch in setup.train_batches.epoch():
            empty = False
            yield batch
        if empty:
            return


def valley(lrs: list[float], losses: list[float]) -> float | None:
    """fastai's valley rule: within the steps that count (the first tenth and the last five are
    left out, as fastai does), the longest falling run of losses; the rate half way down it
    (a third of its length, and half a third again, as fastai's `valley` takes it)."""
    n = len(losses)
    start, end = n // 10, n - 5
    if end - start < 3:
        return None
    lrs, losses = lrs[start:end], losses[start:end]
    n = len(losses)
    run = [1] * n  # the longest falling subsequence ending at each point
    best_start = best_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
        if run[best_end] < run[i]:
            best_end = i
            best_start = best_end - run[best_end]
    sections = (best_end - best_start) / 3
    return float(lrs[best_start + int(sections) + int(sections / 2)])


def _message(result: LrFind) -> str:
    if result.suggestion is None:
        return (
            f"the loss diverged after {len(result.losses)} steps, too soon to suggest a rate: "
            "check the data and the model first (studio check)"
        )
    said = f"suggested learning rate {result.suggestion:.2e} (the valley)"
    if result.min_over_10 is not None:
        said += f"; the minimum/10 rule gives {result.min_over_10:.2e}"
    if result.current is not None:
        said += f"; the project uses {result.current:.2e}"
    return said
